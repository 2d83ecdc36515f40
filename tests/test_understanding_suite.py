"""The understanding suite end to end on janus-tiny: batch-size independence, replay, results and leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from janus_eval.api import ModelSpec
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate
from tests.helpers import read_json, read_jsonl, run_cli

SUITE = ["gqa", "seed_bench", "mmbench", "mmmu"]
SHORT = {task: {"max_new_tokens": 5} for task in SUITE}


@pytest.fixture(scope="module")
def adapter() -> Any:
    return build_adapter(ModelSpec(name="janus-tiny"))


def _config(output_dir: Path, batch_size: int) -> RunConfig:
    return RunConfig(
        model=ModelSpec(name="janus-tiny"), tasks=SUITE, task_options={k: dict(v) for k, v in SHORT.items()},
        data_mode="demo", batch_size=batch_size, output_dir=output_dir, show_progress=False,
    )


def test_outputs_and_scores_do_not_depend_on_the_batch_size(tmp_path: Path, adapter: Any) -> None:
    """Batches mix questions with 0..3 images and prompts of different lengths (left padding)."""
    runs = {}
    for batch_size in (1, 8):
        evaluate(_config(tmp_path / f"b{batch_size}", batch_size), adapter=adapter)
        runs[batch_size] = {
            task: {r["id"]: (r["output"], r["score"]) for r in read_jsonl(tmp_path / f"b{batch_size}" / "janus-tiny" / f"{task}.samples.jsonl")}
            for task in SUITE
        }
    for task in SUITE:
        assert runs[1][task] == runs[8][task], task
    # the suite really mixes image counts within one batch (MMMU demo questions have 1 to 3 images)
    counts = {len(r["request"]["images"]) for r in read_jsonl(tmp_path / "b8" / "janus-tiny" / "mmmu.samples.jsonl")}
    assert len(counts) > 1


def test_cli_run_results_leaderboard_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = [arg for task in SUITE for arg in ("--task-option", f"{task}.max_new_tokens=5")]
    args = ["--model", "janus-tiny", "--tasks", ",".join(SUITE), "--data", "demo", "--no-progress", *options]
    code, out, err = run_cli([*args, "--output-dir", str(tmp_path / "run")], capsys)
    assert code == 0, err
    leaderboard = (tmp_path / "run" / "leaderboard.md").read_text()
    for task in SUITE:
        result = read_json(tmp_path / "run" / "janus-tiny" / f"{task}.json")
        assert result["headline"]["value"] == result["metrics"][result["headline"]["metric"]]
        assert result["counts"]["failed"] == 0 and result["protocol"]["deviations"]
        assert task in leaderboard

    replay = ["--model", "predictions", "--model-args", f"path={tmp_path / 'run' / 'janus-tiny' / '{task}.samples.jsonl'}"]
    code, _, err = run_cli([*replay, "--tasks", ",".join(SUITE), "--data", "demo", "--no-progress", *options,
                            "--output-dir", str(tmp_path / "replay")], capsys)
    assert code == 0, err
    for task in SUITE:
        original = read_json(tmp_path / "run" / "janus-tiny" / f"{task}.json")
        replayed = read_json(tmp_path / "replay" / "predictions" / f"{task}.json")
        assert replayed["metrics"] == original["metrics"], task

    # a published model's saved outputs: demo rows are never set against the paper, and a variant that measures
    # something else (circular MMBench) says why it has no published number
    code, _, err = run_cli([*replay, "--tasks", "mmbench,seed_bench", "--data", "demo", "--no-progress",
                            "--task-option", "mmbench.max_new_tokens=5", "--task-option", "seed_bench.max_new_tokens=5",
                            "--task-option", "mmbench.circular=true", "--published-as", "janus-pro-7b",
                            "--output-dir", str(tmp_path / "published")], capsys)
    assert code == 0, err
    mmbench = read_json(tmp_path / "published" / "predictions" / "mmbench.json")
    seed = read_json(tmp_path / "published" / "predictions" / "seed_bench.json")
    assert mmbench["published"] is None and seed["published"] is None
    assert any("79.2" in n and "does not apply" in n and "circular=True" in n for n in mmbench["notes"])
    assert any("--data demo" in n for n in seed["notes"])


def _write_hub_parquet(rows: list[dict[str, Any]], path: Path, image_column: str, image_list: bool = False) -> None:
    """Rows as one parquet shard with a real Image (or list-of-Image) column, as the hub stores them."""
    from datasets import Dataset, Image, List

    dataset = Dataset.from_list(rows)
    dataset = dataset.cast_column(image_column, List(Image()) if image_list else Image())
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.to_parquet(str(path))


def test_local_copies_in_the_hub_layouts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--data-dir` reads each benchmark as `hf download` lays it out (config folders, split-named shards)."""
    from tests.helpers import demo_rows

    data = tmp_path / "data"
    _write_hub_parquet(demo_rows("mmbench"), data / "mmbench" / "en" / "dev-00000-of-00001.parquet", "image")
    _write_hub_parquet(demo_rows("seed_bench"), data / "seed_bench" / "data" / "test-00000-of-00001.parquet", "image",
                       image_list=True)
    args = ["--model", "janus-tiny", "--tasks", "mmbench,seed_bench", "--data-dir", str(data), "--no-progress",
            "--output-dir", str(tmp_path / "out"), "--task-option", "mmbench.max_new_tokens=3",
            "--task-option", "seed_bench.max_new_tokens=3"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    mmbench = read_json(tmp_path / "out" / "janus-tiny" / "mmbench.json")
    seed = read_json(tmp_path / "out" / "janus-tiny" / "seed_bench.json")
    assert mmbench["data"]["origin"] == "local" and mmbench["counts"]["failed"] == 0
    assert mmbench["counts"]["total"] == len(demo_rows("mmbench"))
    assert seed["counts"]["total"] == 9 and seed["counts"]["failed"] == 0  # the video row is filtered out
