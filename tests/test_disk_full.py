"""A full disk, for real (ENOSPC from a small tmpfs or /dev/full): one message and exit 2 at every place a run
writes, records written before it stay valid, and a rerun after space is freed resumes to the same metrics."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from janus_eval.api import ImageOutput, RemoteFile, Sample
from janus_eval.data.cache import ensure_built
from janus_eval.data.file_writes import DiskFullError
from janus_eval.data.hashing import cached_file_sha256, file_sha256
from janus_eval.data.loading import load_task_data
from janus_eval.data.remote_files import fetch
from janus_eval.engine.image_folder import IMAGES_MARKER, claim_images_dir, save_output
from janus_eval.engine.record_store import RecordStore
from janus_eval.registry import TASKS
from janus_eval.reports.leaderboard import write_leaderboard
from janus_eval.reports.results import read_result, write_result
from janus_eval.reports.sample_records import SampleRecord, read_records
from tests.helpers import demo_rows, read_json, read_jsonl, run_cli, write_parquet
from tests.small_disk import PAGE, NoSmallDisk, SmallDisk, small_disk

ARGS = ["--model", "janus-tiny", "--tasks", "mme", "--data", "demo", "--limit", "12", "--no-progress",
        "--task-option", "mme.max_new_tokens=2"]  # fmt: skip
MIB = 1 << 20


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    try:
        with small_disk(tmp_path / "disk", MIB) as mounted:
            yield mounted
    except NoSmallDisk as reason:
        pytest.skip(f"no way to mount a small file system here, so no real full disk: {reason}")


def _record(sample_id: str, config_hash: str = "h1", padding: int = 2000) -> SampleRecord:
    return SampleRecord(config_hash=config_hash, task="mme", id=sample_id, row=0, output="x" * padding)


def _records(store: RecordStore, count: int, prefix: str = "s") -> None:
    with store:
        for number in range(count):
            store.append(_record(f"{prefix}{number}", store.config_hash))


def _no_staging_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".tmp")]


def test_a_full_device_gives_one_message_and_closes_cleanly(tmp_path: Path) -> None:
    """/dev/full answers every write with ENOSPC: works wherever Linux runs, no mount needed."""
    path = tmp_path / "mme.samples.jsonl"
    path.symlink_to("/dev/full")
    with pytest.raises(DiskFullError) as caught:
        with RecordStore(path, "h1") as store:
            store.append(_record("a"))
    message = str(caught.value)
    assert message.startswith("no space left on the device: could not write the record of sample 'a' of task 'mme'")
    assert str(path) in message and " free of " in message and "rerun the same command" in message


def test_a_run_that_fills_the_disk_stops_with_one_message_and_resumes_to_the_same_metrics(
    tmp_path: Path, disk: SmallDisk, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli([*ARGS, "--output-dir", str(tmp_path / "baseline")], capsys)[0] == 0
    baseline = tmp_path / "baseline" / "janus-tiny"

    # room for the lock file (a page) and about half the records: the disk fills up in the middle of the run
    disk.fill(leave=PAGE + (baseline / "mme.samples.jsonl").stat().st_size // 2)
    code, out, err = run_cli([*ARGS, "--output-dir", str(disk.path)], capsys)
    assert code == 2
    assert err.count("janus-eval: error:") == 1 and "Traceback" not in err and "Errno" not in err
    assert "no space left on the device: could not write the record of sample" in err
    assert f"to {disk.path / 'janus-tiny' / 'mme.samples.jsonl'} (" in err and " free of 1.0 MiB" in err
    written = list(read_records(disk.path / "janus-tiny" / "mme.samples.jsonl"))
    assert 0 < len(written) < 12  # what was recorded before the disk filled up is valid

    disk.free_up()
    code, out, err = run_cli([*ARGS, "--output-dir", str(disk.path)], capsys)
    assert code == 0, err
    assert f"[12/12 scored, 0 failed, {len(written)} reused]" in out
    resumed = disk.path / "janus-tiny"
    assert read_json(resumed / "mme.json")["metrics"] == read_json(baseline / "mme.json")["metrics"]
    outputs = {r["id"]: r["output"] for r in read_jsonl(resumed / "mme.samples.jsonl")}
    assert outputs == {r["id"]: r["output"] for r in read_jsonl(baseline / "mme.samples.jsonl")}
    assert len(read_jsonl(resumed / "mme.samples.jsonl")) == 12


def test_moving_records_aside_on_a_full_disk_loses_nothing(disk: SmallDisk) -> None:
    path = disk.path / "mme.samples.jsonl"
    _records(RecordStore(path, "old000000000000"), 40)
    before = path.read_bytes()
    disk.fill()
    with pytest.raises(DiskFullError, match="could not write 40 records of another configuration to"):
        RecordStore(path, "new").load(resume=True)
    assert path.read_bytes() == before
    assert not list(disk.path.glob("mme.samples.old*.jsonl")) and _no_staging_files(disk.path)
    disk.free_up()
    assert RecordStore(path, "new").load(resume=True) == {}
    assert len(list(read_records(disk.path / "mme.samples.old000000000.jsonl"))) == 40


def test_merging_rank_files_on_a_full_disk_leaves_the_files_as_they_were(disk: SmallDisk) -> None:
    path = disk.path / "mme.samples.jsonl"
    _records(RecordStore(path, "h1"), 5, "main")
    for rank in (0, 1):
        _records(RecordStore(path, "h1", rank=rank, world_size=2), 30, f"r{rank}-")
    before = {p.name: p.read_bytes() for p in disk.path.glob("mme.samples*")}
    disk.fill(leave=8 * 1024)
    with pytest.raises(DiskFullError, match="could not write the records of the per-rank files"):
        RecordStore(path, "h1").consolidate()
    assert {p.name: p.read_bytes() for p in disk.path.glob("mme.samples*")} == before  # cut back, shards kept
    disk.free_up()
    store = RecordStore(path, "h1")
    store.consolidate()
    assert len(list(read_records(path))) == 65 and len(store.read()) == 65 and not store.shard_files()


def test_repairing_on_a_full_disk_leaves_the_file_as_it_was(disk: SmallDisk, caplog: pytest.LogCaptureFixture) -> None:
    path = disk.path / "mme.samples.jsonl"
    _records(RecordStore(path, "h1"), 20)
    with path.open("ab") as handle:
        handle.write(b'{"id": "\xc3\n')
    before = path.read_bytes()
    disk.fill()
    with pytest.raises(DiskFullError, match="could not write 1 unreadable lines set aside"):
        RecordStore(path, "h1").load(resume=True)
    assert path.read_bytes() == before
    disk.free_up()
    with caplog.at_level(logging.WARNING):
        assert len(RecordStore(path, "h1").load(resume=True)) == 20
    assert "skipped 1 unreadable line" in caplog.text


def test_images_on_a_full_disk(disk: SmallDisk) -> None:
    task = TASKS.get("geneval")(demo=True)
    sample = Sample(id="00000", index=0, target=None, row={"tag": "single_object", "prompt": "a photo of a cat"})
    images_dir = disk.path / "janus-tiny" / "geneval_images"
    claim_images_dir(images_dir, "k" * 64)
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    disk.fill(leave=8 * 1024)
    with pytest.raises(DiskFullError, match="could not write the images of sample '00000' to"):
        save_output(ImageOutput([Image.fromarray(noise)] * 4), sample, images_dir, task)
    disk.fill()
    with pytest.raises(DiskFullError, match="could not write the image folder marker of geneval_images"):
        claim_images_dir(images_dir, "j" * 64)
    disk.free_up()
    claim_images_dir(images_dir, "k" * 64)  # the first configuration's folder comes back whole
    assert json.loads((images_dir / IMAGES_MARKER).read_text()) == {"key": "k" * 64}
    assert (images_dir / "00000" / "metadata.jsonl").is_file()
    saved, digests = save_output(ImageOutput([Image.fromarray(noise)]), sample, images_dir, task)
    assert digests == [file_sha256(images_dir.parent / saved[0])]


def test_result_and_leaderboard_on_a_full_disk(tmp_path: Path, disk: SmallDisk, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([*ARGS, "--limit", "2", "--output-dir", str(tmp_path)], capsys)[0] == 0
    result = read_result(tmp_path / "janus-tiny" / "mme.json")
    target = disk.path / "janus-tiny" / "mme.json"
    write_result(result, target)
    before = target.read_bytes()
    disk.fill()
    with pytest.raises(DiskFullError, match="could not write the result of task 'mme' to"):
        write_result(result.model_copy(update={"notes": ["x" * 20000]}), target)
    assert target.read_bytes() == before and _no_staging_files(disk.path)  # the old result, whole
    with pytest.raises(DiskFullError, match="could not write the leaderboard to"):
        write_leaderboard(disk.path)
    disk.free_up()
    write_leaderboard(disk.path)
    assert "janus-tiny" in (disk.path / "leaderboard.md").read_text()


def test_caches_on_a_full_disk(tmp_path: Path, disk: SmallDisk, monkeypatch: pytest.MonkeyPatch) -> None:
    from model_adapters.janus_tiny import ensure_tiny_checkpoint

    disk.fill(leave=64 * 1024)
    with pytest.raises(DiskFullError, match="could not write the cache entry janus-tiny-v1 to") as caught:
        ensure_tiny_checkpoint(disk.path)  # safetensors reports ENOSPC in its own error type
    assert "JANUS_EVAL_CACHE" in str(caught.value)
    assert not list((disk.path / "models").iterdir())  # no half-built checkpoint left

    source = tmp_path / "evaluation_metadata.jsonl"
    source.write_bytes(os.urandom(256 * 1024))
    remote = RemoteFile(name=source.name, url=source.as_uri(), sha256=file_sha256(source))
    monkeypatch.delenv("JANUS_EVAL_OFFLINE", raising=False)
    with pytest.raises(DiskFullError, match="could not write the download of evaluation_metadata.jsonl to"):
        fetch(remote, cache_dir=disk.path / "data")

    def build(folder: Path) -> None:
        (folder / "config.json").write_text(json.dumps({"x": "y" * 200_000}))

    with pytest.raises(DiskFullError, match="could not write the cache entry thing to"):
        ensure_built(disk.path / "thing", build)

    monkeypatch.setenv("JANUS_EVAL_CACHE", str(disk.path / "cache"))
    disk.fill()
    assert cached_file_sha256(source) == remote.sha256  # the hash cache is best effort: a full disk only costs a re-hash
    disk.free_up()
    assert fetch(remote, cache_dir=disk.path / "data").read_bytes() == source.read_bytes()


def test_data_caches_on_a_full_disk(tmp_path: Path, disk: SmallDisk, monkeypatch: pytest.MonkeyPatch) -> None:
    """`datasets`' arrow cache of local parquet, and janus-eval's undecoded copy of a save_to_disk folder."""
    from datasets import Dataset, DatasetDict, Features, Value
    from datasets import Image as ImageFeature
    from datasets import config as datasets_config

    rows = demo_rows("pope") * 40
    write_parquet(rows, tmp_path / "parquet" / "pope")
    monkeypatch.setattr(datasets_config, "HF_DATASETS_CACHE", disk.path / "hf-datasets")
    disk.fill(leave=8 * 1024)
    task = TASKS.get("pope")()
    with pytest.raises(DiskFullError, match="could not write the data of task 'pope' to") as caught:
        load_task_data(task, "hub", tmp_path / "parquet")
    assert "hf-datasets" in str(caught.value)

    features = Features({k: ImageFeature() if k == "image" else Value("string") for k in rows[0]})
    DatasetDict({"test": Dataset.from_list(rows, features=features)}).save_to_disk(str(tmp_path / "saved" / "pope"))
    monkeypatch.setenv("JANUS_EVAL_CACHE", str(disk.path / "cache"))
    with pytest.raises(DiskFullError, match="could not write the cached copy of pope-"):
        load_task_data(task, "hub", tmp_path / "saved")
    disk.free_up()
    assert len(load_task_data(task, "hub", tmp_path / "saved").rows) == len(rows)


def test_a_subcommand_output_on_a_full_disk(tmp_path: Path, disk: SmallDisk, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_geneval_task import _official_results

    task = TASKS.get("geneval")()
    rows = [{"filename": f"imgs/{index:05d}/samples/00000.png", "tag": metadata["tag"], "prompt": metadata["prompt"],
             "correct": True, "reason": "", "metadata": metadata, "details": {}}
            for index, metadata in enumerate(task.demo_rows())]  # fmt: skip
    _official_results(tmp_path / "results.jsonl", rows)
    disk.fill()
    code, _, err = run_cli(["geneval-import", str(tmp_path / "results.jsonl"), "--output", str(disk.path / "s.json")], capsys)
    assert code == 2 and err.count("janus-eval: error:") == 1 and "Traceback" not in err
    assert "could not write the GenEval summary to" in err and "give another --output" in err
    assert not (disk.path / "s.json").exists() and _no_staging_files(disk.path)
