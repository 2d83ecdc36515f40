#!/usr/bin/env python
"""Image generation: the adapter's batched static-cache loop against DeepSeek's reference loop, at equal images.

The reference is the loop of DeepSeek's `generation_inference.py` (deepseek-ai/Janus 1daa72f) on the same
transformers model: one prompt per call with `parallel_size` images, conditional and unconditional rows
interleaved in a doubled batch, a dynamic key/value cache, guidance and softmax in the model dtype,
`torch.multinomial`, then one VQ decode of the call's images and the clip-and-cast to uint8. Ours: every
prompt of the run in one call (`--prompts-per-call`), static cache, per-image seeded sampling, truncated
pixels as PIL images. Prints images/s of both, the ratio and peak accelerator memory, measured in this run
after a warm-up of each.

    python benchmarks/image_generation.py                                  # tiny shape, CPU
    python benchmarks/image_generation.py --device cuda --shape janus-pro-7b --prompts 16 --compile
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import janus_shapes  # noqa: E402  (sets up sys.path and offline mode first)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from janus_eval.model_adapters.transformers_compat import cache_argument, cache_kwargs  # noqa: E402

from janus_eval.api import ImageRequest, image_seeds  # noqa: E402

PROMPTS = (
    "a photo of a cat",
    "a photo of two clocks standing on a long wooden bench",
    "a photo of a red apple and a blue bench",
    "a photo of a dog right of a teddy bear",
)


@torch.inference_mode()
def reference_generate(adapter: Any, prompt: str, parallel_size: int, cfg_weight: float, temperature: float) -> np.ndarray:
    """DeepSeek's generation_inference.py `generate`, on the transformers port: returns (parallel_size, H, W, 3) uint8."""
    model, device = adapter.model, adapter.device
    language_model = model.model.language_model
    input_ids = torch.LongTensor(adapter.image_prompt_ids(prompt))
    tokens = torch.zeros((parallel_size * 2, len(input_ids)), dtype=torch.int, device=device)
    for i in range(parallel_size * 2):
        tokens[i, :] = input_ids
        if i % 2 != 0:
            tokens[i, 1:-1] = adapter.uncond_fill_id
    inputs_embeds = model.get_input_embeddings()(tokens)
    generated = torch.zeros((parallel_size, adapter.num_image_tokens), dtype=torch.int, device=device)
    cache = None
    for i in range(adapter.num_image_tokens):
        kwargs = cache_kwargs(language_model, cache, None) if cache is not None else {}
        outputs = language_model(inputs_embeds=inputs_embeds, use_cache=True, **kwargs)
        cache = getattr(outputs, cache_argument(language_model))
        logits = model.model.generation_head(outputs.last_hidden_state[:, -1, :])
        logit_cond, logit_uncond = logits[0::2, :], logits[1::2, :]
        logits = logit_uncond + cfg_weight * (logit_cond - logit_uncond)
        probs = torch.softmax(logits / temperature, dim=-1)
        next_token = torch.multinomial(probs, num_samples=1)
        generated[:, i] = next_token.squeeze(dim=-1)
        next_token = torch.cat([next_token.unsqueeze(dim=1), next_token.unsqueeze(dim=1)], dim=1).view(-1)
        inputs_embeds = model.prepare_embeddings_for_image_generation(next_token).unsqueeze(dim=1)
    dec = model.decode_image_tokens(generated.to(torch.long)).to(torch.float32).cpu().numpy()
    dec = np.clip((dec + 1) / 2 * 255, 0, 255)
    visual = np.zeros(dec.shape, dtype=np.uint8)
    visual[:, :, :] = dec
    return visual


def requests_for(prompts: int, images_per_prompt: int, cfg_weight: float) -> list[ImageRequest]:
    return [
        ImageRequest("bench", f"p{i}", i, f"{PROMPTS[i % len(PROMPTS)]} ({i})", image_seeds(0, str(i), images_per_prompt),
                     cfg_weight=cfg_weight)  # fmt: skip
        for i in range(prompts)
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    model_args = {"compile": "true"} if args.compile else {}
    adapter = janus_shapes.build_adapter(args.shape, args.device, model_args)
    print(janus_shapes.describe(adapter, args.shape))
    requests = requests_for(args.prompts, args.images_per_prompt, args.cfg_weight)
    images = args.prompts * args.images_per_prompt

    def ours() -> None:
        step = args.prompts_per_call or len(requests)
        for start in range(0, len(requests), step):
            adapter.generate_images(requests[start : start + step])

    def reference() -> None:
        for request in requests:
            reference_generate(adapter, request.prompt, args.images_per_prompt, args.cfg_weight, 1.0)

    results: dict[str, Any] = {"shape": args.shape, "device": str(device), "images": images}
    adapter.generate_images(requests[: min(len(requests), args.prompts_per_call or len(requests))])  # warm-up
    reference_generate(adapter, requests[0].prompt, args.images_per_prompt, args.cfg_weight, 1.0)
    for name, function in (("reference", reference), ("ours", ours)):
        janus_shapes.reset_peak_memory(device)
        start = time.perf_counter()
        function()
        janus_shapes.synchronize(device)
        seconds = time.perf_counter() - start
        results[name] = {
            "seconds": round(seconds, 3),
            "images_per_second": round(images / seconds, 4),
            "peak_memory_bytes": janus_shapes.peak_memory(device),
        }
    results["ratio"] = round(results["ours"]["images_per_second"] / results["reference"]["images_per_second"], 3)
    if args.check_sync and device.type == "cuda":
        results["host_syncs_in_step_loop"] = count_step_syncs(adapter, requests[:1])
    return results


def count_step_syncs(adapter: Any, requests: list[ImageRequest]) -> str:
    """Runs one generation under CUDA's sync debug mode and reports whether the step loop synchronised."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            adapter.sample_image_tokens([_row(adapter, request, seed) for request in requests for seed in request.seeds])
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message)]
    return f"{len(syncs)} synchronising calls in one generation (prefill and setup included)"


def _row(adapter: Any, request: ImageRequest, seed: int) -> Any:
    from janus_eval.model_adapters.janus_sampling import ImageRow

    return ImageRow(0, adapter.image_prompt_ids(request.prompt), request, seed)


def print_table(results: dict[str, Any]) -> None:
    def memory(value: int | None) -> str:
        return f"{value / 2**30:.2f} GiB" if value is not None else "n/a (CPU)"

    print(f"image generation, {results['images']} images, {results['shape']} on {results['device']}")
    for name in ("reference", "ours"):
        row = results[name]
        print(f"  {name:<10} {row['seconds']:>9.2f} s  {row['images_per_second']:>8.3f} images/s  peak {memory(row['peak_memory_bytes'])}")
    print(f"  ratio ours / reference: x{results['ratio']:.2f}")
    if "host_syncs_in_step_loop" in results:
        print(f"  {results['host_syncs_in_step_loop']}")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--shape", choices=janus_shapes.SHAPES, default="tiny")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--images-per-prompt", type=int, default=2, help="the reference's parallel_size (GenEval: 4)")
    parser.add_argument("--prompts-per-call", type=int, default=0, help="ours: prompts per adapter call (0 = all)")
    parser.add_argument("--cfg-weight", type=float, default=5.0)
    parser.add_argument("--compile", action="store_true", help="ours with --model-args compile=true")
    parser.add_argument("--check-sync", action="store_true", help="CUDA: count host synchronisations of one generation")
    return parser


def main(argv: list[str] | None = None) -> int:
    results = run(parser().parse_args(argv))
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
