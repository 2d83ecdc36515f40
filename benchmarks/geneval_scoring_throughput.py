#!/usr/bin/env python
"""Throughput of GenEval scoring: detector + CLIP batched over many images vs one prompt at a time.

Runs offline with the tiny scorer models (random Mask2Former and open_clip built from configs) on
synthetic 384x384 pictures, after a warm-up call, and prints the wall-clock ratio measured in this one
run. Also checks that batching did not change any verdict.

    python benchmarks/geneval_scoring_throughput.py
    python benchmarks/geneval_scoring_throughput.py --prompts 24 --images-per-prompt 4 --scorer-batch-size 16
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import numpy as np
from janus_eval.tasks.geneval import GenEvalOptions, GenEvalTask
from PIL import Image

from janus_eval.api import ImageOutput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--images-per-prompt", type=int, default=4)
    parser.add_argument("--scorer-batch-size", type=int, default=16)
    parser.add_argument("--size", type=int, default=384, help="image side (Janus: 384)")
    args = parser.parse_args()

    task = GenEvalTask(GenEvalOptions(scorer_batch_size=args.scorer_batch_size), demo=True)
    rows = task.demo_rows()
    samples = [task.samples(rows)[i % len(rows)] for i in range(args.prompts)]
    rng = np.random.default_rng(0)
    outputs = [
        ImageOutput([Image.fromarray(rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)) for _ in range(args.images_per_prompt)])
        for _ in samples
    ]
    task.score_batch(samples[:1], outputs[:1])  # warm-up: builds the scorers

    tick = time.perf_counter()
    one_by_one = [task.score_batch([sample], [output])[0] for sample, output in zip(samples, outputs)]
    sequential = time.perf_counter() - tick
    tick = time.perf_counter()
    batched = task.score_batch(samples, outputs)
    together = time.perf_counter() - tick

    images = args.prompts * args.images_per_prompt
    print(f"{images} images ({args.prompts} prompts x {args.images_per_prompt}), {args.size}px, tiny scorers, CPU")
    print(f"  one prompt per call : {sequential:7.2f} s  ({images / sequential:6.1f} images/s)")
    print(f"  batched ({args.scorer_batch_size:>3} images): {together:7.2f} s  ({images / together:6.1f} images/s)")
    print(f"  speed-up            : {sequential / together:.2f}x")
    print(f"  verdicts identical  : {one_by_one == batched}")


if __name__ == "__main__":
    main()
