"""The per-sample record format of `<task>.samples.jsonl`: one JSON line per finished sample.

Every record carries the config hash of the run that produced it and is self-contained (task, sample
id, row, config hash, rank), so files of several processes merge by concatenation. The engine writes
them (`janus_eval.engine.record_store`); compare and the reports read them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from janus_eval.api import Metric, Sample, Task
from janus_eval.data.sidecars import read_sidecars

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


def metric_over(
    task: Task,
    samples: Iterable[Sample],
    records: Mapping[str, SampleRecord],
    base_dir: Path | None = None,
    headline_only: bool = False,
) -> Metric:
    """The task's metric accumulated over the recorded scores of `samples` (the one place scores become metrics).

    With `base_dir` (the model folder the records' paths are relative to), scores that reference sidecar
    arrays (FID features) get them read back, one sample at a time.
    """
    metric = task.headline_metric() if headline_only else task.new_metric()
    for sample in samples:
        score = records[sample.id].score
        if base_dir is not None:
            score = read_sidecars(score, base_dir, what=f"sample {sample.id}")
        metric.update(sample, score)
    return metric


@dataclass
class RecordLines:
    """A record file line by line: the readable records (with their exact bytes) and the lines that are not."""

    kept: list[tuple[bytes, SampleRecord]] = field(default_factory=list)  # each line ends with a newline
    # lines that are not a UTF-8 JSON record of this schema: torn by an interrupted write, or foreign bytes
    unreadable: list[bytes] = field(default_factory=list)
    # the file does not end with a newline (a writer was interrupted, or another tool wrote it)
    unterminated: bool = False


def parse_record_line(raw: bytes) -> SampleRecord | None:
    """The record on one line of a file, or None when the line is not one (bad UTF-8, bad JSON, other schema)."""
    try:
        return SampleRecord.model_validate(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError):
        return None


def _lines(path: Path) -> Iterator[bytes]:
    """The non-blank lines of a file as bytes (newline kept); nothing when the file does not exist."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for raw in handle:
            if raw.strip():
                yield raw


def scan_records(path: Path) -> RecordLines:
    """Every line of a record file, sorted into readable records and unreadable lines (nothing is logged)."""
    lines = RecordLines()
    last = b"\n"
    for raw in _lines(path):
        record = parse_record_line(raw)
        if record is None:
            lines.unreadable.append(raw)
        else:  # a readable last line that lacks its newline gets it back when the file is rewritten
            lines.kept.append((raw if raw.endswith(b"\n") else raw + b"\n", record))
        last = raw
    lines.unterminated = not last.endswith(b"\n")
    return lines


def read_records(path: Path) -> Iterator[SampleRecord]:
    """Yields the valid records of a file; unreadable lines (a torn write, bytes that are not UTF-8 JSON, another
    schema) are skipped and counted in one warning per file read. The engine repairs its own files on load
    (`RecordStore.load`), so there the warning is given once, not on every run."""
    skipped = 0
    for raw in _lines(path):
        record = parse_record_line(raw)
        if record is None:
            skipped += 1
        else:
            yield record
    if skipped:
        what = "a torn write, or bytes that are not a JSON record of this schema"
        log.warning("%s: skipped %d unreadable line%s (%s)", path, skipped, "" if skipped == 1 else "s", what)
