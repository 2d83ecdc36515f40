"""The runner: samples -> (resume) -> batches of requests -> adapter -> records -> metrics -> result.

It owns batching, caching (the per-sample records), progress and timing. Tasks and adapters only
see the small types of `janus_eval.api`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence, TypeVar

from tqdm import tqdm

import janus_eval
from janus_eval.api import (
    ImageOutput,
    ModelAdapter,
    ModelSpec,
    Output,
    Request,
    Sample,
    SampleError,
    Task,
    TaskOptions,
    TextOutput,
)
from janus_eval.data_loading import DataMode, LoadedData, load_task_data
from janus_eval.distributed import DistContext, init_from_env
from janus_eval.errors import UserError
from janus_eval.hashing import file_sha256, hash_json
from janus_eval.image_io import decode_image
from janus_eval.leaderboard import write_leaderboard
from janus_eval.manifest import git_commit, package_versions, peak_rss_bytes, platform_info
from janus_eval.records import SAMPLE_SCHEMA, RecordStore, SampleRecord, metric_over
from janus_eval.registry import MODELS, TASKS
from janus_eval.results import (
    Headline,
    Manifest,
    Published,
    SampleCounts,
    TaskResult,
    read_result,
    result_path,
    write_result,
)

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
    return tasks


def build_adapter(spec: ModelSpec) -> ModelAdapter:
    _, adapter_cls = MODELS.resolve(spec.name)
    return adapter_cls.from_spec(spec)


def evaluate(config: RunConfig, adapter: ModelAdapter | None = None) -> list[TaskResult]:
    """Runs every task of `config`, writes the result files and rebuilds the leaderboard.

    Under torchrun every process runs this; samples are sharded by rank and rank 0 writes the
    results (the other ranks return an empty list).
    """
    tasks = build_tasks(config)
    if config.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if config.limit is not None and config.limit < 1:
        raise UserError("--limit must be at least 1")
    if not tasks:
        raise UserError("no task given (see --list-tasks)")
    _check_writable(config.output_dir)
    context = init_from_env()
    adapter_cls = type(adapter) if adapter is not None else MODELS.resolve(config.model.name)[1]
    for task in tasks:
        if task.request_kind not in adapter_cls.supports:
            raise UserError(
                f"model {config.model.name!r} ({adapter_cls.name}) cannot run task {task.name!r}: it needs "
                f"{task.request_kind} generation, the adapter supports {', '.join(sorted(adapter_cls.supports))}"
            )
    # data first: a missing dataset should not cost the minutes of loading a 7B model
    data = {task.name: load_task_data(task, config.data_mode, config.data_dir) for task in tasks}
    for task in tasks:  # scorer models too (detector, CLIP): missing weights fail before the model loads
        task.scorer_info()
    if adapter is None:
        spec = config.model
        if context.world_size > 1 and spec.device in ("auto", "cuda"):
            import torch

            if torch.cuda.is_available():  # one GPU per process
                spec = replace(spec, device=f"cuda:{context.local_rank}")
        adapter = build_adapter(spec)
    if context.is_main:
        for task in tasks:
            _check_label_owner(result_path(config.output_dir, adapter.label, task.name), adapter)
    results = []
    for task in tasks:
        result = run_task(task, adapter, config, context, data[task.name])
        if result is not None:
            write_result(result, result_path(config.output_dir, adapter.label, task.name))
            results.append(result)
    if context.is_main:
        write_leaderboard(config.output_dir)
    return results


def _check_writable(output_dir: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".janus-eval-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to --output-dir {output_dir}: {exc.strerror or exc}") from None


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


def _without_prose(card: Any) -> Any:
    """The protocol card minus its free-text `notes` and `deviations`: rewording them changes no output."""
    if isinstance(card, dict):
        return {k: _without_prose(v) for k, v in card.items() if k not in ("notes", "deviations")}
    if isinstance(card, list):
        return [_without_prose(v) for v in card]
    return card


def config_hash(task: Task, adapter: ModelAdapter, data: LoadedData, seed: int) -> str:
    """Hash of everything that determines a sample's output and score (not --limit or --batch-size)."""
    return hash_json(
        {
            "records": SAMPLE_SCHEMA,
            "janus_eval": janus_eval.__version__,
            "task": task.name,
            "options": task.options.model_dump(mode="json"),
            "protocol": _without_prose(task.protocol_card()),
            "scorers": task.scorer_info(),
            "data": {"origin": data.origin, "fingerprint": data.fingerprint},
            "model": {**adapter.identity(), **adapter.task_identity(task.name)},
            # greedy text does not depend on the seed; image seeds derive from it
            "seed": seed if task.request_kind == "image" else None,
        }
    )


def generation_hash(task: Task, adapter: ModelAdapter, data: LoadedData, seed: int) -> str:
    """Hash of what, besides the request itself, determines an output: model, data, seed (image tasks).

    A record with this hash and an equal request (`log_view`) holds the output the model would give now,
    whatever scoring configuration it was recorded under.
    """
    return hash_json(
        {
            "records": SAMPLE_SCHEMA,
            "janus_eval": janus_eval.__version__,
            "task": task.name,
            "data": {"origin": data.origin, "fingerprint": data.fingerprint},
            "model": {**adapter.identity(), **adapter.task_identity(task.name)},
            "seed": seed if task.request_kind == "image" else None,
        }
    )


def changed_options(task: Task, include_comparable: bool = True) -> dict[str, Any]:
    """The task's options that differ from their defaults (optionally without those the published numbers allow)."""
    defaults = task.Options().model_dump(mode="json")
    return {
        k: v
        for k, v in task.options.model_dump(mode="json").items()
        if v != defaults.get(k) and (include_comparable or k not in task.comparable_options)
    }


def comparability_notes(task: Task, limit: int | None, headline: float | None, failed: int = 0) -> list[str]:
    """Why this run's headline cannot be set against the published number (empty when it can)."""
    notes = []
    if task.demo:
        notes.append("--data demo: the built-in demo rows, not the benchmark")
    if limit is not None:
        notes.append(f"--limit {limit}: a subset of the benchmark")
    changed = changed_options(task, include_comparable=False)
    if changed:
        notes.append("options differ from the published protocol: " + ", ".join(f"{k}={v}" for k, v in changed.items()))
    if failed:
        notes.append(f"{failed} sample(s) failed")
    if headline is None:
        notes.append(f"no {task.headline} on these samples")
    return notes


def _output_to_json(output: Output, sample: Sample, images_dir: Path, task: Task) -> tuple[Any, list[str] | None]:
    """Text stays text; images are saved as PNG in GenEval's folder layout and recorded by relative path
    (with the sha256 of each file)."""
    if isinstance(output, TextOutput):
        return output.text, None
    if isinstance(output, ImageOutput):
        folder = images_dir / f"{sample.index:05d}" / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in task.image_folder_files(sample).items():
            (folder.parent / name).write_text(text, encoding="utf-8")
        paths, digests = [], []
        for number, image in enumerate(output.images):
            path = folder / f"{number:05d}.png"
            image.save(path, format="PNG")
            paths.append(str(path.relative_to(images_dir.parent)))
            digests.append(file_sha256(path))
        for stale in folder.glob("*.png"):  # an earlier attempt's extra images must not be scored with these
            if str(stale.relative_to(images_dir.parent)) not in paths:
                stale.unlink()
        return paths, digests
    raise TypeError(f"unknown output type {type(output).__name__}")


IMAGES_MARKER = ".janus-eval-images.json"


def claim_images_dir(images_dir: Path, key: str) -> None:
    """Makes `images_dir` hold only images of the generation configuration `key`.

    The folder is GenEval's official layout, which an evaluator scores as a whole: images of another
    configuration (model, data, seed or generation options) are moved aside to `<dir>.<key12>`, and
    moved back when that configuration runs again, so its recorded outputs stay valid.
    """
    marker = images_dir / IMAGES_MARKER
    current = None
    if marker.is_file():
        try:
            current = json.loads(marker.read_text(encoding="utf-8")).get("key")
        except (OSError, ValueError):
            current = None
    if current == key:
        return
    if images_dir.exists() and any(images_dir.iterdir()):
        aside = images_dir.with_name(f"{images_dir.name}.{(current or 'unmarked')[:12]}")
        counter = 1
        while aside.exists():
            aside = images_dir.with_name(f"{images_dir.name}.{(current or 'unmarked')[:12]}.{counter}")
            counter += 1
        images_dir.rename(aside)
        log.info("moved the images of another generation configuration aside to %s", aside)
    earlier = images_dir.with_name(f"{images_dir.name}.{key[:12]}")
    if earlier.is_dir() and not images_dir.exists():
        earlier.rename(images_dir)
    images_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"key": key}) + "\n", encoding="utf-8")


def _recorded_output(record: SampleRecord, request: Request, model_dir: Path) -> Output | None:
    """The output of an earlier record, if it answered exactly this request and (images) its files are intact."""
    if record.request != request.log_view():
        return None
    if request.kind == "text":
        return TextOutput(record.output) if isinstance(record.output, str) else None
    paths = record.output
    if not isinstance(paths, list) or record.output_sha256 is None or len(record.output_sha256) != len(paths):
        return None
    images = []
    for relative, digest in zip(paths, record.output_sha256):
        path = model_dir / relative
        if not path.is_file() or file_sha256(path) != digest:
            return None  # overwritten by another generation configuration since
        try:
            images.append(decode_image(str(path), what=f"saved image {path}"))
        except SampleError:
            return None
    return ImageOutput(images)


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
    todo = [s for s in samples if s.id not in records or records[s.id].failed]
    resumed = len(samples) - len(todo)
    todo = todo[context.rank :: context.world_size]
    # outputs recorded under another scoring configuration: scored again instead of generated again
    earlier = store.reusable_outputs(generation_digest) if config.resume and todo else {}
    generation_seconds, generated, rescored = 0.0, 0, 0

    def record(
        sample: Sample,
        output: Output | None,
        request: Request | None,
        error: str | None,
        seconds: float,
        score: dict[str, Any],
        source: SampleRecord | None = None,
    ) -> None:
        if source is not None:  # the earlier record's files stay where they are
            saved, digests = source.output, source.output_sha256
        elif output is not None:
            saved, digests = _output_to_json(output, sample, images_dir, task)
        else:
            saved, digests = None, None
        entry = SampleRecord(
            config_hash=digest,
            generation_hash=generation_digest,
            task=task.name,
            id=sample.id,
            row=sample.index,
            target=sample.target,
            meta=sample.meta,
            request=request.log_view() if request is not None else None,
            output=saved,
            output_sha256=digests,
            score=score,
            failed=output is None,
            error=error,
            seconds=seconds,
            rank=context.rank,
            rescored=source is not None,
        )
        store.append(entry)
        records[sample.id] = entry

    if resumed and context.is_main:
        log.info("%s: %d of %d samples already recorded, resuming", task.name, resumed, len(samples))
    show_progress = config.show_progress and context.is_main
    with store, tqdm(total=len(todo), desc=f"{task.name} [{adapter.label}]", unit="sample", disable=not show_progress) as bar:
        for window in chunks(todo, config.batch_size * WINDOW_BATCHES):
            built: list[tuple[Sample, Request]] = []
            again: list[tuple[Sample, Request, Output, SampleRecord]] = []
            for sample in window:
                try:
                    request = task.build_request(sample)
                except SampleError as exc:
                    record(sample, None, None, str(exc), 0.0, task.score(sample, None))
                    generated += 1
                    bar.update(1)
                    continue
                source = earlier.get(sample.id)
                output = _recorded_output(source, request, model_dir) if source is not None else None
                if source is not None and output is not None:
                    again.append((sample, request, output, source))
                else:
                    built.append((sample, request))
            for batch_again in chunks(again, config.batch_size):
                scores = task.score_batch([item[0] for item in batch_again], [item[2] for item in batch_again])
                for (sample, request, output, source), score in zip(batch_again, scores):
                    record(sample, output, request, None, source.seconds or 0.0, score, source)
                rescored += len(batch_again)
                bar.update(len(batch_again))
            # longest first: a batch that does not fit in memory fails at the start, not after hours
            built.sort(key=lambda pair: pair[1].length_hint, reverse=True)
            for batch in chunks(built, config.batch_size):
                tick = time.perf_counter()
                outputs = _generate(adapter, [request for _, request in batch])
                seconds = time.perf_counter() - tick
                generation_seconds += seconds
                scores = task.score_batch([sample for sample, _ in batch], outputs)
                for (sample, request), output, score in zip(batch, outputs, scores):
                    record(sample, output, request, None, seconds / len(batch), score)
                generated += len(batch)
                bar.update(len(batch))

    stats = context.gather((generated, generation_seconds, adapter.peak_memory_bytes(), peak_rss_bytes(), rescored))
    context.barrier()  # every rank has closed its records file
    if not context.is_main:
        return None
    store.consolidate()
    records = store.read()
    generated = sum(s[0] for s in stats)
    rescored = sum(s[4] for s in stats)
    generation_seconds = max(s[1] for s in stats)
    accelerator_peaks = [s[2] for s in stats if s[2] is not None]

    metrics = metric_over(task, samples, records).compute()
    failed = sum(records[s.id].failed for s in samples)
    headline_value = metrics.get(task.headline)
    published = None
    notes: list[str] = []
    key = adapter.reference_key
    reference = task.published_numbers()
    if key is not None and key not in reference and key in task.published:
        changed = ", ".join(f"{k}={v}" for k, v in changed_options(task).items()) or "demo rows"
        notes.append(
            f"the published {task.headline} of {key} ({task.published[key]:g}) does not apply under these "
            f"options ({changed}): they measure something else"
        )
    if key is not None and key in reference:
        notes = comparability_notes(task, config.limit, headline_value, failed)
        if notes:
            notes.insert(0, f"not compared with the published {task.headline} of {key} ({reference[key]:g})")
        else:
            assert headline_value is not None
            value = reference[key]
            published = Published(
                model=key, value=value, delta=round(headline_value - value, 6), source=task.published_source
            )
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
        protocol=task.protocol_card(),
        scorers=task.scorer_info(),
        notes=notes,
        options=task.options.model_dump(mode="json"),
        model_identity=identity,
        data={**data.describe(), "source": task.data_source().describe()},
        counts=SampleCounts(
            total=len(samples),
            scored=len(samples) - failed,
            failed=failed,
            generated=generated,
            reused=len(samples) - generated - rescored,
            rescored=rescored,
        ),
        samples_file=str(samples_path.relative_to(config.output_dir)),
        images_dir=str(images_dir.relative_to(config.output_dir)) if task.request_kind == "image" else None,
        manifest=Manifest(
            config_hash=digest,
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
            peak_rss_bytes=max(s[3] for s in stats),
            world_size=context.world_size,
        ),
    )


__all__ = ["RunConfig", "evaluate", "run_task", "build_tasks", "build_adapter", "TaskOptions"]
