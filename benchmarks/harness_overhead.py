#!/usr/bin/env python
"""Harness overhead: a whole task run through the runner against bare adapter calls on the same requests.

Both make the same adapter calls (the task's requests, longest first, `--batch-size` per call); the run adds
data loading, scorer models, scoring, the PNG files in GenEval's layout, per-sample records, the result and
the leaderboard, with the finishing of one batch overlapping the next batch's generation. Prints the
overhead in percent of the bare calls, for GenEval (tiny offline scorers on its demo prompts) and for a
minimal image task (the engine alone), measured in this run after a warm-up.

    python benchmarks/harness_overhead.py
    python benchmarks/harness_overhead.py --device cuda --shape janus-pro-7b --prompts 12 --images-per-prompt 4 --batch-size 4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import janus_shapes  # noqa: E402
import task_runs  # noqa: E402

TITLE = "harness overhead"
ROW = (
    "  {task:<12} {images:>4} images: bare adapter calls {bare_seconds:.2f} s, whole run {run_seconds:.2f} s -> overhead {overhead_percent:+.1f}%"
)


def measure(task: str, adapter: Any, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """Bare calls and whole runs alternately (`--repeats` each, a fresh output folder per run); the best of each."""
    device = adapter.device
    warm = task_runs.run_config(task, scratch / f"{task}-warm-up", args.prompts, args.images_per_prompt, args.batch_size)
    task_runs.bare_adapter_calls(warm, adapter)  # warm-up (same shapes)
    bare, whole, images, generated = [], [], 0, 0
    for repeat in range(args.repeats):
        config = task_runs.run_config(task, scratch / f"{task}-{repeat}", args.prompts, args.images_per_prompt, args.batch_size)
        janus_shapes.synchronize(device)
        start = time.perf_counter()
        images = task_runs.bare_adapter_calls(config, adapter)
        janus_shapes.synchronize(device)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        generated = task_runs.run_task(config, adapter).counts.generated
        janus_shapes.synchronize(device)
        whole.append(time.perf_counter() - start)
    return {
        "task": task,
        "images": images,
        "bare_seconds": round(min(bare), 3),
        "run_seconds": round(min(whole), 3),
        "overhead_percent": round(100 * (min(whole) - min(bare)) / min(bare), 2),
        "all_bare_seconds": [round(value, 3) for value in bare],
        "all_run_seconds": [round(value, 3) for value in whole],
        "generated": generated,
    }


if __name__ == "__main__":
    sys.exit(task_runs.script_main(sys.modules[__name__]))
