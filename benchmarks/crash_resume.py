#!/usr/bin/env python
"""Crash and resume: SIGKILL a demo run at random points, resume it each time, and compare with an uninterrupted run.

Runs `run_eval.py` on janus-tiny and the demo rows (MME and GenEval by default) once without interruption,
then again in another folder, killing the process with SIGKILL `--kills` times: half at random points of the
run's progress (a random number of records written, then up to half a second more), half right after a GenEval PNG appears (while the sample's images are being written).
After every kill the same command is started again; the last start runs to the end. Prints, for each kill,
when it struck and what had been recorded, then compares the final metrics, the per-sample records (outputs
and scores, by sample id) and the bytes of every image with the uninterrupted run's. Exit code 1 if anything
differs.

    python benchmarks/crash_resume.py                 # 10 kills (about 3 minutes on 2 cores)
    python benchmarks/crash_resume.py --kills 4 --tasks mme
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = ["--task-option", "mme.max_new_tokens=8", "--task-option", "geneval.images_per_prompt=2"]


def _options_for(tasks: str) -> list[str]:
    chosen: list[str] = []
    for flag, value in zip(OPTIONS[::2], OPTIONS[1::2]):
        if value.split(".")[0] in tasks.split(","):
            chosen += [flag, value]
    return chosen


def run_command(tasks: str, output_dir: Path) -> list[str]:
    return [
        sys.executable, str(ROOT / "run_eval.py"), "--model", "janus-tiny", "--tasks", tasks, "--data", "demo",
        "--batch-size", "2", "--no-progress", "--output-dir", str(output_dir), *_options_for(tasks),
    ]


def snapshot(output_dir: Path, tasks: str) -> dict[str, Any]:
    """Metrics, records (output and score by sample id) and image bytes of a finished run."""
    model_dir = output_dir / "janus-tiny"
    found: dict[str, Any] = {}
    for task in tasks.split(","):
        result = json.loads((model_dir / f"{task}.json").read_text())
        lines = [json.loads(line) for line in (model_dir / f"{task}.samples.jsonl").read_text().splitlines() if line]
        found[task] = {
            "metrics": result["metrics"],
            "counts": {k: result["counts"][k] for k in ("total", "scored", "failed")},
            "records": {r["id"]: (r["output"], r["score"]) for r in lines if r["config_hash"] == result["manifest"]["config_hash"]},
            "lines": len(lines),
            "images": {
                str(p.relative_to(model_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((model_dir / f"{task}_images").rglob("*.png"))
            },
        }
    return found


def _count_pngs(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.png")) if folder.is_dir() else 0


def _recorded(output_dir: Path, tasks: str) -> int:
    total = 0
    for task in tasks.split(","):
        path = output_dir / "janus-tiny" / f"{task}.samples.jsonl"
        total += path.read_bytes().count(b"\n") if path.is_file() else 0
    return total


def crash_and_resume(tasks: str, kills: int, seed: int, work: Path, env: dict[str, str]) -> dict[str, Any]:
    base_dir, crash_dir = work / "uninterrupted", work / "killed"
    tick = time.perf_counter()
    subprocess.run(run_command(tasks, base_dir), check=True, env=env, capture_output=True)
    duration = time.perf_counter() - tick
    total_lines = _recorded(base_dir, tasks)
    print(f"uninterrupted run: {duration:.1f} s, {total_lines} records")
    rng = random.Random(seed)
    images = crash_dir / "janus-tiny" / "geneval_images"
    struck = []
    for number in range(kills):
        during_images = "geneval" in tasks.split(",") and number % 2 == 1
        process = subprocess.Popen(run_command(tasks, crash_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.perf_counter()
        if during_images:  # right after a new PNG lands: the sample's other images are being written
            before = _count_pngs(images)
            while process.poll() is None and _count_pngs(images) <= before:
                time.sleep(0.005)
        else:  # at a random point of the run's progress (load on the machine changes its pace, not its steps)
            done = _recorded(crash_dir, tasks)
            target = done + rng.randrange(max(1, total_lines - done))
            while process.poll() is None and _recorded(crash_dir, tasks) < target:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.5))
        finished_first = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait()
        what = "after the run ended" if finished_first else ("while writing images" if during_images else "at random")
        struck.append(what)
        print(f"kill {number + 1:2d}: {time.perf_counter() - started:5.2f} s into the run, {what}; "
              f"{_recorded(crash_dir, tasks)} record lines so far, {_count_pngs(images)} PNGs")
    subprocess.run(run_command(tasks, crash_dir), check=True, env=env, capture_output=True)
    base, crashed = snapshot(base_dir, tasks), snapshot(crash_dir, tasks)
    report: dict[str, Any] = {"kills": kills, "struck": struck, "uninterrupted_seconds": round(duration, 2), "tasks": {}}
    for task in tasks.split(","):
        same = {key: base[task][key] == crashed[task][key] for key in ("metrics", "counts", "records", "images")}
        report["tasks"][task] = {**same, "record_lines": crashed[task]["lines"], "samples": len(crashed[task]["records"])}
    report["identical"] = all(all(v for k, v in t.items() if isinstance(v, bool)) for t in report["tasks"].values())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="mme,geneval")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="janus-eval-crash-") as work:
        env.setdefault("JANUS_EVAL_CACHE", str(Path(work) / "cache"))
        report = crash_and_resume(args.tasks, args.kills, args.seed, Path(work), env)
    for task, facts in report["tasks"].items():
        print(f"{task}: metrics {'equal' if facts['metrics'] else 'DIFFER'}, records {'equal' if facts['records'] else 'DIFFER'} "
              f"({facts['samples']} samples in {facts['record_lines']} lines), images "
              f"{'byte-identical' if facts['images'] else 'DIFFER'}")
    print("identical to the uninterrupted run" if report["identical"] else "DIFFERENT from the uninterrupted run")
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
