"""The runner: samples -> (resume) -> batches of requests -> adapter -> records -> metrics -> result.

`run_task` reads as three steps: `plan_task` (samples, record keys, what is left to do), `execute`
(rescore recorded outputs, generate and score the rest, record each sample) and `assemble_result`.
It owns batching, caching (the per-sample records), progress and timing. Tasks and adapters only
see the small types of `janus_eval.api`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence, TypeVar

from tqdm import tqdm

from janus_eval.api import (
    JudgeSettings,
    ModelAdapter,
    ModelSpec,
    Output,
    Request,
    Sample,
    SampleError,
    Task,
    TaskOptions,
)
from janus_eval.data.file_writes import writing
from janus_eval.data.hashing import hash_json
from janus_eval.data.loading import DataMode, LoadedData, load_task_data
from janus_eval.data.sidecars import sidecars_intact, write_sidecars
from janus_eval.engine.config_hash import config_hash, generation_hash
from janus_eval.engine.distributed import DistContext, init_from_env
from janus_eval.engine.failures import (
    NOT_SAMPLE_FAILURES,
    BatchLimit,
    FailureBudget,
    error_info,
    run_halving,
)
from janus_eval.engine.image_folder import claim_images_dir, recorded_output, save_output
from janus_eval.engine.locks import task_locks
from janus_eval.engine.manifest import git_commit, package_versions, peak_rss_bytes, platform_info
from janus_eval.engine.overlap import BatchFinisher
from janus_eval.engine.preflight import Command, check_available
from janus_eval.engine.record_store import RecordStore
from janus_eval.errors import UserError, interrupted
from janus_eval.registry import MODELS, TASKS
from janus_eval.reports.leaderboard import write_leaderboard
from janus_eval.reports.published import compare_with_paper
from janus_eval.reports.results import (
    Headline,
    Manifest,
    SampleCounts,
    TaskResult,
    read_result,
    result_path,
    write_result,
)
from janus_eval.reports.sample_records import ErrorInfo, SampleRecord, metric_over

log = logging.getLogger(__name__)

T = TypeVar("T")

# requests are built (images decoded) one window of this many batches at a time, then sorted by length
WINDOW_BATCHES = 16


@dataclass
class RunConfig:
    """Everything a run was asked to do (built by the CLI or by a caller of `evaluate`)."""

    model: ModelSpec
    tasks: list[str]
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_mode: DataMode = "hub"
    data_dir: Path | None = None
    limit: int | None = None
    batch_size: int = 8
    output_dir: Path = Path("results")
    seed: int = 0
    resume: bool = True
    show_progress: bool = True
    command: list[str] = field(default_factory=list)
    # --max-failed: stop a task once more samples failed than this count (>= 1) or fraction (< 1); None: never
    max_failed: float | None = None
    # the LLM judge of the tasks that grade with one (MM-Vet); None: those tasks record ungraded answers
    judge: JudgeSettings | None = None


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def build_tasks(config: RunConfig) -> list[Task]:
    """Instantiates the requested tasks with validated typed options (UserError on a bad option)."""
    from pydantic import ValidationError

    unknown = set(config.task_options) - set(config.tasks)
    if unknown:
        raise UserError(f"options given for task(s) not in --tasks: {', '.join(sorted(unknown))}")
    tasks = []
    for name in config.tasks:
        task_cls = TASKS.get(name)
        try:
            options = task_cls.Options.model_validate(config.task_options.get(name, {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}" for err in exc.errors()
            )
            raise UserError(f"bad option for task {name!r}: {problems}") from None
        tasks.append(task_cls(options, seed=config.seed, demo=config.data_mode == "demo"))
    attach_judge(tasks, config.judge)
    return tasks


def attach_judge(tasks: Sequence[Task], settings: JudgeSettings | None) -> None:
    """Gives every task the run's judge settings (only the tasks that grade with a judge read them)."""
    for task in tasks:
        task.judge_settings = settings


def build_adapter(spec: ModelSpec) -> ModelAdapter:
    _, adapter_cls = MODELS.resolve(spec.name)
    return adapter_cls.from_spec(spec)


def evaluate(config: RunConfig, adapter: ModelAdapter | None = None) -> list[TaskResult]:
    """Runs every task of `config`, writes the result files and rebuilds the leaderboard.

    Under torchrun every process runs this; samples are sharded by rank and rank 0 writes the
    results (the other ranks return an empty list). The adapter loads its weights only when a task has
    something to generate.
    """
    tasks = build_tasks(config)
    if config.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if config.limit is not None and config.limit < 1:
        raise UserError("--limit must be at least 1")
    if not tasks:
        raise UserError("no task given (see --list-tasks)")
    FailureBudget(config.max_failed)  # checks the value
    _check_writable(config.output_dir)
    context = init_from_env()
    adapter_cls = type(adapter) if adapter is not None else MODELS.resolve(config.model.name)[1]
    for task in tasks:
        if task.request_kind not in adapter_cls.supports:
            raise UserError(
                f"model {config.model.name!r} ({adapter_cls.name}) cannot run task {task.name!r}: it needs "
                f"{task.request_kind} generation, the adapter supports {', '.join(sorted(adapter_cls.supports))}"
            )
    # everything the command needs from outside, at once: one probe of the Hub; offline, one message for all
    check_available(
        Command(config.model, tasks, adapter_cls if adapter is None else ModelAdapter, config.data_mode,
                config.data_dir, config.command[1:])
    )  # fmt: skip
    # data first: a missing dataset should not wait behind the model's files
    data = {task.name: load_task_data(task, config.data_mode, config.data_dir) for task in tasks}
    if adapter is None:
        spec = config.model
        if context.world_size > 1 and spec.device in ("auto", "cuda"):
            import torch

            if torch.cuda.is_available():  # one GPU per process
                spec = replace(spec, device=f"cuda:{context.local_rank}")
        adapter = build_adapter(spec)  # cheap: the weights load when something must be generated
    check_label(adapter.label)
    if context.is_main:
        for task in tasks:
            _check_label_owner(result_path(config.output_dir, adapter.label, task.name), adapter)
    results = []
    # one run at a time per output folder, model label and task (a second run is refused before any record)
    with task_locks(config.output_dir, adapter.label, [task.name for task in tasks], context, config.command):
        for task in tasks:  # scorer models (detector, CLIP): missing weights fail before the model is touched
            task.scorer_info()
        for task in tasks:
            result = run_task(task, adapter, config, context, data[task.name])
            if result is not None:
                write_result(result, result_path(config.output_dir, adapter.label, task.name))
                results.append(result)
    if context.is_main:
        write_leaderboard(config.output_dir)
    return results


def check_label(label: str) -> None:
    """A model label names one folder inside --output-dir: one plain path component, nothing that climbs out."""
    if (
        not label
        or label in (".", "..")
        or label != label.strip()
        or any(sep in label for sep in ("/", "\\", "\x00"))
        or label.startswith(".")
    ):
        raise UserError(
            f"model label {label!r} is not a plain folder name (no '/', no leading '.', not empty): "
            "pass --model-args label=NAME with letters, digits, '-', '_' or '.'"
        )


def _check_writable(output_dir: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".janus-eval-write-test-{os.getpid()}"
        with writing("a test file", probe):
            probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to --output-dir {output_dir}: {exc.strerror or exc}") from None


def protocol_with_model(card: dict[str, Any], model_card: dict[str, Any]) -> dict[str, Any]:
    """The task's protocol card, with the adapter's model-side settings under `model` when it has any."""
    return {**card, "model": model_card} if model_card else card


def _owner(identity: dict[str, Any]) -> tuple[Any, Any]:
    return identity.get("adapter"), identity.get("model")


def _check_label_owner(path: Path, adapter: ModelAdapter) -> None:
    """Refuses to overwrite another model's results that happen to share this label (e.g. two `.../hf` folders).

    Replays (`predictions`) name no model and may reuse a label freely."""
    if not path.is_file():
        return
    try:
        existing = read_result(path)
    except (OSError, ValueError):
        return
    current = _owner(adapter.identity())
    if current[1] is not None and _owner(existing.model_identity) != current:
        raise UserError(
            f"{path.parent} already holds results of another model ({_owner(existing.model_identity)[1]}); "
            "pass --model-args label=NAME to keep both"
        )


def _generate(adapter: ModelAdapter, requests: list[Request]) -> list[Output]:
    kind = requests[0].kind
    outputs: list[Output]
    if kind == "text":
        outputs = list(adapter.generate_text(requests))  # type: ignore[arg-type]
    else:
        outputs = list(adapter.generate_images(requests))  # type: ignore[arg-type]
    if len(outputs) != len(requests):
        raise RuntimeError(f"{adapter.name} returned {len(outputs)} outputs for {len(requests)} requests")
    return outputs


@dataclass
class TaskPlan:
    """What a task's run has to do on this process: its samples, record keys, record store and paths."""

    task: Task
    data: LoadedData
    samples: list[Sample]  # every sample of the run (after --limit)
    todo: list[Sample]  # this rank's samples without a successful record
    resumed: int  # samples already recorded before this run
    digest: str  # config hash
    generation_digest: str
    store: RecordStore
    model_dir: Path
    samples_path: Path
    images_dir: Path


@dataclass
class ExecutionStats:
    generated: int = 0
    rescored: int = 0
    failed: int = 0
    generation_seconds: float = 0.0
    out_of_memory_errors: int = 0
    effective_batch_size: int | None = None  # the batch size in effect at the end, when an OOM lowered it


def run_task(
    task: Task,
    adapter: ModelAdapter,
    config: RunConfig,
    context: DistContext | None = None,
    data: LoadedData | None = None,
) -> TaskResult | None:
    """Runs one task to completion (resuming from its records); returns its result on rank 0."""
    context = context if context is not None else DistContext()
    started, wall_start = datetime.now(timezone.utc), time.perf_counter()
    if data is None:
        data = load_task_data(task, config.data_mode, config.data_dir)
    plan = plan_task(task, adapter, config, context, data)
    stats = execute(plan, adapter, config, context)
    gathered = context.gather((stats, adapter.peak_memory_bytes(), peak_rss_bytes()))
    context.barrier()  # every rank has closed its records file
    if not context.is_main:
        return None
    return assemble_result(plan, adapter, config, context, gathered, started, wall_start)


def plan_task(task: Task, adapter: ModelAdapter, config: RunConfig, context: DistContext, data: LoadedData) -> TaskPlan:
    """Samples, record keys and the record store; rank 0 merges leftover rank files and moves other
    configurations' records (and images) aside; then each rank takes its share of the unfinished samples."""
    samples = task.samples(data.rows)
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"task {task.name} produced duplicate sample ids")
    if config.limit is not None:
        samples = samples[: config.limit]
    if not samples:
        raise UserError(f"task {task.name!r} has no samples in {data.location} under its options")

    digest = config_hash(task, adapter, data, config.seed)
    generation_digest = generation_hash(task, adapter, data, config.seed)
    model_dir = config.output_dir / adapter.label
    samples_path = model_dir / f"{task.name}.samples.jsonl"
    images_dir = model_dir / f"{task.name}_images"
    store = RecordStore(samples_path, digest, context.rank, context.world_size)
    if context.is_main:
        store.consolidate()  # records left by the ranks of an interrupted data-parallel run
        store.load(config.resume)
        if task.request_kind == "image":
            claim_images_dir(images_dir, hash_json({"generation": generation_digest, "options": task.image_generation_key()}))
    context.barrier()
    records = store.read()
    todo = [
        s for s in samples if s.id not in records or records[s.id].failed or not _sidecars_ok(records[s.id], model_dir)
    ]
    resumed = len(samples) - len(todo)
    if resumed and context.is_main:
        log.info("%s: %d of %d samples already recorded, resuming", task.name, resumed, len(samples))
    return TaskPlan(
        task=task,
        data=data,
        samples=samples,
        todo=todo[context.rank :: context.world_size],
        resumed=resumed,
        digest=digest,
        generation_digest=generation_digest,
        store=store,
        model_dir=model_dir,
        samples_path=samples_path,
        images_dir=images_dir,
    )


def _sidecars_ok(record: SampleRecord, model_dir: Path) -> bool:
    """A record whose score's sidecar arrays (FID features) were lost or changed is done again (rescored
    from its saved image when that is intact)."""
    return sidecars_intact(record.score, model_dir)


class RecordedOutputs:
    """Outputs recorded under another scoring configuration of the same generation: scored again instead of
    generated again (only for a request equal to the recorded one, with its image files intact)."""

    def __init__(self, plan: TaskPlan, enabled: bool) -> None:
        self._model_dir = plan.model_dir
        self._earlier = plan.store.reusable_outputs(plan.generation_digest) if enabled and plan.todo else {}

    def lookup(self, sample: Sample, request: Request) -> tuple[Output, SampleRecord] | None:
        source = self._earlier.get(sample.id)
        if source is None:
            return None
        output = recorded_output(source, request, self._model_dir)
        return (output, source) if output is not None else None


class SampleWriter:
    """Turns a finished sample into its record (saving images in the task's folder) and appends it."""

    def __init__(self, plan: TaskPlan, rank: int) -> None:
        self.plan = plan
        self.rank = rank

    def write(
        self,
        sample: Sample,
        output: Output | None,
        request: Request | None,
        error: ErrorInfo | None,
        seconds: float,
        score: dict[str, Any],
        source: SampleRecord | None = None,
    ) -> None:
        """Records one sample; `error` marks it failed (an output that failed only its scoring is kept, so a
        rerun scores it again without generating it again)."""
        plan = self.plan
        plan.task.Score.model_validate(score)  # a score of another shape than the task declares is a program error
        if source is not None:  # the earlier record's files stay where they are
            saved, digests = source.output, source.output_sha256
        elif output is not None:
            saved, digests = save_output(output, sample, plan.images_dir, plan.task)
        else:
            saved, digests = None, None
        # score arrays (FID features) go to binary files beside the sample's images, referenced by sha256
        score = write_sidecars(score, plan.images_dir / f"{sample.index:05d}", plan.digest[:12], plan.model_dir)
        plan.store.append(
            SampleRecord(
                config_hash=plan.digest,
                generation_hash=plan.generation_digest,
                task=plan.task.name,
                id=sample.id,
                row=sample.index,
                target=sample.target,
                meta=sample.meta,
                request=request.log_view() if request is not None else None,
                output=saved,
                output_sha256=digests,
                score=score,
                failed=output is None or error is not None,
                error=error,
                seconds=seconds,
                rank=self.rank,
                rescored=source is not None,
            )
        )


def execute(plan: TaskPlan, adapter: ModelAdapter, config: RunConfig, context: DistContext) -> ExecutionStats:
    """Builds this rank's requests window by window; rescores what earlier records answered, generates the
    rest in length-sorted batches, scores and records every sample as its batch finishes.

    A batch that raises is retried in halves; a request that fails alone, or an output whose scoring fails,
    is recorded as a failed sample with its error, and the run goes on (up to `--max-failed`). Scoring and
    recording run on one worker thread (`BatchFinisher`, in submission order) while the next batch generates:
    scorer models and PNG encoding do not leave the generator idle, and every record is written by that thread.
    """
    task, stats = plan.task, ExecutionStats()
    recorded = RecordedOutputs(plan, config.resume)
    writer = SampleWriter(plan, context.rank)
    budget = FailureBudget(config.max_failed)
    limit = BatchLimit(config.batch_size)
    first_error: list[ErrorInfo] = []

    def finish(sample: Sample, output: Output | None, request: Request | None, result: dict[str, Any] | ErrorInfo,
               seconds: float, source: SampleRecord | None = None) -> None:
        if isinstance(result, ErrorInfo):
            writer.write(sample, output, request, result, seconds, task.score(sample, None), source)
            stats.failed += 1
            first_error[:] = first_error or [result]
            budget.check(task.name, stats.failed, len(plan.samples), first_error[0])
        else:
            writer.write(sample, output, request, None, seconds, result, source)
        bar.update(1)

    def scored(samples: Sequence[Sample], outputs: Sequence[Output]) -> list[dict[str, Any] | ErrorInfo]:
        """The batch's scores; when the batch scorer raises, each sample alone (its own error recorded)."""
        try:
            return list(task.score_batch(samples, outputs))
        except NOT_SAMPLE_FAILURES:
            raise
        except Exception:
            results: list[dict[str, Any] | ErrorInfo] = []
            for sample, output in zip(samples, outputs):
                try:
                    results.append(task.score(sample, output))
                except NOT_SAMPLE_FAILURES:
                    raise
                except Exception as exc:
                    results.append(error_info(exc, "scoring"))
            return results

    def rescore(batch: Sequence[tuple[Sample, Request, Output, SampleRecord]]) -> None:
        scores = scored([item[0] for item in batch], [item[2] for item in batch])
        for (sample, request, output, source), result in zip(batch, scores):
            finish(sample, output, request, result, source.seconds or 0.0, source)
        stats.rescored += len(batch)

    def score_generated(part: Sequence[tuple[Sample, Request]], outputs: list[Output], seconds: float) -> None:
        try:
            scores = scored([sample for sample, _ in part], outputs)
        except UserError as exc:  # e.g. the judge refused the key: the outputs stay for the rerun
            unscored = ErrorInfo(stage="scoring", type=type(exc).__name__, message=f"not scored: {exc}")
            for (sample, request), output in zip(part, outputs):
                writer.write(sample, output, request, unscored, seconds / len(part), task.score(sample, None))
            raise
        for (sample, request), output, score in zip(part, outputs, scores):
            finish(sample, output, request, score, seconds / len(part))

    show_progress = config.show_progress and context.is_main
    bar = tqdm(total=len(plan.todo), desc=f"{task.name} [{adapter.label}]", unit="sample", disable=not show_progress)
    with plan.store, bar, BatchFinisher() as finisher:
        for window in chunks(plan.todo, config.batch_size * WINDOW_BATCHES):
            built: list[tuple[Sample, Request]] = []
            again: list[tuple[Sample, Request, Output, SampleRecord]] = []
            for sample in window:
                try:
                    request = task.build_request(sample)
                except SampleError as exc:
                    stats.generated += 1
                    finisher.submit(finish, sample, None, None, error_info(exc, "request"), 0.0)
                    continue
                found = recorded.lookup(sample, request)
                if found is not None:
                    again.append((sample, request, *found))
                else:
                    built.append((sample, request))
            for batch_again in chunks(again, config.batch_size):
                finisher.submit(rescore, batch_again)
            if built:
                adapter.load()  # only now: a rerun or a rescoring never loads the weights
            # longest first: a batch that does not fit in memory fails at the start, not after hours
            built.sort(key=lambda pair: pair[1].length_hint, reverse=True)
            for batch in limit.take(built):
                if interrupted():  # a Ctrl-C swallowed inside a library's finalizer still stops the run here
                    raise KeyboardInterrupt
                for part, result in run_halving(batch, lambda items: _timed_generate(adapter, items), limit, "generation"):
                    if isinstance(result, ErrorInfo):
                        (sample, request), = part
                        stats.generated += 1
                        finisher.submit(finish, sample, None, request, result, 0.0)
                        continue
                    outputs, seconds = result
                    stats.generation_seconds += seconds
                    stats.generated += len(part)
                    finisher.submit(score_generated, part, outputs, seconds)
    stats.out_of_memory_errors = limit.out_of_memory_errors
    stats.effective_batch_size = limit.size if limit.lowered else None
    return stats


def _timed_generate(adapter: ModelAdapter, items: Sequence[tuple[Sample, Request]]) -> tuple[list[Output], float]:
    tick = time.perf_counter()
    outputs = _generate(adapter, [request for _, request in items])
    return outputs, time.perf_counter() - tick


def assemble_result(
    plan: TaskPlan,
    adapter: ModelAdapter,
    config: RunConfig,
    context: DistContext,
    gathered: list[tuple[ExecutionStats, int | None, int]],
    started: datetime,
    wall_start: float,
) -> TaskResult:
    """Rank 0: merges the ranks' records, computes the metrics over every sample and builds the result."""
    task, samples = plan.task, plan.samples
    plan.store.consolidate()
    records = plan.store.read()
    generated = sum(stats.generated for stats, _, _ in gathered)
    rescored = sum(stats.rescored for stats, _, _ in gathered)
    generation_seconds = max(stats.generation_seconds for stats, _, _ in gathered)
    accelerator_peaks = [peak for _, peak, _ in gathered if peak is not None]
    lowered = [stats.effective_batch_size for stats, _, _ in gathered if stats.effective_batch_size is not None]

    metrics = metric_over(task, samples, records, plan.model_dir).compute()
    failed = sum(records[s.id].failed for s in samples)
    scoring_failed = sum(records[s.id].failed and records[s.id].output is not None for s in samples)
    headline_value = metrics.get(task.headline)
    published, notes = compare_with_paper(task, adapter.reference_key, headline_value, config.limit, failed)
    first_failure = next((records[s.id] for s in samples if records[s.id].failed), None)
    if first_failure is not None:
        what = "every sample" if failed == len(samples) else f"{failed} of {len(samples)} samples"
        notes.append(f"{what} failed (first error: {first_failure.error}); see the samples file")
    notes.extend(task.result_notes(metrics))
    identity = adapter.identity()
    finished = datetime.now(timezone.utc)
    return TaskResult(
        task=task.name,
        model=adapter.label,
        metrics=metrics,
        headline=Headline(metric=task.headline, value=headline_value),
        published=published,
        protocol=protocol_with_model(task.protocol_card(), model_protocol(task, adapter)),
        scorers=task.scorer_info(),
        notes=notes,
        options=task.options.model_dump(mode="json"),
        model_identity=identity,
        data={**plan.data.describe(), "source": task.data_source().describe()},
        counts=SampleCounts(
            total=len(samples),
            scored=len(samples) - failed,
            failed=failed,
            generated=generated,
            reused=len(samples) - generated - rescored,
            rescored=rescored,
            scoring_failed=scoring_failed,
        ),
        samples_file=str(plan.samples_path.relative_to(config.output_dir)),
        images_dir=str(plan.images_dir.relative_to(config.output_dir)) if task.request_kind == "image" else None,
        manifest=Manifest(
            config_hash=plan.digest,
            seed=config.seed,
            device=identity.get("device"),
            dtype=identity.get("dtype"),
            batch_size=config.batch_size,
            limit=config.limit,
            command=config.command,
            packages=package_versions(),
            git=git_commit(),
            platform=platform_info(),
            started=started.isoformat(),
            finished=finished.isoformat(),
            wall_seconds=round(time.perf_counter() - wall_start, 3),
            generation_seconds=round(generation_seconds, 3),
            samples_per_second=round(generated / generation_seconds, 3) if generation_seconds > 0 else None,
            peak_accelerator_memory_bytes=max(accelerator_peaks) if accelerator_peaks else None,
            peak_rss_bytes=max(rss for _, _, rss in gathered),
            world_size=context.world_size,
            effective_batch_size=min(lowered) if lowered else None,
            out_of_memory_errors=sum(stats.out_of_memory_errors for stats, _, _ in gathered),
            scoring_usage=task.scoring_usage([records[s.id].score for s in samples]),
        ),
    )


def model_protocol(task: Task, adapter: ModelAdapter) -> dict[str, Any]:
    """The adapter's model-side settings for the result's protocol card, with the prompt template it renders for
    this task's request kind (`prompt`) when it has one; known without loading the weights."""
    settings = dict(adapter.protocol_card())
    template = adapter.prompt_template(task.request_kind)
    if template:
        settings["prompt"] = template
    return settings


__all__ = ["RunConfig", "evaluate", "run_task", "build_tasks", "build_adapter", "TaskOptions"]
