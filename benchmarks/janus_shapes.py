"""Randomly initialised Janus models for the benchmarks: a CPU-sized one and the published Janus-Pro shapes.

`tiny` has Janus' real image grid (384 px, patch 16 -> 576 codes per image, 16x VQ upsampling) with narrow
widths, so the step loop runs its real number of steps on a CPU. `janus-pro-1b` / `janus-pro-7b` are built
from configs at the sizes of the released checkpoints (DeepSeek-LLM 1.5B / 7B text models, SigLIP-L/16 at
384 px, the VQ-16 tokenizer with a 16,384-code book), randomly initialised in memory: no download, so a GPU
machine can time them without the weights. The tokenizer and processor are janus-tiny's (their ids fit
every vocabulary here); prompts therefore tokenise differently from the real checkpoints, which changes
prompt lengths by a few tokens and not the cost of the 576 generation steps.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import torch
from janus_eval.model_adapters.janus_hf import JanusHFAdapter
from janus_eval.model_adapters.janus_loading import CheckpointInfo, ModelSource
from janus_eval.model_adapters.janus_tiny import TinyShape, build_config, build_tokenizer, ensure_tiny_checkpoint

from janus_eval.api import ModelSpec

SHAPES = ("tiny", "janus-pro-1b", "janus-pro-7b")
# Text models of the released checkpoints' language_config (DeepSeek-LLM): hidden, layers, heads, MLP width.
TEXT_SIZES: dict[str, dict[str, int]] = {
    "janus-pro-1b": {"hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 5632},
    "janus-pro-7b": {"hidden_size": 4096, "num_hidden_layers": 30, "num_attention_heads": 32, "intermediate_size": 11008},
}
VOCAB_SIZE = 102400  # DeepSeek-LLM's vocabulary
TINY_SHAPE = TinyShape(text_hidden=128, text_layers=4, image_size=384, patch_size=16, vq_channel_multiplier=(1,) * 5)


def janus_config(shape: str) -> Any:
    """The JanusConfig of a benchmark shape."""
    from transformers import JanusConfig, LlamaConfig

    tokenizer = build_tokenizer()
    if shape == "tiny":
        return build_config(tokenizer, TINY_SHAPE)
    sizes = TEXT_SIZES[shape]
    hidden = sizes["hidden_size"]
    text = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        num_key_value_heads=sizes["num_attention_heads"],
        max_position_embeddings=16384,
        rms_norm_eps=1e-6,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **sizes,
    )
    # transformers' Janus defaults are the released vision tower (SigLIP-L/16, 384 px, 576 tokens) and VQ-16
    # (16,384 codes of dimension 8, channels 128 x [1, 1, 2, 2, 4]); the projections meet the text width
    vision = {"projection_dim": hidden}
    vq = {"projection_dim": hidden, "image_token_embed_dim": hidden}
    image_token_id = tokenizer.convert_tokens_to_ids("<image_placeholder>")
    return JanusConfig(text_config=text, vision_config=vision, vq_config=vq, image_token_id=image_token_id)


def build_adapter(shape: str, device: str, args: dict[str, str] | None = None) -> JanusHFAdapter:
    """A JanusHFAdapter around a randomly initialised model of `shape` (bf16 on CUDA, float32 on CPU)."""
    from transformers import GenerationConfig, JanusForConditionalGeneration, JanusProcessor

    torch_device = torch.device(device)
    dtype = torch.bfloat16 if torch_device.type == "cuda" else torch.float32
    config = janus_config(shape)
    tokenizer = build_tokenizer()
    default_dtype = torch.get_default_dtype()
    torch.manual_seed(0)
    try:
        torch.set_default_dtype(dtype)
        with torch_device:
            model = JanusForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(default_dtype)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        generation_kwargs={"boi_token_id": tokenizer.convert_tokens_to_ids("<begin_of_image>")},
    )
    from transformers import JanusImageProcessorPil

    size = config.vision_config.image_size
    processor = JanusProcessor(
        image_processor=JanusImageProcessorPil(
            size={"height": size, "width": size}, image_mean=[0.5] * 3, image_std=[0.5] * 3, min_size=14
        ),
        tokenizer=tokenizer,
        use_default_system_prompt=False,
        num_image_tokens=config.vision_config.num_image_tokens,
    )
    processor.tokenizer.padding_side = "left"
    args = dict(args or {})
    spec = ModelSpec("janus_hf", device=device, args={"label": f"bench-{shape}", **args})
    source = ModelSource("janus_hf", str(ensure_tiny_checkpoint()) if shape == "tiny" else f"random:{shape}", is_local=False)
    adapter = JanusHFAdapter(
        spec,
        source,
        device=torch_device,
        dtype=dtype,
        checkpoint=CheckpointInfo(
            source_format="transformers", revision=None, commit=f"random-init-{shape}", do_normalize="checkpoint",
            processor_from=None, provenance={},
        ),
        chat_roles="plain",
        gen_roles="special",
        gen_roles_source="benchmark",
        cfg_dtype=args.get("cfg_dtype", "model"),
        compile=args.get("compile", "false"),
        image_preprocessing="deepseek",
        batch_size=None,
        image_batch_size=int(args["image_batch_size"]) if "image_batch_size" in args else None,
        seed=0,
        attn_implementation=None,
    )
    adapter.use_model(model, processor)
    return adapter


def parameter_count(adapter: JanusHFAdapter) -> int:
    return sum(parameter.numel() for parameter in adapter.model.parameters())


def peak_memory(device: torch.device) -> int | None:
    """Peak accelerator memory since the last reset (None on CPU)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return None


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def describe(adapter: JanusHFAdapter, shape: str) -> str:
    text = adapter.model.config.text_config
    return (
        f"shape {shape}: {parameter_count(adapter) / 1e6:.1f}M parameters (random init), text {text.hidden_size} x "
        f"{text.num_hidden_layers} layers, {adapter.num_image_tokens} codes per image, {adapter.dtype}, "
        f"device {adapter.device}, torch threads {torch.get_num_threads()}"
    )
