"""Data parallelism: torchrun shards samples over processes; records merge; interrupted shards resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from janus_eval.api import ModelSpec
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate
from tests.helpers import read_json, read_jsonl

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--model", "janus-tiny", "--tasks", "mme,pope", "--data", "demo", "--no-progress",
        "--task-option", "mme.max_new_tokens=6", "--task-option", "pope.max_new_tokens=6",
        "--task-option", "pope.split=all"]  # fmt: skip


def _outputs(path: Path) -> dict[str, str]:
    return {r["id"]: r["output"] for r in read_jsonl(path)}


def test_torchrun_two_processes_match_one(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [sys.executable, str(ROOT / "run_eval.py"), *ARGS, "--output-dir", str(tmp_path / "one")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    parallel = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(ROOT / "run_eval.py"), *ARGS, "--output-dir", str(tmp_path / "two")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert parallel.returncode == 0, parallel.stderr
    assert parallel.stdout.count("perception =") == 1  # only rank 0 reports
    for task in ("mme", "pope"):
        one, two = tmp_path / "one" / "janus-tiny", tmp_path / "two" / "janus-tiny"
        assert _outputs(two / f"{task}.samples.jsonl") == _outputs(one / f"{task}.samples.jsonl")
        assert read_json(two / f"{task}.json")["metrics"] == read_json(one / f"{task}.json")["metrics"]
        assert read_json(two / f"{task}.json")["manifest"]["world_size"] == 2
        assert {r["rank"] for r in read_jsonl(two / f"{task}.samples.jsonl")} == {0, 1}
        assert not list(two.glob(f"{task}.samples.rank*.jsonl"))


def test_records_of_an_interrupted_parallel_run_are_reused(tmp_path: Path) -> None:
    """Per-rank files left by killed processes (one torn line) resume under a single process."""
    config = RunConfig(
        model=ModelSpec(name="janus-tiny"), tasks=["mme"], task_options={"mme": {"max_new_tokens": "6"}},
        data_mode="demo", output_dir=tmp_path / "full", show_progress=False,
    )  # fmt: skip
    adapter = build_adapter(config.model)
    (full,) = evaluate(config, adapter=adapter)
    lines = (tmp_path / "full" / "janus-tiny" / "mme.samples.jsonl").read_text().splitlines(keepends=True)
    model_dir = tmp_path / "resumed" / "janus-tiny"
    model_dir.mkdir(parents=True)
    (model_dir / "mme.samples.rank0.jsonl").write_text("".join(lines[0:10:2]))
    (model_dir / "mme.samples.rank1.jsonl").write_text("".join(lines[1:10:2]) + lines[11][:40])
    config.output_dir = tmp_path / "resumed"
    (resumed,) = evaluate(config, adapter=adapter)
    assert resumed.counts.reused == 10 and resumed.counts.generated == 18
    assert resumed.metrics == full.metrics
    assert not list(model_dir.glob("mme.samples.rank*.jsonl"))
    records = read_jsonl(model_dir / "mme.samples.jsonl")
    assert len(records) == 28 and _outputs(model_dir / "mme.samples.jsonl") == {
        json.loads(line)["id"]: json.loads(line)["output"] for line in lines
    }
