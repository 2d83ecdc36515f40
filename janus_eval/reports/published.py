"""Setting a run against the paper: a delta only for comparable runs, and notes that say why not otherwise."""

from __future__ import annotations

from typing import Any

from janus_eval.api import Task
from janus_eval.reports.results import Published


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


def compare_with_paper(
    task: Task, reference_key: str | None, headline: float | None, limit: int | None, failed: int
) -> tuple[Published | None, list[str]]:
    """The published number and delta for `reference_key` when the run is comparable, and the notes that
    explain a missing delta (a variant whose published number does not apply, a subset, failures, ...)."""
    notes: list[str] = []
    if reference_key is None:
        return None, notes
    reference = task.published_numbers()
    if reference_key not in reference and reference_key in task.published:
        changed = ", ".join(f"{k}={v}" for k, v in changed_options(task).items()) or ("demo rows" if task.demo else "")
        published = f"the published {task.headline} of {reference_key} ({task.published[reference_key]:g})"
        if changed:
            notes.append(f"{published} does not apply under these options ({changed}): they measure something else")
        else:  # the task's default setup itself is not the published one: its own notes say why
            notes.append(f"{published} is not set against this run (see the task's notes)")
    if reference_key not in reference:
        return None, notes
    notes = comparability_notes(task, limit, headline, failed)
    if notes:
        notes.insert(0, f"not compared with the published {task.headline} of {reference_key} ({reference[reference_key]:g})")
        return None, notes
    assert headline is not None
    value = reference[reference_key]
    return Published(model=reference_key, value=value, delta=round(headline - value, 6), source=task.published_source), []
