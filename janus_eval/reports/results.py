"""The per-task result file `OUTPUT_DIR/<model-label>/<task>.json`: versioned schema, read and write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from janus_eval.data.file_writes import write_atomically

RESULT_SCHEMA = "janus-eval.result/1"


class Headline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str
    value: float | None


class Published(BaseModel):
    """The number the paper prints for this model, and how far this run is from it."""

    model_config = ConfigDict(extra="forbid")

    model: str
    value: float
    delta: float | None
    source: str


class SampleCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    scored: int
    failed: int
    generated: int
    reused: int
    # outputs of another scoring configuration scored again without running the model
    rescored: int = 0
    # failed samples that have an output but whose scoring failed (e.g. an LLM judge after its retries)
    scoring_failed: int = 0


class Manifest(BaseModel):
    """Everything needed to reproduce or trust the number."""

    model_config = ConfigDict(extra="forbid")

    config_hash: str
    seed: int
    device: str | None
    dtype: str | None
    batch_size: int
    limit: int | None
    command: list[str]
    packages: dict[str, str | None]
    git: dict[str, Any] | None
    platform: dict[str, Any]
    started: str
    finished: str
    wall_seconds: float
    generation_seconds: float
    samples_per_second: float | None
    peak_accelerator_memory_bytes: int | None
    peak_rss_bytes: int
    world_size: int = 1
    # the batch size that worked after an out-of-memory error lowered --batch-size (None: never lowered)
    effective_batch_size: int | None = None
    out_of_memory_errors: int = 0
    # what scoring cost: an LLM judge's model, requests, cache hits, tokens and price (see Task.scoring_usage)
    scoring_usage: dict[str, Any] = {}


class TaskResult(BaseModel):
    """One task's result for one model."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["janus-eval.result/1"] = RESULT_SCHEMA
    task: str
    model: str
    metrics: dict[str, float | None]
    headline: Headline
    published: Published | None
    # why the run is not compared with the paper, failures of every sample, and similar warnings
    notes: list[str] = []
    protocol: dict[str, Any]
    scorers: dict[str, Any] = {}
    options: dict[str, Any]
    model_identity: dict[str, Any]
    data: dict[str, Any]
    counts: SampleCounts
    samples_file: str
    # generated images (GenEval's folder layout), relative to the output folder; None for text tasks
    images_dir: str | None = None
    manifest: Manifest


def result_path(output_dir: Path, model_label: str, task: str) -> Path:
    return output_dir / model_label / f"{task}.json"


def write_result(result: TaskResult, path: Path) -> None:
    """Writes atomically (a reader never sees half a file; a full disk leaves the earlier result whole)."""
    text = json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    write_atomically(path, text, f"the result of task {result.task!r}")


def write_output(path: Path, text: str) -> None:
    """Writes a report or summary a user asked for; UserError (one message, exit 2) when it cannot be written."""
    from janus_eval.errors import UserError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_result(path: Path) -> TaskResult:
    return TaskResult.model_validate_json(path.read_text(encoding="utf-8"))


def find_results(output_dir: Path) -> list[TaskResult]:
    """Every valid result file under `output_dir/<model>/`; files of other schemas are ignored."""
    found = []
    for path in sorted(output_dir.glob("*/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and data.get("schema_version") == RESULT_SCHEMA:
            found.append(TaskResult.model_validate(data))
    return found
