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

from pydantic import BaseModel, ConfigDict, ValidationError

from janus_eval.api import Metric, Sample, Task
from janus_eval.data.sidecars import read_sidecars

log = logging.getLogger(__name__)

SAMPLE_SCHEMA = "janus-eval.sample/1"


class SampleRecord(BaseModel):
    """One sample's request, output, score and status."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["janus-eval.sample/1"] = SAMPLE_SCHEMA
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
    error: str | None = None
    rank: int = 0
    seconds: float | None = None
    created: float = 0.0


def metric_over(
    task: Task, samples: Iterable[Sample], records: Mapping[str, SampleRecord], base_dir: Path | None = None
) -> Metric:
    """The task's metric accumulated over the recorded scores of `samples` (the one place scores become metrics).

    With `base_dir` (the model folder the records' paths are relative to), scores that reference sidecar
    arrays (FID features) get them read back, one sample at a time.
    """
    metric = task.new_metric()
    for sample in samples:
        score = records[sample.id].score
        if base_dir is not None:
            score = read_sidecars(score, base_dir, what=f"sample {sample.id}")
        metric.update(sample, score)
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
