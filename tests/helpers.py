"""Shared test helpers: local datasets in the hub schemas, CLI invocation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

from janus_eval.cli import main
from janus_eval.registry import TASKS


def write_parquet(rows: Sequence[dict[str, Any]], folder: Path, split: str = "test", image_columns: Sequence[str] = ("image",)) -> Path:
    """Writes rows as a hub-style parquet shard `folder/data/<split>-00000-of-00001.parquet` with Image columns."""
    from datasets import Dataset, Features, Image, Value

    features = Features(
        {key: Image() if key in image_columns else Value("string") for key in rows[0]}
    )
    path = folder / "data" / f"{split}-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(list(rows), features=features).to_parquet(str(path))
    return path


def demo_rows(task: str) -> list[dict[str, Any]]:
    return TASKS.get(task)().demo_rows()


def run_cli(args: Sequence[str], capsys: Any) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextmanager
def hub_cache_copy(repo_id: str, commit: str, folder: Path) -> Iterator[Path]:
    """`folder` as the cached snapshot of model `repo_id` at `commit` (refs/main) in the HF cache; yields the
    snapshot folder and removes the repository afterwards (in case HF_HOME points at a real cache)."""
    from huggingface_hub.constants import HF_HUB_CACHE

    repo = Path(HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(folder, snapshot, dirs_exist_ok=True)
    try:
        yield snapshot
    finally:
        shutil.rmtree(repo)
