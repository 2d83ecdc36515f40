"""Tiny JanusFlow checkpoints in DeepSeek's layout, built for the tests from DeepSeek-style modules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from janus_eval.model_adapters.janusflow_config import JanusFlowArchitecture, parse_janusflow_config
from janus_eval.model_adapters.janusflow_model import FlowDecoder, FlowEncoder
from janus_eval.model_adapters.janusflow_tiny import TINY_VAE_FOLDER, ensure_tiny_checkpoint
from torch import nn

from tests.original_checkpoints import timm_siglip

SIDE_FILES = ("tokenizer.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")


def deepseek_modules(arch: JanusFlowArchitecture, seed: int = 7) -> dict[str, nn.Module]:
    """The parts of DeepSeek's MultiModalityCausalLM under its attribute names, with random weights: timm's SigLIP
    (janus/janusflow/models/siglip_vit.py is a copy of it, with the attention-pooling head), transformers' Llama,
    plain Linear aligners and Llama's RMSNorm. The flow encoder/decoder have no package to build them from: they
    are this project's modules, whose parameter names are DeepSeek's."""
    from transformers import LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    vision, hidden = arch.vision, arch.text_hidden
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tower = timm_siglip(vision.image_size, vision.patch_size, vision.width, vision.layers, vision.heads, vision.mlp_ratio)
        modules: dict[str, nn.Module] = {
            "vision_und_enc_model.vision_tower": tower,
            "vision_und_enc_aligner": nn.Linear(vision.width, hidden),
            "vision_gen_enc_model": FlowEncoder(arch.encoder),
            "vision_gen_enc_aligner": nn.Linear(arch.encoder.channels, hidden),
            "vision_gen_dec_model": FlowDecoder(arch.decoder),
            "vision_gen_dec_aligner_norm": LlamaRMSNorm(hidden, eps=arch.rms_norm_eps),
            "vision_gen_dec_aligner": nn.Linear(hidden, arch.decoder.in_channels),
            "language_model": LlamaForCausalLM(arch.text_config()).eval(),
        }
        for name, module in modules.items():  # norms and zero-initialised parameters get random values too
            if name != "language_model":
                for parameter in module.parameters():
                    if torch.all(parameter == parameter.flatten()[0]):
                        parameter.data.normal_(1.0, 0.2)
    return modules


def deepseek_tensors(modules: dict[str, nn.Module], hidden: int, seed: int = 8) -> dict[str, torch.Tensor]:
    """The state dict DeepSeek's model would save: every module's tensors under its prefix, and beg_of_und_embed."""
    tensors = {f"{prefix}.{name}": tensor.detach().clone() for prefix, module in modules.items() for name, tensor in module.state_dict().items()}
    tensors["beg_of_und_embed"] = torch.randn(1, hidden, generator=torch.Generator().manual_seed(seed))
    return tensors


def write_checkpoint(folder: Path, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
    """A checkpoint folder: config.json, model.safetensors, the tiny model's tokenizer and processor files and VAE."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, str(folder / "model.safetensors"))
    tiny = ensure_tiny_checkpoint()
    for name in SIDE_FILES:
        shutil.copy(tiny / name, folder / name)
    shutil.copytree(tiny / TINY_VAE_FOLDER, folder / TINY_VAE_FOLDER, dirs_exist_ok=True)
    return folder


def tiny_original(folder: Path) -> tuple[Path, dict[str, nn.Module], dict[str, torch.Tensor]]:
    """A checkpoint of DeepSeek-style modules with janusflow-tiny's config; returns it, the modules and the tensors."""
    config = json.loads((ensure_tiny_checkpoint() / "config.json").read_text())
    arch = parse_janusflow_config(config, "test")
    modules = deepseek_modules(arch)
    tensors = deepseek_tensors(modules, arch.text_hidden)
    return write_checkpoint(folder, config, tensors), modules, tensors
