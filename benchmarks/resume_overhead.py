#!/usr/bin/env python
"""Resume: rerunning a finished task against its first run, in percent of the first run's wall time.

The rerun finds every sample recorded under the same configuration and generates nothing: it loads the
data, builds the scorers, reads the records, writes the result and the leaderboard. Measured in this run,
for GenEval (tiny offline scorers on its demo prompts) and a minimal image task.

    python benchmarks/resume_overhead.py
    python benchmarks/resume_overhead.py --device cuda --shape janus-pro-7b --prompts 12 --images-per-prompt 4
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

TITLE = "resume of a finished task"
ROW = (
    "  {task:<12} first run {first_seconds:.2f} s, rerun {rerun_seconds:.2f} s ({reused} samples reused) -> {rerun_percent:.1f}% of the first run"
)


def measure(task: str, adapter: Any, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    config = task_runs.run_config(task, scratch / task, args.prompts, args.images_per_prompt, args.batch_size)
    task_runs.run_task(task_runs.run_config(task, scratch / "warm-up", 1, 1, 1), adapter)  # warm-up
    timings = []
    results = []
    for _ in range(2):
        start = time.perf_counter()
        results.append(task_runs.run_task(config, adapter))
        janus_shapes.synchronize(adapter.device)
        timings.append(time.perf_counter() - start)
    first, again = timings
    assert results[1].counts.generated == 0 and results[1].metrics == results[0].metrics
    return {
        "task": task,
        "first_seconds": round(first, 3),
        "rerun_seconds": round(again, 3),
        "rerun_percent": round(100 * again / first, 2),
        "reused": results[1].counts.reused,
    }


if __name__ == "__main__":
    sys.exit(task_runs.script_main(sys.modules[__name__]))
