#!/usr/bin/env python
"""Throughput of the Janus adapter: batched vs one-at-a-time, text and image generation.

Runs offline on janus-tiny (or a bigger "janus-shaped" tiny model with Janus' 576-token image
grid) and prints wall-clock ratios measured in this one run, after a warm-up call. Also checks
that batching did not change any output, and times our CFG loop against transformers'
`generate(generation_mode="image")` on the same greedy rows.

    python benchmarks/adapter_throughput.py
    python benchmarks/adapter_throughput.py --shape janus --image-requests 2 --images-per-request 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import numpy as np
import torch
from janus_eval.model_adapters.janus_hf import JanusHFAdapter
from janus_eval.model_adapters.janus_sampling import ImageRow
from janus_eval.model_adapters.janus_tiny import TinyShape, build_tiny_checkpoint
from PIL import Image

from janus_eval.api import (
    ChatMessage,
    ImageRequest,
    ModelSpec,
    TextRequest,
    image_seeds,
)

# Janus' real grid: 384 px, patch 16 -> 24 x 24 = 576 generated codes, VQ upsampling 16x -> 384 px.
JANUS_SHAPE = TinyShape(
    text_hidden=128, text_layers=4, image_size=384, patch_size=16, vq_channel_multiplier=(1, 1, 1, 1, 1)
)
QUESTIONS = (
    "\nIs there a dog in the image?\nAnswer the question using a single word or phrase.",
    "\nWhat colour is the car?",
    "\nHow many people are there in the picture? Answer with a number.",
    "\nDescribe the scene.",
)
PROMPTS = (
    "a photo of a cat",
    "a photo of two clocks standing on a long wooden bench in a park at sunset",
    "a red apple",
    "a blue bench and a green bicycle",
)


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall-clock time of `repeats` calls (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def text_requests(count: int, max_new_tokens: int) -> list[TextRequest]:
    requests = []
    for index in range(count):
        colour = ((index * 70) % 256, (index * 130) % 256, (index * 30) % 256)
        image = Image.new("RGB", (64 + 8 * index, 48), colour)
        content: list[Any] = [image, QUESTIONS[index % len(QUESTIONS)]]
        requests.append(TextRequest("bench", f"t{index}", index, [ChatMessage("user", content)], max_new_tokens))
    return requests


def image_requests(count: int, per_request: int, cfg_weight: float) -> list[ImageRequest]:
    return [
        ImageRequest(
            "bench", f"g{i}", i, PROMPTS[i % len(PROMPTS)], image_seeds(0, f"{i}", per_request), cfg_weight=cfg_weight
        )
        for i in range(count)
    ]


def same_images(a: list[Any], b: list[Any]) -> bool:
    pairs = [(x, y) for out_a, out_b in zip(a, b) for x, y in zip(out_a.images, out_b.images)]
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shape", choices=("tiny", "janus"), default="tiny", help="janus-tiny or the 576-token janus-shaped tiny model"
    )
    parser.add_argument("--text-requests", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--image-requests", type=int, default=4)
    parser.add_argument("--images-per-request", type=int, default=4)
    parser.add_argument("--cfg-weight", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="janus-bench-") as scratch:
        if args.shape == "tiny":
            spec = ModelSpec("janus-tiny", device="cpu")
        else:
            folder = Path(scratch) / "janus-shaped"
            build_tiny_checkpoint(folder, JANUS_SHAPE)
            spec = ModelSpec("janus_hf", model_path=str(folder), device="cpu")
        adapter = JanusHFAdapter.from_spec(spec)
        config = adapter.model.config
        params = sum(p.numel() for p in adapter.model.parameters())
        print(
            f"model: {args.shape} ({params / 1e6:.2f}M params, {adapter.num_image_tokens} image tokens, "
            f"text hidden {config.text_config.hidden_size} x {config.text_config.num_hidden_layers} layers), "
            f"torch threads {torch.get_num_threads()}"
        )

        texts = text_requests(args.text_requests, args.max_new_tokens)
        adapter.generate_text(texts[:2])  # warm-up
        batched_time, batched = timed(lambda: adapter.generate_text(texts), args.repeats)
        single_time, single = timed(lambda: [adapter.generate_text([r])[0] for r in texts], args.repeats)
        print(
            f"text  {len(texts)} requests x {args.max_new_tokens} new tokens: batched {batched_time:.3f} s, "
            f"one-at-a-time {single_time:.3f} s -> speed-up x{single_time / batched_time:.2f}; "
            f"outputs identical: {batched == single}"
        )

        images = image_requests(args.image_requests, args.images_per_request, args.cfg_weight)
        rows = [
            ImageRequest(r.task, r.sample_id, r.index, r.prompt, [seed], cfg_weight=r.cfg_weight)
            for r in images
            for seed in r.seeds
        ]
        adapter.generate_images(images[:1])  # warm-up
        image_repeats = max(1, args.repeats if args.shape == "tiny" else 1)
        batched_time, batched_images = timed(lambda: adapter.generate_images(images), image_repeats)
        single_time, single_images = timed(lambda: [adapter.generate_images([row])[0] for row in rows], image_repeats)
        regrouped = [
            type(batched_images[0])(
                [img for out in single_images[i : i + args.images_per_request] for img in out.images]
            )
            for i in range(0, len(single_images), args.images_per_request)
        ]
        print(
            f"image {len(images)} prompts x {args.images_per_request} images, cfg {args.cfg_weight}: "
            f"batched {batched_time:.3f} s, one image at a time {single_time:.3f} s -> speed-up "
            f"x{single_time / batched_time:.2f}; images identical: {same_images(batched_images, regrouped)}"
        )

        greedy = [
            ImageRow(
                i,
                adapter.image_prompt_ids(r.prompt),
                ImageRequest(r.task, r.sample_id, r.index, r.prompt, [0], cfg_weight=args.cfg_weight, temperature=0.0),
                0,
            )
            for i, r in enumerate(images)
        ]
        inputs = adapter.processor(
            text=[adapter.render_image_prompt(r.prompt) for r in images],
            generation_mode="image",
            padding=True,
            return_tensors="pt",
        )
        guidance = args.cfg_weight if args.cfg_weight > 1 else 5.0
        ours_time, ours = timed(lambda: adapter.sample_image_tokens(greedy), image_repeats)
        hf_time, reference = timed(
            lambda: adapter.model.generate(**inputs, generation_mode="image", guidance_scale=guidance, do_sample=False),
            image_repeats,
        )
        print(
            f"codes {len(greedy)} greedy rows (no VQ decode): our CFG loop {ours_time:.3f} s, transformers generate "
            f"{hf_time:.3f} s -> ratio (ours/transformers) {ours_time / hf_time:.2f}; tokens identical: {torch.equal(ours, reference)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
