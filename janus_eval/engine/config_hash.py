"""The two record keys: what determines a sample's output and score (config hash), and its output alone
(generation hash). Neither depends on --limit, --batch-size or the number of processes."""

from __future__ import annotations

from typing import Any

import janus_eval
from janus_eval.api import ModelAdapter, Task
from janus_eval.data.hashing import hash_json
from janus_eval.data.loading import LoadedData
from janus_eval.reports.sample_records import SAMPLE_SCHEMA


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
