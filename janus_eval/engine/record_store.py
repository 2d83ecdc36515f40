"""The per-sample record store: records appended and flushed as samples finish, resumed by config hash.

A rerun with the same config hash skips the samples already recorded (resume), while a changed
configuration never reuses them. In a data-parallel run every rank appends to its own file and rank 0
merges them (see `RecordStore.consolidate`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from janus_eval.reports.sample_records import SampleRecord, read_records

log = logging.getLogger(__name__)


class RecordStore:
    """The `<task>.samples.jsonl` file of one task under one configuration.

    In a data-parallel run every rank appends to its own `<task>.samples.rank<r>.jsonl`; rank 0
    folds those files into the main one (`consolidate`) before reading and at the end, so a run
    killed midway resumes under any number of processes.
    """

    def __init__(self, path: Path, config_hash: str, rank: int = 0, world_size: int = 1) -> None:
        self.path = path
        self.config_hash = config_hash
        self._stem = path.name.removesuffix(".jsonl")
        self.write_path = path if world_size == 1 else path.with_name(f"{self._stem}.rank{rank}.jsonl")
        self._handle: Any = None

    def shard_files(self) -> list[Path]:
        return sorted(self.path.parent.glob(f"{self._stem}.rank*.jsonl"))

    def consolidate(self) -> None:
        """Appends the complete lines of every per-rank file to the main file and removes them."""
        shards = self.shard_files()
        if not shards:
            return
        _cut_torn_tail(self.path)
        with self.path.open("ab") as out:
            for shard in shards:
                data = shard.read_bytes()
                out.write(data[: data.rfind(b"\n") + 1])
        for shard in shards:
            shard.unlink()

    def load(self, resume: bool) -> dict[str, SampleRecord]:
        """Returns the latest record per sample id of this configuration.

        Records of other configurations (and, when `resume` is False, those of this one too) are
        moved aside to `<task>.samples.<hash>.jsonl`, so the file only ever holds one configuration.
        """
        by_hash: dict[str, list[SampleRecord]] = {}
        for record in read_records(self.path):
            by_hash.setdefault(record.config_hash, []).append(record)
        moved = [h for h in by_hash if h != self.config_hash or not resume]
        if moved:
            for config_hash in moved:
                self._archive(config_hash, by_hash.pop(config_hash))
            kept = by_hash.get(self.config_hash, [])
            staging = self.path.with_name(self.path.name + ".tmp")
            staging.write_text("".join(r.model_dump_json() + "\n" for r in kept), encoding="utf-8")
            os.replace(staging, self.path)
        return self.read()
    def read(self) -> dict[str, SampleRecord]:
        """The latest record per sample id of this configuration in the main file (no side effects)."""
        latest: dict[str, SampleRecord] = {}
        for record in read_records(self.path):
            if record.config_hash == self.config_hash:
                latest[record.id] = record
        return latest

    def reusable_outputs(self, generation_hash: str) -> dict[str, SampleRecord]:
        """The latest successful record per sample id, in this file or its archives, whose output was produced
        under `generation_hash` (any scoring configuration): candidates to be scored again."""
        found: dict[str, SampleRecord] = {}
        files = [self.path, *sorted(self.path.parent.glob(f"{self._stem}.*.jsonl"))]
        for path in files:
            if ".rank" in path.name:
                continue
            for record in read_records(path):
                # a sample whose scoring failed kept its output (failed with an output): it lends it too
                if record.generation_hash != generation_hash or record.output is None or record.request is None:
                    continue
                current = found.get(record.id)
                if current is None or record.created >= current.created:
                    found[record.id] = record
        return found

    def _archive(self, config_hash: str, records: list[SampleRecord]) -> None:
        target = self.path.with_name(f"{self._stem}.{config_hash[:12]}.jsonl")
        counter = 1
        while target.exists():
            target = self.path.with_name(f"{self._stem}.{config_hash[:12]}.{counter}.jsonl")
            counter += 1
        target.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
        log.info("moved %d records of configuration %s aside to %s", len(records), config_hash[:12], target)

    def append(self, record: SampleRecord) -> None:
        """Writes one record and flushes it (a killed process loses nothing already appended)."""
        if self._handle is None:
            self.write_path.parent.mkdir(parents=True, exist_ok=True)
            _cut_torn_tail(self.write_path)
            self._handle = self.write_path.open("a", encoding="utf-8")
        if not record.created:
            record.created = time.time()
        self._handle.write(record.model_dump_json() + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "RecordStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_torn_tail(path: Path) -> None:
    """Cuts a torn last line (a writer killed mid-line) so the next record starts on its own line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        data = handle.read()
        handle.truncate(data.rfind(b"\n") + 1)
