"""Loading a task's rows: local parquet in the hub layout, save_to_disk folders, demo rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from janus_eval.data.loading import load_task_data
from janus_eval.errors import UserError
from janus_eval.registry import TASKS
from tests.helpers import demo_rows, write_parquet


def test_local_parquet_in_hub_layout_picks_the_task_split(tmp_path: Path) -> None:
    rows = demo_rows("mme")
    write_parquet(rows[:6], tmp_path / "mme", split="test")
    write_parquet(rows[6:8], tmp_path / "mme", split="validation")
    data = load_task_data(TASKS.get("mme")(), "hub", tmp_path)
    assert len(data.rows) == 6 and data.origin == "local"
    image = data.rows[0]["image"]
    assert isinstance(image, dict) and image["bytes"].startswith(b"\x89PNG")  # undecoded: decoded per sample
    again = load_task_data(TASKS.get("mme")(), "hub", tmp_path)
    assert again.fingerprint == data.fingerprint


def test_save_to_disk_folder(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict, Features, Image, Value

    rows = demo_rows("pope")
    features = Features({k: Image() if k == "image" else Value("string") for k in rows[0]})
    DatasetDict({"test": Dataset.from_list(rows, features=features)}).save_to_disk(str(tmp_path / "pope"))
    task = TASKS.get("pope")()
    before = sorted(p.name for p in (tmp_path / "pope").rglob("*"))
    data = load_task_data(task, "hub", tmp_path)
    assert len(data.rows) == len(rows)
    assert isinstance(data.rows[0]["image"], dict)  # undecoded
    again = load_task_data(task, "hub", tmp_path)
    assert again.fingerprint == data.fingerprint  # so a rerun resumes
    assert sorted(p.name for p in (tmp_path / "pope").rglob("*")) == before  # nothing written into the user's folder
    assert [s.id for s in task.samples(data.rows)] == [s.id for s in task.samples(rows)]


def test_fingerprint_changes_with_the_data(tmp_path: Path) -> None:
    rows = demo_rows("mme")
    write_parquet(rows, tmp_path / "a" / "mme")
    write_parquet(rows[:-1], tmp_path / "b" / "mme")
    task = TASKS.get("mme")()
    assert load_task_data(task, "hub", tmp_path / "a").fingerprint != load_task_data(task, "hub", tmp_path / "b").fingerprint


def test_demo_rows_have_the_declared_columns() -> None:
    for name in ("mme", "pope"):
        task = TASKS.get(name)()
        data = load_task_data(task, "demo")
        assert set(task.data_source().columns) <= set(data.rows[0])


def test_folder_without_parquet_files(tmp_path: Path) -> None:
    (tmp_path / "mme").mkdir()
    (tmp_path / "mme" / "notes.txt").write_text("nothing here")
    with pytest.raises(UserError, match="holds no parquet files"):
        load_task_data(TASKS.get("mme")(), "hub", tmp_path)


def test_folder_with_only_another_split_is_refused(tmp_path: Path) -> None:
    write_parquet(demo_rows("mme")[:4], tmp_path / "mme", split="validation")
    with pytest.raises(UserError, match="split\\(s\\) validation but not 'test'"):
        load_task_data(TASKS.get("mme")(), "hub", tmp_path)


def test_files_named_for_no_split_are_all_read(tmp_path: Path) -> None:
    path = write_parquet(demo_rows("mme")[:4], tmp_path / "mme")
    path.rename(path.with_name("mme_copy.parquet"))
    assert len(load_task_data(TASKS.get("mme")(), "hub", tmp_path).rows) == 4
