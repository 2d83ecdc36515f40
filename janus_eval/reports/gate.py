"""`janus-eval gate CANDIDATE_DIR`: may this checkpoint ship? Exit 0 yes, 1 no, 2 when the input cannot tell.

Two kinds of checks, per task, with allowances from a tolerance file:
- against a baseline (the last release): `compare`'s paired bootstrap; a task fails when its whole interval
  lies below `-max_drop` (compare's `regression` verdict with that tolerance);
- against the papers: the result's own published delta (set only when the run is comparable with the paper,
  by the same rules as the leaderboard); a task fails when |delta| exceeds `max_paper_distance`.
A protocol mismatch, no overlapping samples, a missing task or a paper check on a run that is not comparable
is unusable input (exit 2). The summary is Markdown, for a CI log or a pull request comment.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from janus_eval.errors import ArgumentParser, UserError
from janus_eval.reports.compare import TaskComparison, compare_task, load_run
from janus_eval.reports.results import TaskResult, write_output


class Allowance(BaseModel):
    """What a task may lose: points of its headline against the baseline, distance from the published number."""

    model_config = ConfigDict(extra="forbid")

    max_drop: float = Field(default=0.0, ge=0, description="allowed drop against the baseline, in headline units")
    max_paper_distance: float | None = Field(
        default=None, ge=0, description="allowed |run - published| in headline units (None: not checked)"
    )


class Tolerances(BaseModel):
    """The tolerance file: a default allowance and per-task ones (JSON)."""

    model_config = ConfigDict(extra="forbid")

    default: Allowance = Allowance()
    tasks: dict[str, Allowance] = {}

    def of(self, task: str) -> Allowance:
        return self.tasks.get(task, self.default)


def read_tolerances(path: Path | None) -> Tolerances:
    if path is None:
        return Tolerances()
    try:
        return Tolerances.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise UserError(f"cannot read the tolerance file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not JSON ({exc.msg}, line {exc.lineno})") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise UserError(
            f"bad tolerance file {path}: {problems} (expected "
            '{"default": {"max_drop": 0, "max_paper_distance": null}, "tasks": {"mme": {"max_drop": 20}}})'
        ) from None


@dataclass
class Check:
    """One check's outcome; `passed` False fails the gate."""

    task: str
    metric: str
    against: str
    candidate: float | None
    reference: float | None
    delta: float | None
    interval: str
    allowed: str
    passed: bool
    detail: str = ""


def baseline_check(comparison: TaskComparison, allowance: Allowance) -> Check:
    ci = "–" if comparison.ci_low is None else f"[{comparison.ci_low:.2f}, {comparison.ci_high:.2f}]"
    return Check(
        task=comparison.task,
        metric=comparison.metric,
        against="baseline",
        candidate=comparison.candidate,
        reference=comparison.base,
        delta=comparison.delta,
        interval=f"{ci} ({comparison.confidence:.0%})",
        allowed=f"drop <= {allowance.max_drop:g}",
        passed=comparison.verdict != "regression",
        detail=f"{comparison.verdict}; {comparison.paired_samples} paired samples"
        + ("" if comparison.regressed is None else f", {comparison.improved} improved / {comparison.regressed} regressed")
        + "".join(f"; {w}" for w in comparison.warnings),
    )


def paper_check(result: TaskResult, allowance: Allowance) -> Check:
    """The run's distance from its published number (UserError when the run is not comparable with the paper)."""
    assert allowance.max_paper_distance is not None
    published = result.published
    if published is None or published.delta is None:
        why = "; ".join(result.notes) or "the run has no reference model (--published-as KEY when running it)"
        raise UserError(f"{result.task}: a paper tolerance is set but the run is not comparable with the paper: {why}")
    return Check(
        task=result.task,
        metric=result.headline.metric,
        against=f"paper ({published.model})",
        candidate=result.headline.value,
        reference=published.value,
        delta=published.delta,
        interval="",
        allowed=f"|delta| <= {allowance.max_paper_distance:g}",
        passed=abs(published.delta) <= allowance.max_paper_distance,
    )


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def to_markdown(checks: Sequence[Check], candidate: Path, baseline: Path | None, tolerances: Path | None) -> str:
    failed = [c for c in checks if not c.passed]
    lines = [
        f"## janus-eval gate: {'FAIL' if failed else 'PASS'}",
        "",
        f"candidate `{candidate}`" + (f", baseline `{baseline}`" if baseline else "")
        + (f", tolerances `{tolerances}`" if tolerances else ", default tolerances"),
        "",
        "| task | metric | against | candidate | reference | delta | CI | allowed | result | detail |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        result = "pass" if c.passed else "**FAIL**"
        lines.append(
            f"| {c.task} | {c.metric} | {c.against} | {_fmt(c.candidate)} | {_fmt(c.reference)} | {_fmt(c.delta)} | "
            f"{c.interval} | {c.allowed} | {result} | {c.detail} |"
        )
    lines += ["", f"{len(checks) - len(failed)} of {len(checks)} checks passed" + (
        f"; failed: {', '.join(f'{c.task} ({c.against})' for c in failed)}" if failed else "")]  # fmt: skip
    return "\n".join(lines) + "\n"


def run_gate(
    candidate: Path,
    baseline: Path | None,
    tolerances: Tolerances,
    tasks: Sequence[str] | None = None,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> list[Check]:
    """Every check of the candidate folder; UserError for unusable input."""
    if not candidate.is_dir():
        raise UserError(f"{candidate} is not a model result folder")
    if baseline is not None and not baseline.is_dir():
        raise UserError(f"--baseline {baseline} is not a model result folder")
    present = {p.stem for p in candidate.glob("*.json")}
    names = list(tasks) if tasks else sorted(present)
    missing = sorted({*names, *([] if tasks else tolerances.tasks)} - present)
    if missing:
        raise UserError(f"{candidate} holds no result of task(s) {', '.join(missing)}")
    if not names:
        raise UserError(f"{candidate} holds no result files")
    paper = [name for name in names if tolerances.of(name).max_paper_distance is not None]
    if baseline is None and not paper:
        raise UserError("nothing to check: give --baseline DIR and/or a tolerance file with max_paper_distance")
    checks = []
    for name in names:
        allowance = tolerances.of(name)
        if baseline is not None:
            if not (baseline / f"{name}.json").is_file():
                raise UserError(f"the baseline {baseline} has no result of task {name!r}")
            comparison = compare_task(
                name, baseline, candidate, confidence=confidence, resamples=resamples, seed=seed,
                tolerance=allowance.max_drop,
            )  # fmt: skip
            checks.append(baseline_check(comparison, allowance))
        if name in paper:
            result, _ = load_run(candidate, name)
            checks.append(paper_check(result, allowance))
    return checks


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="janus-eval gate",
        description=(
            "Release gate: exit 0 when every check holds, 1 on a significant regression against the baseline or a "
            "paper-tolerance breach, 2 on unusable input. Prints a Markdown summary."
        ),
    )
    parser.add_argument("candidate", type=Path, help="model result folder of the candidate checkpoint")
    parser.add_argument("--baseline", type=Path, help="model result folder of the last release")
    parser.add_argument(
        "--tolerances", type=Path,
        help='JSON: {"default": {"max_drop": 0, "max_paper_distance": null}, "tasks": {"mme": {"max_drop": 20, ...}}}',
    )  # fmt: skip
    parser.add_argument("--tasks", help="comma-separated tasks (default: every task of the candidate)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--output", type=Path, help="also write the Markdown summary to this file")
    return parser


def main(argv: Sequence[str]) -> int:
    """`janus-eval gate ...`; returns the exit code (UserError, exit 2, is handled by the caller)."""
    args = build_parser().parse_args(list(argv))
    if not 0 < args.confidence < 1:
        raise UserError("--confidence must be between 0 and 1")
    if args.resamples < 1:
        raise UserError("--resamples must be at least 1")
    tolerances = read_tolerances(args.tolerances)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    checks = run_gate(
        args.candidate, args.baseline, tolerances, tasks,
        confidence=args.confidence, resamples=args.resamples, seed=args.seed,
    )  # fmt: skip
    summary = to_markdown(checks, args.candidate, args.baseline, args.tolerances)
    print(summary)
    if args.output is not None:
        write_output(args.output, summary)
    return 0 if all(check.passed for check in checks) else 1
