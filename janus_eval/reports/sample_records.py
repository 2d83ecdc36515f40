"""The per-sample record format of `<task>.samples.jsonl`: one JSON line per finished sample.

Every record carries the config hash of the run that produced it and is self-contained (task, sample
id, row, config hash, rank), so files of several processes merge by concatenation. The engine writes
them (`janus_eval.engine.record_store`); compare and the reports read them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from janus_eval.api import Metric, Sample, Task

log = logging.getLogger(__name__)

SAMPLE_SCHEMA = "janus-eval.sample/2"

ErrorStage = Literal["request", "generation", "scoring"]


class ErrorInfo(BaseModel):
    """Why a sample failed: where (building its request, generating, scoring), the exception and its traceback."""

    model_config = ConfigDict(extra="forbid")

    stage: ErrorStage | None = None
    type: str
    message: str
    traceback: str | None = None

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.type else self.message


class SampleRecord(BaseModel):
    """One sample's request, output, score and status.

    Schema 2 (this one) records `error` as an `ErrorInfo`; lines of schema 1 (a plain error string) are
    migrated when read, so records written by earlier versions keep resuming.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["janus-eval.sample/2"] = SAMPLE_SCHEMA
    config_hash: str
    # hash of what determines the output (model, data, seed), without the scoring: with an equal request,
    # a record of another scoring configuration lends its output to be scored again
    generation_hash: str | None = None
    task: str
    id: str
    row: int
    target: Any = None
    meta: dict[str, Any] = {}
    request: dict[str, Any] | None = None
    output: Any = None
    # sha256 of each saved image file (image outputs), checked before an output is scored again
    output_sha256: list[str] | None = None
    score: dict[str, Any] = {}
    # the output came from a record of another scoring configuration (scored again, not generated)
    rescored: bool = False
    failed: bool = False
    error: ErrorInfo | None = None
    rank: int = 0
    seconds: float | None = None
    created: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Schema 1 -> 2: an error string becomes an ErrorInfo (its stage and type unknown)."""
        if isinstance(data, dict) and data.get("schema_version") == "janus-eval.sample/1":
            data = {**data, "schema_version": SAMPLE_SCHEMA}
            if isinstance(data.get("error"), str):
                data["error"] = {"type": "", "message": data["error"]}
        return data

    @property
    def output_usable(self) -> bool:
        """The record holds an output worth scoring again: it succeeded, or only its scoring failed."""
        if self.request is None or self.output is None:
            return False
        return not self.failed or (self.error is not None and self.error.stage == "scoring")


def metric_over(task: Task, samples: Iterable[Sample], records: Mapping[str, SampleRecord]) -> Metric:
    """The task's metric accumulated over the recorded scores of `samples` (the one place scores become metrics)."""
    metric = task.new_metric()
    for sample in samples:
        metric.update(sample, records[sample.id].score)
    return metric


def read_records(path: Path) -> Iterator[SampleRecord]:
    """Yields the valid records of a file; a torn last line (killed writer) is skipped."""
    if not path.exists():
        return
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield SampleRecord.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError):
                log.warning("%s:%d: skipping an unreadable record", path, number)
