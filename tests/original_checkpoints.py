"""Tiny Janus checkpoints for the original-format tests: a transformers-format model and its DeepSeek-layout twins."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch
from janus_eval.model_adapters.janus_original_config import original_config
from janus_eval.model_adapters.janus_original_export import (
    original_state_dict,
    write_original_checkpoint,
    write_processor_files,
    write_weights,
)
from janus_eval.model_adapters.janus_tiny import build_config, build_model, build_tokenizer
from torch import nn


def tiny_janus(seed: int = 0) -> tuple[Any, Any]:
    """A random tiny JanusForConditionalGeneration (lm_head not tied, as in every Janus) and its processor."""
    from transformers import JanusImageProcessor, JanusProcessor

    tokenizer = build_tokenizer()
    config = build_config(tokenizer)
    config.tie_word_embeddings = False
    model = build_model(tokenizer, config, seed)
    size = config.vision_config.image_size
    image_processor = JanusImageProcessor(
        size={"height": size, "width": size}, image_mean=[0.5] * 3, image_std=[0.5] * 3, min_size=14
    )
    processor = JanusProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        num_image_tokens=config.vision_config.num_image_tokens,
    )
    return model, processor


def save_transformers_format(model: Any, processor: Any, folder: Path) -> Path:
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def write_original(folder: Path, model: Any, processor: Any, **layout: Any) -> Path:
    """`model` in DeepSeek's layout (the inverse mapping): `safetensors=`, `shards=` as write_original_checkpoint."""
    return write_original_checkpoint(model, processor, folder, **layout)


def original_modules(model: Any, seed: int = 1) -> dict[str, nn.Module]:
    """DeepSeek-style modules with fresh random weights, built as DeepSeek's own code builds them.

    The SigLIP tower is timm's VisionTransformer (janus/models/siglip_vit.py is a copy of it, with its
    `attn_pool` head), the language model a LlamaForCausalLM, the aligners MlpProjector's Sequential,
    the generation head `vision_head`'s two Linears and the generation embedding an Embedding.
    """
    from transformers import LlamaForCausalLM

    config = model.config
    vision, vq, text = config.vision_config, config.vq_config, config.text_config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        modules = {
            "vision_model.vision_tower": timm_siglip(
                vision.image_size, vision.patch_size, vision.hidden_size, vision.num_hidden_layers,
                vision.num_attention_heads, vision.mlp_ratio,
            ),  # fmt: skip
            "aligner": _mlp_projector(vision.hidden_size, vision.projection_dim, vision.depth),
            "gen_aligner": _mlp_projector(vq.embed_dim, vq.projection_dim, vq.num_hidden_layers),
            "gen_head": _VisionHead(vq.image_token_embed_dim, vq.projection_dim, vq.num_embeddings),
            "gen_embed": nn.Embedding(vq.num_embeddings, vq.embed_dim),
            "language_model": LlamaForCausalLM(text).eval(),
        }
    for module in modules["vision_model.vision_tower"].modules():  # random weights, also for zero-initialised ones
        if isinstance(module, nn.LayerNorm):
            nn.init.normal_(module.weight, 1.0, 0.2)
            nn.init.normal_(module.bias, 0.0, 0.2)
    return modules


def timm_siglip(image_size: int, patch_size: int, width: int, depth: int, heads: int, mlp_ratio: float) -> nn.Module:
    """DeepSeek's SigLIP tower as its siglip_vit.py builds it: timm's VisionTransformer with the attention-pooling head."""
    import timm.models.vision_transformer as vit

    return vit.VisionTransformer(
        img_size=image_size,
        patch_size=patch_size,
        embed_dim=width,
        depth=depth,
        num_heads=heads,
        mlp_ratio=mlp_ratio,
        class_token=False,
        global_pool="map",
        num_classes=0,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
    ).eval()


class _VisionHead(nn.Module):
    """janus/models/modeling_vlm.py `vision_head`: output_mlp_projector, GELU, vision_head."""

    def __init__(self, n_embed: int, image_token_embed: int, image_token_size: int) -> None:
        super().__init__()
        self.output_mlp_projector = nn.Linear(n_embed, image_token_embed)
        self.vision_activation = nn.GELU()
        self.vision_head = nn.Linear(image_token_embed, image_token_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.vision_head(self.vision_activation(self.output_mlp_projector(hidden)))


class _Projector(nn.Module):
    def __init__(self, layers: nn.Sequential) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.layers(hidden)


def _mlp_projector(input_dim: int, n_embed: int, depth: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(input_dim, n_embed)]
    for _ in range(1, depth):
        layers += [nn.GELU(), nn.Linear(n_embed, n_embed)]
    return _Projector(nn.Sequential(*layers))


def write_original_from_modules(folder: Path, model: Any, processor: Any, modules: dict[str, nn.Module], **layout: Any) -> Path:
    """An original checkpoint whose tensors are the state dicts of DeepSeek-style `modules` under DeepSeek's names.

    Only the VQ model comes from `model` (through the inverse mapping): LlamaGen's VQ has no package to build it from.
    """
    folder.mkdir(parents=True, exist_ok=True)
    import json

    (folder / "config.json").write_text(json.dumps(original_config(model.config), indent=2))
    tensors = {name: tensor for name, tensor in original_state_dict(model).items() if name.startswith("gen_vision_model.")}
    for prefix, module in modules.items():
        tensors.update({f"{prefix}.{name}": tensor for name, tensor in module.state_dict().items()})
    write_weights(tensors, folder, safetensors=layout.get("safetensors", True), shards=layout.get("shards", 1))
    write_processor_files(processor, folder)
    return folder
