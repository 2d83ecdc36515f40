#!/usr/bin/env python
"""Runs every generation benchmark (image generation, harness overhead, resume) and writes their results as JSON.

The JSON (default `benchmark-<shape>-<device>.json` in the current folder) holds each benchmark's numbers,
the machine and the package versions, so that a GPU run can be set beside the CPU one.

    python benchmarks/run_all.py
    python benchmarks/run_all.py --device cuda --shape janus-pro-7b --json h100-7b.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness_overhead  # noqa: E402
import image_generation  # noqa: E402
import janus_shapes  # noqa: E402
import resume_overhead  # noqa: E402
import task_runs  # noqa: E402
import torch  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", choices=janus_shapes.SHAPES, default="tiny")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    common = ["--device", args.device, "--shape", args.shape]
    results: dict[str, Any] = {"device": args.device, "shape": args.shape}
    print("== image_generation")
    results["image_generation"] = image_generation.run(image_generation.parser().parse_args(common))
    image_generation.print_table(results["image_generation"])
    for name, module in (("harness_overhead", harness_overhead), ("resume", resume_overhead)):
        print(f"== {name}")
        args_ = task_runs.task_parser(name).parse_args(common)
        results[name] = task_runs.over_tasks(args_, module.measure)
        task_runs.print_rows(module.TITLE, module.ROW, results[name])
    import transformers

    results["environment"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
    }
    path = args.json or Path(f"benchmark-{args.shape}-{args.device.replace(':', '')}.json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
