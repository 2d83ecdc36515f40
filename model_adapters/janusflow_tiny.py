"""janusflow-tiny: a tiny, randomly initialised JanusFlow in DeepSeek's original layout, built offline for tests and demos.

The folder holds what a JanusFlow hub snapshot holds (`config.json` in the original schema, `model.safetensors` under
DeepSeek's tensor names, the tokenizer, `processor_config.json` and `preprocessor_config.json`) plus a tiny SDXL-style
`AutoencoderKL` in diffusers' format under `vae/`, so the adapter loads it through exactly the code path of
deepseek-ai/JanusFlow-1.3B with `vae=DIR`. The same builder version always writes the same tensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from janus_eval.data.cache import cache_root, ensure_built

BUILDER_VERSION = 1
TINY_DIR_NAME = f"janusflow-tiny-v{BUILDER_VERSION}"
TINY_VAE_FOLDER = "vae"
SEED = 4321
TEXT_HIDDEN = 64
IMAGE_SIZE = 32  # 32 px: SigLIP patches of 8 (16 image tokens); a 16x16 latent, an 8x8 token grid
LATENT_CHANNELS = 4
SDXL_SCALING_FACTOR = 0.13025  # stabilityai/sdxl-vae's config
# Begin/end-of-image tags other than VLChatProcessor's defaults, which the tiny tokenizer lacks: the processor must take
# them from processor_config.json and add them at load time, as DeepSeek's VLChatProcessor does.
PROCESSOR_CONFIG = {
    "add_special_token": False,
    "ignore_id": -100,
    "image_end_tag": "<image_end>",
    "image_gen_tag": "<｜begin▁of▁generation｜>",
    "image_start_tag": "<image_beg>",
    "image_tag": "<image_placeholder>",
    "mask_prompt": True,
    "num_image_tokens": (IMAGE_SIZE // 8) ** 2,
    "processor_class": "VLChatProcessor",
    "sft_format": "deepseek_old",
}
# DeepSeek's VLMImageProcessor settings (resize-and-pad to the tower's size, grey background, mean/std 0.5).
PREPROCESSOR_CONFIG = {
    "background_color": [127, 127, 127],
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "VLMImageProcessor",
    "image_size": IMAGE_SIZE,
    "image_std": [0.5, 0.5, 0.5],
    "min_size": 14,
    "processor_class": "VLChatProcessor",
    "rescale_factor": 0.00392156862745098,
}
SPARE_VOCAB = 8  # embedding rows beyond the tokenizer, for the tags the processor adds


def tiny_checkpoint_dir(cache_dir: Path | None = None) -> Path:
    """Where the janusflow-tiny checkpoint of the current builder version lives."""
    return (cache_dir if cache_dir is not None else cache_root()) / "models" / TINY_DIR_NAME


def ensure_tiny_checkpoint(cache_dir: Path | None = None) -> Path:
    """The janusflow-tiny folder, built first (into a staging folder renamed into place) if it is not cached yet."""
    return ensure_built(tiny_checkpoint_dir(cache_dir), build_tiny_checkpoint)


def tiny_config(vocab_size: int, text_layers: int = 2, image_size: int = IMAGE_SIZE, patch_size: int = 8) -> dict[str, Any]:
    """A JanusFlow config.json in DeepSeek's schema with explicit tiny sizes (`siglip_cfg` instead of the preset's)."""
    return {
        "model_type": "multi_modality",
        "architectures": ["MultiModalityCausalLM"],
        "language_config": {
            "model_type": "llama",
            "vocab_size": vocab_size,
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 2 * TEXT_HIDDEN,
            "num_hidden_layers": text_layers,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
            # wider than the 0.02 default so that the random model's greedy text depends on the prompt
            "initializer_range": 0.1,
        },
        "vision_und_enc_config": {
            "cls": "CLIPVisionTower",
            "model_type": "vision_und_enc",
            "params": {
                "image_size": image_size,
                "model_name": "siglip_large_patch16_384",
                "select_feature": "same",
                "select_layer": -1,
                "siglip_cfg": {"image_size": image_size, "patch_size": patch_size, "width": 32, "layers": 2, "heads": 2, "mlp_ratio": 4, "global_pool": "map"},
            },
        },
        "vision_gen_enc_config": {
            "cls": "ShallowUViTEncoder",
            "model_type": "vision_gen_enc",
            "params": {
                "input_channels": LATENT_CHANNELS,
                "stride": 2,
                "kernel_size": 2,
                "padding": 0,
                "block_out_channels": [32],
                "layers_in_middle": 1,
                "hidden_size": TEXT_HIDDEN,
                "use_mid_block": True,
            },
        },
        "vision_gen_dec_config": {
            "cls": "ShallowUViTDecoder",
            "model_type": "vision_gen_dec",
            "params": {
                "in_channels": 32,
                "out_channels": LATENT_CHANNELS,
                "block_out_channels": [32],
                "upsamples": 1,
                "layers_in_middle": 1,
                "hidden_size": TEXT_HIDDEN,
                "use_mid_block": True,
            },
        },
    }


def build_tiny_checkpoint(
    out_dir: Path, text_layers: int = 2, image_size: int = IMAGE_SIZE, patch_size: int = 8, vae_blocks: int = 2
) -> None:
    """Writes a complete tiny JanusFlow checkpoint (original layout, tokenizer, processor files, `vae/`) into `out_dir`.

    The defaults are janusflow-tiny; `image_size=384, patch_size=16, vae_blocks=4` give JanusFlow-1.3B's grids (576
    image features, a 48x48 latent, 576 latent tokens) at tiny widths, for benchmarks.
    """
    import torch
    from janus_eval.model_adapters.janus_tiny import build_tokenizer
    from janus_eval.model_adapters.janusflow_config import parse_janusflow_config
    from janus_eval.model_adapters.janusflow_model import JanusFlowModel
    from janus_eval.model_adapters.janusflow_weights import JanusFlowWeightMapping
    from safetensors.torch import save_file

    from janus_eval.data.cache import quiet_hf_progress

    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": [PROCESSOR_CONFIG["image_gen_tag"]]})
    config = tiny_config(len(tokenizer) + SPARE_VOCAB, text_layers, image_size, patch_size)
    arch = parse_janusflow_config(config, "janusflow-tiny")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = JanusFlowModel(arch).eval()
        _randomise_constant_parameters(model)
        vae = build_tiny_vae(image_size, vae_blocks)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = JanusFlowWeightMapping(arch).to_original(model.state_dict())
    save_file({name: tensor.contiguous() for name, tensor in sorted(tensors.items())}, str(out_dir / "model.safetensors"))
    for name, content in (("config.json", config), ("processor_config.json", {**PROCESSOR_CONFIG, "num_image_tokens": arch.num_image_tokens}),
                          ("preprocessor_config.json", {**PREPROCESSOR_CONFIG, "image_size": image_size})):  # fmt: skip
        (out_dir / name).write_text(json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    with quiet_hf_progress():
        tokenizer.save_pretrained(out_dir)
        vae.save_pretrained(out_dir / TINY_VAE_FOLDER)
    for path in (out_dir / TINY_VAE_FOLDER).iterdir():  # safetensors writes owner-only files; a cache is shared
        path.chmod(0o644)


def _randomise_constant_parameters(model: Any) -> None:
    """Norm weights of one and zero-initialised parameters (GRN, the begin-of-image embedding) get random values,
    so every parameter of the tiny model changes its outputs (and a wrong name mapping shows)."""
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("language_model.") or name.startswith("vision_tower."):
                continue
            if torch.all(parameter == parameter.flatten()[0]):
                parameter.copy_(parameter + 0.2 * torch.randn_like(parameter))


def build_tiny_vae(image_size: int = IMAGE_SIZE, blocks: int = 2) -> Any:
    """A randomly initialised SDXL-style AutoencoderKL (4 latent channels, SDXL's scaling factor) with `blocks` down
    blocks: one latent cell per 2**(blocks - 1) pixels a side (SDXL's VAE has 4: 8 pixels)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=(32,) * blocks,
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=32,
        sample_size=image_size,
        scaling_factor=SDXL_SCALING_FACTOR,
    ).eval()
