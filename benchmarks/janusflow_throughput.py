#!/usr/bin/env python
"""Throughput of JanusFlow image generation: many prompts per flow batch against one prompt at a time, equal images.

Runs offline on janusflow-tiny, or on a tiny-width model with JanusFlow-1.3B's grids (`--shape janusflow`: 384 px,
a 48x48 latent, 576 latent tokens, an 8-pixel VAE cell), and prints wall-clock times and their ratio measured in this
one run, after a warm-up call, and whether batching changed any image.

    python benchmarks/janusflow_throughput.py
    python benchmarks/janusflow_throughput.py --shape janusflow --prompts 4 --images-per-prompt 2 --steps 10
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import numpy as np
import torch
from adapter_throughput import PROMPTS, timed  # the Janus benchmark's prompts and timer (same folder)
from janus_eval.model_adapters.janusflow import JanusFlowAdapter
from janus_eval.model_adapters.janusflow_tiny import TINY_VAE_FOLDER, build_tiny_checkpoint

from janus_eval.api import ImageRequest, ModelSpec, image_seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("tiny", "janusflow"), default="tiny",
                        help="janusflow-tiny, or tiny widths at JanusFlow-1.3B's 576-token latent grid")  # fmt: skip
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--images-per-prompt", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30, help="Euler steps (JanusFlow: 30)")
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="janusflow-bench-") as scratch:
        model_args = {"steps": str(args.steps)}
        if args.shape == "tiny":
            spec = ModelSpec("janusflow-tiny", device="cpu", args=model_args)
        else:
            folder = Path(scratch) / "janusflow-shaped"
            build_tiny_checkpoint(folder, text_layers=4, image_size=384, patch_size=16, vae_blocks=4)
            spec = ModelSpec("janusflow", model_path=str(folder), device="cpu",
                             args={**model_args, "vae": str(folder / TINY_VAE_FOLDER)})  # fmt: skip
        adapter = JanusFlowAdapter.from_spec(spec)
        params = sum(p.numel() for p in adapter.model.parameters()) / 1e6
        channels, side, _ = adapter.latent_shape
        grid = adapter.checkpoint.arch.encoder.grid_side(side)
        print(
            f"model: {args.shape} ({params:.2f}M params, latent {channels}x{side}x{side}, {grid * grid} latent tokens, "
            f"{args.steps} Euler steps), torch threads {torch.get_num_threads()}"
        )
        requests = [
            ImageRequest(
                "bench", f"g{i}", i, PROMPTS[i % len(PROMPTS)], image_seeds(0, f"{i}", args.images_per_prompt), cfg_weight=2.0
            )
            for i in range(args.prompts)
        ]
        adapter.generate_images(requests[:1])  # warm-up
        batched_time, batched = timed(lambda: adapter.generate_images(requests), args.repeats)
        single_time, single = timed(lambda: [adapter.generate_images([r])[0] for r in requests], args.repeats)
        pairs = [(a, b) for x, y in zip(batched, single) for a, b in zip(x.images, y.images)]
        differences = np.stack([np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)) for a, b in pairs])
        count = args.prompts * args.images_per_prompt
        print(
            f"images {args.prompts} prompts x {args.images_per_prompt}: all prompts in one batch {batched_time:.3f} s "
            f"({count / batched_time:.2f} images/s), one prompt at a time {single_time:.3f} s "
            f"({count / single_time:.2f} images/s) -> batched/one-at-a-time speed-up x{single_time / batched_time:.2f}; "
            f"pixel values that differ: {int((differences > 0).sum())} of {differences.size} (at most "
            f"{int(differences.max())} grey level{'s' if differences.max() != 1 else ''})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
