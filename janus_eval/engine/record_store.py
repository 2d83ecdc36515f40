"""The per-sample record store: records appended and flushed as samples finish, resumed by config hash.

A rerun with the same config hash skips the samples already recorded (resume), while a changed
configuration never reuses them. In a data-parallel run every rank appends to its own file and rank 0
merges them (see `RecordStore.consolidate`). Lines that cannot be read (torn by an interrupted write,
foreign bytes) are set aside once, when rank 0 loads the file, and the file is rewritten without them.
Every write goes through `janus_eval.data.file_writes`, so a full disk ends the run with one message.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from janus_eval.data.file_writes import write_atomically, writing
from janus_eval.reports.sample_records import RecordLines, SampleRecord, read_records, scan_records

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

    def archive_files(self) -> list[Path]:
        """The files other configurations' records were moved aside to (`<task>.samples.<hash>.jsonl`)."""
        return [p for p in sorted(self.path.parent.glob(f"{self._stem}.*.jsonl")) if ".rank" not in p.name]

    def consolidate(self) -> None:
        """Appends the complete lines of every per-rank file to the main file and removes them."""
        shards = self.shard_files()
        if not shards:
            return
        with writing("the records of the per-rank files", self.path):
            _cut_torn_tail(self.path)
            size = self.path.stat().st_size if self.path.exists() else 0
            try:
                with self.path.open("ab") as out:
                    for shard in shards:
                        data = shard.read_bytes()
                        out.write(data[: data.rfind(b"\n") + 1])
            except BaseException:
                _truncate(self.path, size)  # half merged, a rerun would hold these records twice
                raise
        for shard in shards:
            shard.unlink()

    def load(self, resume: bool) -> dict[str, SampleRecord]:
        """Returns the latest record per sample id of this configuration.

        Records of other configurations (and, when `resume` is False, those of this one too) are
        moved aside to `<task>.samples.<hash>.jsonl`, so the file only ever holds one configuration.
        Unreadable lines of the file and of its archives are set aside once (see `repair`).
        """
        lines = scan_records(self.path)
        by_hash: dict[str, list[bytes]] = {}
        for raw, record in lines.kept:
            by_hash.setdefault(record.config_hash, []).append(raw)
        moved = [h for h in by_hash if h != self.config_hash or not resume]
        for config_hash in moved:
            self._archive(config_hash, by_hash.pop(config_hash))
        if moved or lines.unreadable or lines.unterminated:
            _rewrite(self.path, by_hash.get(self.config_hash, []), lines)
        for archive in self.archive_files():
            repair(archive)
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
        for path in [self.path, *self.archive_files()]:
            for record in read_records(path):
                if record.generation_hash != generation_hash or not record.output_usable:
                    continue
                current = found.get(record.id)
                if current is None or record.created >= current.created:
                    found[record.id] = record
        return found

    def _archive(self, config_hash: str, lines: list[bytes]) -> None:
        target = self.path.with_name(f"{self._stem}.{config_hash[:12]}.jsonl")
        counter = 1
        while target.exists():
            target = self.path.with_name(f"{self._stem}.{config_hash[:12]}.{counter}.jsonl")
            counter += 1
        write_atomically(target, b"".join(lines), f"{len(lines)} records of another configuration")
        log.info("moved %d records of configuration %s aside to %s", len(lines), config_hash[:12], target)

    def append(self, record: SampleRecord) -> None:
        """Writes one record and flushes it (a killed process loses nothing already appended)."""
        if not record.created:
            record.created = time.time()
        with writing(f"the record of sample {record.id!r} of task {record.task!r}", self.write_path):
            try:
                if self._handle is None:
                    self.write_path.parent.mkdir(parents=True, exist_ok=True)
                    _cut_torn_tail(self.write_path)
                    self._handle = self.write_path.open("a", encoding="utf-8")
                self._handle.write(record.model_dump_json() + "\n")
                self._handle.flush()
            except OSError:
                self._abandon()  # its buffer holds the line that did not fit: closing would fail on it again
                raise

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with writing("the last records", self.write_path):
                handle.close()

    def _abandon(self) -> None:
        """Lets go of the file without reporting what its buffer could not write (an error is under way)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with suppress(OSError):
                handle.close()

    def __enter__(self) -> "RecordStore":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:  # the error under way is the one to report, not a second one from closing
            self._abandon()


def repair(path: Path) -> None:
    """Rewrites a record file without its unreadable lines, if it has any (see `_rewrite`)."""
    lines = scan_records(path)
    if lines.unreadable or lines.unterminated:
        _rewrite(path, [raw for raw, _ in lines.kept], lines)


def _rewrite(path: Path, kept: list[bytes], lines: RecordLines) -> None:
    """Replaces a record file by its `kept` lines (exact bytes, atomic rename). Its unreadable lines are
    appended to `<name>.unreadable` beside it first, not destroyed, and reported in one warning: the
    next run finds a clean file and says nothing."""
    bad = lines.unreadable
    aside = path.with_name(f"{path.name.removesuffix('.jsonl')}.unreadable")
    if bad:
        with writing(f"{len(bad)} unreadable lines set aside", aside), aside.open("ab") as out:
            out.write(b"".join(raw if raw.endswith(b"\n") else raw + b"\n" for raw in bad))
    write_atomically(path, b"".join(kept), f"the records of {path.name}")
    if bad:
        log.warning(
            "%s: skipped %d unreadable line%s (torn by an interrupted write, or bytes that are not a JSON record "
            "of this schema); the file was rewritten without them and they were set aside in %s",
            path, len(bad), "" if len(bad) == 1 else "s", aside.name,
        )  # fmt: skip


def _truncate(path: Path, size: int) -> None:
    with suppress(OSError), path.open("rb+") as handle:
        handle.truncate(size)


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
