"""Per-sample records: append, resume, torn lines, configuration changes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from janus_eval.engine.record_store import RecordStore
from janus_eval.reports.sample_records import SampleRecord, read_records


def _record(sample_id: str, config_hash: str = "h1", failed: bool = False) -> SampleRecord:
    return SampleRecord(config_hash=config_hash, task="mme", id=sample_id, row=0, output="Yes", failed=failed)


def test_append_then_load_returns_latest_record_per_id(tmp_path: Path) -> None:
    path = tmp_path / "m" / "mme.samples.jsonl"
    with RecordStore(path, "h1") as store:
        assert store.load(resume=True) == {}
        store.append(_record("a", failed=True))
        store.append(_record("b"))
        store.append(_record("a"))
    loaded = RecordStore(path, "h1").load(resume=True)
    assert sorted(loaded) == ["a", "b"]
    assert loaded["a"].failed is False


def test_torn_last_line_is_skipped_and_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "mme.samples.jsonl"
    with RecordStore(path, "h1") as store:
        store.append(_record("a"))
    with path.open("a") as handle:  # a writer killed in the middle of a line
        handle.write('{"config_hash": "h1", "task": "mme", "id": "b", "ro')
    store = RecordStore(path, "h1")
    assert sorted(store.load(resume=True)) == ["a"]
    with store:
        store.append(_record("c"))
    assert [r.id for r in read_records(path)] == ["a", "c"]


def test_changed_configuration_moves_old_records_aside(tmp_path: Path) -> None:
    path = tmp_path / "mme.samples.jsonl"
    with RecordStore(path, "oldhash0000000") as store:
        store.append(_record("a", "oldhash0000000"))
    assert RecordStore(path, "newhash").load(resume=True) == {}
    assert path.read_text() == ""
    archived = tmp_path / "mme.samples.oldhash00000.jsonl"
    assert [r.id for r in read_records(archived)] == ["a"]


def test_fresh_run_moves_records_of_same_configuration_aside(tmp_path: Path) -> None:
    path = tmp_path / "mme.samples.jsonl"
    for _ in range(2):
        with RecordStore(path, "h1") as store:
            store.load(resume=False)
            store.append(_record("a"))
    assert len(list(tmp_path.glob("mme.samples.h1*.jsonl"))) == 1
    assert [r.id for r in read_records(path)] == ["a"]


def test_mixed_file_keeps_current_records_and_moves_the_others(tmp_path: Path) -> None:
    """E.g. shards of an interrupted run of another configuration folded into the main file."""
    path = tmp_path / "mme.samples.jsonl"
    with RecordStore(path, "current") as store:
        store.append(_record("a", "current"))
        store.append(_record("b", "other000000000"))
        store.append(_record("c", "current"))
    assert sorted(RecordStore(path, "current").load(resume=True)) == ["a", "c"]
    assert [r.id for r in read_records(tmp_path / "mme.samples.other0000000.jsonl")] == ["b"]
    assert [r.id for r in read_records(path)] == ["a", "c"]


def _lines_with_foreign_bytes(path: Path) -> None:
    """Records a, b, c and d, with b's line broken by bytes that are not UTF-8 and a last line torn inside
    a multibyte character (a writer killed mid-line)."""
    with RecordStore(path, "h1") as store:
        for sample_id in "abcd":
            store.append(_record(sample_id))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:30] + b"\xff\xfe" + lines[1][30:]
    lines[3] = _record("é").model_dump_json().encode()[:-4] + "é".encode()[:1]
    path.write_bytes(b"".join(lines))


def test_lines_that_are_not_utf8_are_skipped_with_one_warning_and_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mme.samples.jsonl"
    _lines_with_foreign_bytes(path)
    with caplog.at_level(logging.WARNING):
        assert [r.id for r in read_records(path)] == ["a", "c"]  # a reader that does not repair: one warning
    assert [r.getMessage() for r in caplog.records if "skipped 2 unreadable lines" in r.getMessage()] != []
    assert len(caplog.records) == 1
    caplog.clear()

    with caplog.at_level(logging.WARNING):
        assert sorted(RecordStore(path, "h1").load(resume=True)) == ["a", "c"]
    (warning,) = caplog.records
    assert "skipped 2 unreadable lines" in warning.getMessage() and "mme.samples.unreadable" in warning.getMessage()
    path.read_bytes().decode("utf-8")  # repaired: every byte left is UTF-8, every line a record
    assert [r.id for r in read_records(path)] == ["a", "c"]
    aside = (tmp_path / "mme.samples.unreadable").read_bytes()
    assert b"\xff\xfe" in aside and aside.count(b"\n") == 2  # not destroyed: kept beside the file
    caplog.clear()

    store = RecordStore(path, "h1")
    with caplog.at_level(logging.WARNING):
        assert sorted(store.load(resume=True)) == ["a", "c"]
    assert caplog.records == []  # once, not on every run
    with store:
        store.append(_record("b"))
    assert [r.id for r in read_records(path)] == ["a", "c", "b"]


def test_fresh_start_works_on_a_file_with_foreign_bytes(tmp_path: Path) -> None:
    path = tmp_path / "mme.samples.jsonl"
    _lines_with_foreign_bytes(path)
    assert RecordStore(path, "h1").load(resume=False) == {}
    assert path.read_bytes() == b""
    (archive,) = tmp_path.glob("mme.samples.h1*.jsonl")
    assert [r.id for r in read_records(archive)] == ["a", "c"]


def test_archives_with_foreign_bytes_are_repaired_on_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    archive = tmp_path / "mme.samples.oldhash00000.jsonl"
    _lines_with_foreign_bytes(archive)
    store = RecordStore(tmp_path / "mme.samples.jsonl", "h1")
    with caplog.at_level(logging.WARNING):
        store.load(resume=True)
        assert sorted(store.reusable_outputs("nope")) == []
    assert len(caplog.records) == 1 and "skipped 2 unreadable lines" in caplog.records[0].getMessage()
    assert [r.id for r in read_records(archive)] == ["a", "c"]


def test_a_readable_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "mme.samples.jsonl"
    path.write_bytes(_record("a").model_dump_json().encode())  # e.g. written by another tool
    store = RecordStore(path, "h1")
    assert sorted(store.load(resume=True)) == ["a"]
    with store:
        store.append(_record("b"))
    assert [r.id for r in read_records(path)] == ["a", "b"]
