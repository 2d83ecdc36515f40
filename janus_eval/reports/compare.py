"""Regression checks: two runs of a task compared sample by sample, with a paired bootstrap interval.

`janus-eval compare BASE_DIR CANDIDATE_DIR` reads `<task>.json` and `<task>.samples.jsonl` of both
model folders, pairs the samples by id, recomputes the headline on the paired samples with the
task's own metric, and resamples the task's resampling units (the same draw for both runs) to get
a confidence interval for the difference. Both runs must have used the same protocol and data.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from janus_eval.api import Sample, Task
from janus_eval.data.file_writes import OUTPUT_FILE_REMEDY, write_atomically
from janus_eval.data.sidecars import read_sidecars
from janus_eval.errors import ArgumentParser, UserError
from janus_eval.registry import TASKS
from janus_eval.reports.results import TaskResult, read_result
from janus_eval.reports.sample_records import SampleRecord, metric_over, read_records
from janus_eval.rules.counting_metric import CountingMetric, Statistic, Sums


@dataclass
class TaskComparison:
    """The difference of one task's headline between two runs (candidate - base)."""

    task: str
    metric: str
    higher_is_better: bool
    base: float | None
    candidate: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    resamples: int
    paired_samples: int
    resampling_units: int
    improved: int | None
    regressed: int | None
    verdict: str
    warnings: list[str] = field(default_factory=list)


def load_run(model_dir: Path, task: str) -> tuple[TaskResult, dict[str, SampleRecord]]:
    """A task's result in a model folder and the records of the samples it covers (UserError when missing)."""
    path = model_dir / f"{task}.json"
    if not path.is_file():
        raise UserError(f"{path} does not exist: no result of task {task!r} in {model_dir}")
    result = read_result(path)
    samples_path = model_dir.parent / result.samples_file
    latest: dict[str, SampleRecord] = {}
    for record in read_records(samples_path):
        if record.config_hash == result.manifest.config_hash:
            latest[record.id] = record
    # The result covers the first `counts.total` samples in dataset order (--limit is not part of the
    # config hash, so records of a longer earlier run of the same configuration may be there too).
    in_result = sorted(latest.values(), key=lambda r: r.row)[: result.counts.total]
    if len(in_result) < result.counts.total:
        raise UserError(
            f"{samples_path} holds {len(in_result)} records of the run in {path}, which counts {result.counts.total}"
        )
    # scores that keep arrays in sidecar files (FID features) get them read back
    resolved = (r.model_copy(update={"score": read_sidecars(r.score, model_dir, f"sample {r.id}")}) for r in in_result)
    return result, {record.id: record for record in resolved}


def _task_protocol(card: dict[str, Any]) -> dict[str, Any]:
    """The task's own protocol card, without the model-side settings under `model`: two checkpoints (or a replay
    of saved outputs, which has none) are compared on one task protocol; their settings may differ by design."""
    return {key: value for key, value in card.items() if key != "model"}


def _model_settings(card: dict[str, Any]) -> dict[str, Any] | None:
    """The model-side settings of a run (image normalisation, ...), without which checkpoint it was."""
    model = card.get("model")
    return {key: value for key, value in model.items() if key != "provenance"} if isinstance(model, dict) and model else None


def _headline(task: Task, samples: Sequence[Sample], records: dict[str, SampleRecord]) -> float | None:
    value = metric_over(task, samples, records, headline_only=True).compute().get(task.headline)
    return None if value is None else float(value)


class UnitDraws:
    """The headline of one run over bootstrap draws of resampling units, each drawn unit counted as often as
    it is drawn.

    A `CountingMetric` closes each unit into keyless sums, so a draw's sums are the units' sums weighted by
    how often each was drawn (one matrix product per draw). Any other metric is merged unit by unit.
    """

    def __init__(self, task: Task, units: Sequence[Sequence[Sample]], records: Mapping[str, SampleRecord]) -> None:
        self.task = task
        self.metrics = [metric_over(task, group, records, headline_only=True) for group in units]
        self.matrix: np.ndarray | None = None
        if all(isinstance(m, CountingMetric) for m in self.metrics):
            closed = [m.close().sums for m in self.metrics if isinstance(m, CountingMetric)]
            self.statistics: list[Statistic] = sorted({key for sums in closed for key in sums})
            column = {key: position for position, key in enumerate(self.statistics)}
            self.matrix = np.zeros((len(closed), len(self.statistics)))
            for row, sums in enumerate(closed):
                for key, value in sums.items():
                    self.matrix[row, column[key]] = value

    def headline(self, weights: np.ndarray) -> float | None:
        """The headline of the draw in which unit i appears `weights[i]` times."""
        if self.matrix is not None:
            template = self.metrics[0]
            assert isinstance(template, CountingMetric)
            totals = weights @ self.matrix
            sums: Sums = Counter({key: float(v) for key, v in zip(self.statistics, totals) if v})
            value = template.compute_from(sums).get(self.task.headline)
        else:
            merged = self.task.headline_metric()
            for position in np.flatnonzero(weights):
                for _ in range(int(weights[position])):
                    merged.merge(self.metrics[position])
            value = merged.compute().get(self.task.headline)
        return None if value is None else float(value)


def paired_bootstrap(
    task: Task,
    samples: Sequence[Sample],
    base_records: Mapping[str, SampleRecord],
    cand_records: Mapping[str, SampleRecord],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float | None, float | None, int]:
    """A percentile interval of the candidate-minus-base headline over paired, stratified draws of units.

    Units (`task.resampling_unit`) are drawn with replacement within strata (`task.resampling_stratum`), the
    same draw for both runs, so every draw keeps the data's composition; returns (low, high, units).
    """
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[(task.resampling_stratum(sample), task.resampling_unit(sample))].append(sample)
    strata: dict[str, list[int]] = defaultdict(list)
    for position, (stratum, _) in enumerate(groups):
        strata[stratum].append(position)
    units = list(groups.values())
    if resamples <= 0:
        return None, None, len(units)
    base, cand = UnitDraws(task, units, base_records), UnitDraws(task, units, cand_records)
    rng = np.random.default_rng(seed)
    members = [np.asarray(positions) for positions in strata.values()]
    deltas = []
    for _ in range(resamples):
        draw = np.concatenate([rng.choice(positions, size=len(positions)) for positions in members])
        weights = np.bincount(draw, minlength=len(units)).astype(float)
        before, after = base.headline(weights), cand.headline(weights)
        if before is not None and after is not None:
            deltas.append(after - before)
    if not deltas:
        return None, None, len(units)
    alpha = (1 - confidence) / 2
    low, high = (float(v) for v in np.quantile(deltas, [alpha, 1 - alpha]))
    return low, high, len(units)


def sample_flips(
    task: Task, ids: Sequence[str], base_records: Mapping[str, SampleRecord], cand_records: Mapping[str, SampleRecord]
) -> tuple[int | None, int | None]:
    """(improved, regressed): samples whose per-sample value (`task.Score`, on its own scale: right or wrong,
    or the share of right images of a GenEval prompt) rose or fell; None when the task declares no scale."""
    if not task.Score.has_scale:
        return None, None
    improved = regressed = 0
    for sample_id in ids:
        before = task.Score.model_validate(base_records[sample_id].score).value
        after = task.Score.model_validate(cand_records[sample_id].score).value
        if before is None or after is None:
            continue  # e.g. a failed generation: no images, no value
        improved += after > before
        regressed += after < before
    return improved, regressed


def compare_task(
    task_name: str,
    base_dir: Path,
    candidate_dir: Path,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    tolerance: float = 0.0,
    allow_protocol_mismatch: bool = False,
) -> TaskComparison:
    """Compares one task's headline between two model result folders."""
    base_result, base_records = load_run(base_dir, task_name)
    cand_result, cand_records = load_run(candidate_dir, task_name)
    warnings = []
    for what, left, right in (
        ("options", base_result.options, cand_result.options),
        ("protocol cards", _task_protocol(base_result.protocol), _task_protocol(cand_result.protocol)),
        ("data", base_result.data.get("fingerprint"), cand_result.data.get("fingerprint")),
    ):
        if left != right:
            message = f"the two runs differ in their {what}: not a like-for-like comparison"
            if not allow_protocol_mismatch:
                raise UserError(f"{task_name}: {message} (pass --allow-protocol-mismatch to compare anyway)")
            warnings.append(message)
    base_settings, cand_settings = _model_settings(base_result.protocol), _model_settings(cand_result.protocol)
    if base_settings is not None and cand_settings is not None and base_settings != cand_settings:
        changed = sorted(k for k in {*base_settings, *cand_settings} if base_settings.get(k) != cand_settings.get(k))
        warnings.append(f"the models were run with other settings ({', '.join(changed)}): part of what is compared")
    task_cls = TASKS.get(task_name)
    # demo runs resolve their "auto" scorers and references as the run did (FID's demo reference set)
    task = task_cls(task_cls.Options.model_validate(base_result.options), demo=base_result.data.get("origin") == "demo")

    paired_ids = sorted(set(base_records) & set(cand_records), key=lambda i: base_records[i].row)
    if len(paired_ids) < max(len(base_records), len(cand_records)):
        warnings.append(
            f"only {len(paired_ids)} samples are in both runs ({len(base_records)} / {len(cand_records)}): "
            "the comparison uses those"
        )
    if not paired_ids:
        raise UserError(f"{task_name}: the two runs share no sample ids")
    samples = [
        Sample(id=i, index=base_records[i].row, target=base_records[i].target, meta=base_records[i].meta)
        for i in paired_ids
    ]
    base_value = _headline(task, samples, base_records)
    cand_value = _headline(task, samples, cand_records)
    delta = None if base_value is None or cand_value is None else cand_value - base_value
    ci_low, ci_high, units = paired_bootstrap(
        task,
        samples,
        base_records,
        cand_records,
        confidence=confidence,
        resamples=resamples if delta is not None else 0,
        seed=seed,
    )
    improved, regressed = sample_flips(task, paired_ids, base_records, cand_records)

    verdict = "no significant change"
    if ci_low is not None and ci_high is not None:
        worse_high, better_low = (ci_high, ci_low) if task.higher_is_better else (-ci_low, -ci_high)
        if worse_high < -tolerance:
            verdict = "regression"
        elif better_low > tolerance:
            verdict = "improvement"
    elif delta is None:
        verdict = "no headline"
    return TaskComparison(
        task=task_name,
        metric=task.headline,
        higher_is_better=task.higher_is_better,
        base=base_value,
        candidate=cand_value,
        delta=delta,
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        resamples=resamples,
        paired_samples=len(paired_ids),
        resampling_units=units,
        improved=improved,
        regressed=regressed,
        verdict=verdict,
        warnings=warnings,
    )


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def to_markdown(comparisons: Sequence[TaskComparison], base: str, candidate: str) -> str:
    lines = [
        f"base: {base}  candidate: {candidate}",
        "",
        "| task | metric | base | candidate | delta | CI | paired | improved / regressed | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        ci = f"[{_fmt(c.ci_low)}, {_fmt(c.ci_high)}] ({c.confidence:.0%})"
        flips = "–" if c.improved is None else f"{c.improved} / {c.regressed}"
        lines.append(
            f"| {c.task} | {c.metric} | {_fmt(c.base)} | {_fmt(c.candidate)} | {_fmt(c.delta)} | {ci} | "
            f"{c.paired_samples} | {flips} | {c.verdict} |"
        )
    notes = [f"- {c.task}: {w}" for c in comparisons for w in c.warnings]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="janus-eval compare",
        description="Compare two runs sample by sample: headline delta with a paired bootstrap confidence interval.",
    )
    parser.add_argument("base", type=Path, help="model result folder of the base run, e.g. results/janus-pro-7b")
    parser.add_argument("candidate", type=Path, help="model result folder of the candidate run")
    parser.add_argument("--tasks", help="comma-separated tasks (default: every task both folders hold)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--tolerance", type=float, default=0.0, help="a change within this many headline units is not a verdict"
    )
    parser.add_argument("--allow-protocol-mismatch", action="store_true", help="compare runs of different protocols")
    parser.add_argument("--output", type=Path, help="also write the comparison as JSON to this file")
    parser.add_argument(
        "--fail-on-regression", action="store_true", help="exit with code 1 when any task regressed significantly"
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """`janus-eval compare ...`; returns the exit code (UserError is handled by the caller)."""
    args = build_parser().parse_args(list(argv))
    for folder in (args.base, args.candidate):
        if not folder.is_dir():
            raise UserError(f"{folder} is not a model result folder")
    if not 0 < args.confidence < 1:
        raise UserError("--confidence must be between 0 and 1")
    if args.resamples < 0:
        raise UserError("--resamples must be 0 or more")
    if args.tasks:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    else:
        names = [{p.stem for p in folder.glob("*.json")} for folder in (args.base, args.candidate)]
        tasks = sorted(names[0] & names[1])
        if not tasks:
            raise UserError(f"{args.base} and {args.candidate} hold no result of a common task")
    comparisons = [
        compare_task(
            task,
            args.base,
            args.candidate,
            confidence=args.confidence,
            resamples=args.resamples,
            seed=args.seed,
            tolerance=args.tolerance,
            allow_protocol_mismatch=args.allow_protocol_mismatch,
        )
        for task in tasks
    ]
    print(to_markdown(comparisons, str(args.base), str(args.candidate)))
    if args.output is not None:
        payload: dict[str, Any] = {
            "schema_version": "janus-eval.compare/1",
            "base": str(args.base),
            "candidate": str(args.candidate),
            "tasks": [asdict(c) for c in comparisons],
        }
        write_atomically(args.output, json.dumps(payload, indent=2) + "\n", "the comparison", OUTPUT_FILE_REMEDY)
    if args.fail_on_regression and any(c.verdict == "regression" for c in comparisons):
        return 1
    return 0
