"""The two record keys: what determines a sample's output and score (config hash), and its output alone
(generation hash). Neither depends on --limit, --batch-size or the number of processes.

Behaviour is versioned per task and per adapter (`Task.version`, `ModelAdapter.version`), not by the package
version: a release that leaves a task's outputs and scores alone keeps its records valid, and a change that
alters them bumps that one version (tests/test_versions.py holds the code to its versions). The record
schema is not hashed either: older record lines are migrated when read.
"""

from __future__ import annotations

from typing import Any

from janus_eval.api import ModelAdapter, Task
from janus_eval.data.hashing import hash_json
from janus_eval.data.loading import LoadedData


def _without_prose(card: Any) -> Any:
    """The protocol card minus its free-text `notes` and `deviations`: rewording them changes no output."""
    if isinstance(card, dict):
        return {k: _without_prose(v) for k, v in card.items() if k not in ("notes", "deviations")}
    if isinstance(card, list):
        return [_without_prose(v) for v in card]
    return card


def _generation_key(task: Task, adapter: ModelAdapter, data: LoadedData, seed: int) -> dict[str, Any]:
    return {
        "task": task.name,
        "data": {"origin": data.origin, "fingerprint": data.fingerprint},
        "model": {**adapter.identity(), **adapter.task_identity(task.name)},
        "adapter_version": type(adapter).version,
        # greedy text does not depend on the seed; image seeds derive from it
        "seed": seed if task.request_kind == "image" else None,
    }


def config_hash(task: Task, adapter: ModelAdapter, data: LoadedData, seed: int) -> str:
    """Hash of everything that determines a sample's output and score (not --limit or --batch-size)."""
    return hash_json(
        {
            **_generation_key(task, adapter, data, seed),
            "task_version": task.version,
            "options": task.options.model_dump(mode="json"),
            "protocol": _without_prose(task.protocol_card()),
            "scorers": task.scorer_info(),
        }
    )


def generation_hash(task: Task, adapter: ModelAdapter, data: LoadedData, seed: int) -> str:
    """Hash of what, besides the request itself, determines an output: model, adapter version, data, seed.

    A record with this hash and an equal request (`log_view`) holds the output the model would give now,
    whatever scoring configuration (or task version) it was recorded under.
    """
    return hash_json(_generation_key(task, adapter, data, seed))
