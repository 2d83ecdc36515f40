"""Per-sample records: append, resume, torn lines, configuration changes."""

from __future__ import annotations

from pathlib import Path

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
