"""Tiny random scorer models for tests and the demo, built offline and deterministically, cached.

A Mask2Former in the transformers format (GenEval's detector "tiny" backend), an open_clip CLIP (the
colour classifier's "tiny" arch) and a TorchScript feature network in the format of clean-fid's Inception
(the FID tasks' "tiny" extractor). Each lives in a cache folder named after its builder version; a change
to a builder that changes its files must bump that version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from janus_eval.data.cache import cache_root, ensure_built, quiet_hf_progress
from janus_eval.rules.geneval import GENEVAL_CLASSES

TINY_DETECTOR_VERSION = 1
TINY_DETECTOR_DIR = f"geneval-mask2former-tiny-v{TINY_DETECTOR_VERSION}"
TINY_SEED = 2024
# Random heads give class probs near 1/81 and mask logits near 0, so nothing would pass GenEval's 0.3 cut.
# Scaling the class and mask output layers by this gain lifts a few classes (on every image tried: bus,
# scissors, airplane, kite, ...) to scores of about 0.3-0.7, so the demo runs detection, the colour check
# (its blue-bus-and-green-kite prompt) and the failure reasons end to end. Nothing reaches the 0.9 counting
# cut, so every demo counting prompt fails for lack of objects, and the demo's position prompts name classes
# it does not find, so the position rule is never reached; tests/test_geneval_rules.py covers both.
TINY_LOGIT_GAIN = 40.0

TINY_CLIP_VERSION = 1
TINY_CLIP_NAME = "janus-eval-tiny-clip"
TINY_CLIP_DIR = f"geneval-clip-tiny-v{TINY_CLIP_VERSION}"
TINY_CLIP_WEIGHTS = "open_clip_model.safetensors"
TINY_CLIP_SEED = 4242
# ViT 2 layers x 64 wide on 32 px, text 2 layers x 64 wide; the 49408-token embedding is the bulk (3.4M).
TINY_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


# ----------------------------------------------------------------------------- tiny Mask2Former


def tiny_detector_dir(cache_dir: Path | None = None) -> Path:
    """Where the tiny Mask2Former checkpoint of the current builder version lives."""
    return (cache_dir if cache_dir is not None else cache_root()) / "models" / TINY_DETECTOR_DIR


def ensure_tiny_detector(cache_dir: Path | None = None) -> Path:
    """The tiny Mask2Former checkpoint folder, built (deterministically, offline) if not cached yet."""
    return ensure_built(tiny_detector_dir(cache_dir), build_tiny_detector_checkpoint)


def build_tiny_detector_checkpoint(out_dir: Path, class_names: Sequence[str] = GENEVAL_CLASSES) -> None:
    """Writes a random-weight Mask2Former (Swin embed 24, depths 1/1/1/1, hidden 32, 10 queries) and its processor.

    `class_names` becomes the checkpoint's id2label (default: GenEval's classes, which the detector requires).
    """
    import torch
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    try:
        from transformers import Mask2FormerImageProcessor as Processor
    except ImportError:  # no torchvision
        from transformers import Mask2FormerImageProcessorPil as Processor

    backbone = SwinConfig(
        embed_dim=24, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )  # fmt: skip
    config = Mask2FormerConfig(
        backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32, num_queries=10,
        encoder_feedforward_dim=64, dim_feedforward=64, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
        id2label=dict(enumerate(class_names)), label2id={name: i for i, name in enumerate(class_names)},
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = Mask2FormerForUniversalSegmentation(config).eval()
    mask_head = model.get_submodule("model.transformer_module.decoder.mask_predictor.mask_embedder.2.0")
    with torch.no_grad():
        for parameter in (model.class_predictor.weight, mask_head.weight, mask_head.bias):
            parameter.mul_(TINY_LOGIT_GAIN)
    with quiet_hf_progress():
        model.save_pretrained(out_dir)
        Processor().save_pretrained(out_dir)  # ImageNet mean/std, bilinear: the real checkpoint's settings


# ----------------------------------------------------------------------------- tiny open_clip


def tiny_clip_dir(cache_dir: Path | None = None) -> Path:
    """Where the tiny open_clip checkpoint of the current builder version lives."""
    return (cache_dir if cache_dir is not None else cache_root()) / "models" / TINY_CLIP_DIR


def ensure_tiny_clip(cache_dir: Path | None = None) -> Path:
    """The tiny open_clip folder (config JSON + weights), built deterministically offline if not cached."""
    return ensure_built(tiny_clip_dir(cache_dir), build_tiny_clip, marker=TINY_CLIP_WEIGHTS)


def build_tiny_clip(out_dir: Path) -> None:
    """Writes the tiny model's open_clip config (`<name>.json`) and seeded random weights (safetensors)."""
    import torch
    from open_clip.model import CLIP
    from safetensors.torch import save_file

    (out_dir / f"{TINY_CLIP_NAME}.json").write_text(json.dumps(TINY_CLIP_CONFIG, indent=1, sort_keys=True) + "\n")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_CLIP_SEED)
        model = CLIP(**TINY_CLIP_CONFIG)
    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, out_dir / TINY_CLIP_WEIGHTS)


def register_tiny_clip(cache_dir: Path | None = None) -> tuple[str, str]:
    """Builds the tiny CLIP if needed and adds its config to open_clip; returns (arch name, weights file)."""
    import open_clip

    folder = ensure_tiny_clip(cache_dir)
    open_clip.add_model_config(folder / f"{TINY_CLIP_NAME}.json")
    return TINY_CLIP_NAME, str(folder / TINY_CLIP_WEIGHTS)


# ----------------------------------------------------------------------------- tiny FID feature network

TINY_FID_VERSION = 1
TINY_FID_DIR = f"fid-features-tiny-v{TINY_FID_VERSION}"
TINY_FID_FILE = "tiny-feature-network.pt"
TINY_FID_SEED = 2026


def ensure_tiny_fid_network(cache_dir: Path | None = None) -> Path:
    """The tiny FID feature network's TorchScript file, built (deterministically, offline) if not cached."""
    folder = (cache_dir if cache_dir is not None else cache_root()) / "models" / TINY_FID_DIR
    return ensure_built(folder, build_tiny_fid_network, marker=TINY_FID_FILE) / TINY_FID_FILE


def build_tiny_fid_network(out_dir: Path) -> None:
    """Writes `TinyFeatureNetwork` with seeded random weights as TorchScript, like clean-fid's Inception file."""
    import warnings

    import torch

    from janus_eval.scorers.tiny_fid_network import TinyFeatureNetwork

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_FID_SEED)
        network = TinyFeatureNetwork().eval()
    with warnings.catch_warnings():  # TorchScript is deprecated, but it is the format of the real weights
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(network), str(out_dir / TINY_FID_FILE))
