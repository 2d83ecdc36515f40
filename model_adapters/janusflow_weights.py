"""Weight names of DeepSeek's JanusFlow layout and of `JanusFlowModel`, both ways, on the original-format loader.

DeepSeek's `MultiModalityCausalLM` (janus/janusflow/models/modeling_vlm.py) names its parts `language_model`,
`vision_und_enc_model` (a CLIPVisionTower around timm's SigLIP: fused qkv, batched position embedding, an
attention-pooling head that inference never uses), `vision_und_enc_aligner`, `beg_of_und_embed`,
`vision_gen_enc_model`, `vision_gen_enc_aligner`, `vision_gen_dec_model`, `vision_gen_dec_aligner_norm` and
`vision_gen_dec_aligner`. The SigLIP part is renamed by the same rules as the original-format Janus tower
(`janus_original_weights.siglip_rules`); the other parts keep their inner names under our module names. Loading
streams one tensor at a time and names the first unexpected, mis-shaped or missing tensor
(`janus_original_weights.load_weights`).
"""

from __future__ import annotations

from pathlib import Path

from janus_eval.model_adapters.janus_original_weights import (
    NameRule,
    WeightMapping,
    load_weights,
    siglip_rules,
    weight_files,
)
from janus_eval.model_adapters.janusflow_config import JanusFlowArchitecture
from janus_eval.model_adapters.janusflow_model import JanusFlowModel

WHAT = "an original-format JanusFlow"
# DeepSeek's top-level names -> ours; the names below them are the same on both sides.
PREFIXES = (
    ("vision_und_enc_aligner", "und_aligner"),
    ("vision_gen_enc_model", "gen_encoder"),
    ("vision_gen_enc_aligner", "gen_enc_aligner"),
    ("vision_gen_dec_model", "gen_decoder"),
    ("vision_gen_dec_aligner_norm", "gen_dec_aligner_norm"),
    ("vision_gen_dec_aligner", "gen_dec_aligner"),
)
TIED_HEAD = "language_model.lm_head.weight"


def janusflow_rules(arch: JanusFlowArchitecture) -> list[NameRule]:
    """Every name pair of a JanusFlow architecture, most specific first."""
    return [
        *siglip_rules("vision_und_enc_model.vision_tower", "vision_tower"),
        NameRule("beg_of_und_embed", "und_begin_embedding"),
        *(NameRule(f"{original}.{{rest}}", f"{ours}.{{rest}}") for original, ours in PREFIXES),
        NameRule("language_model.lm_head.weight", None if arch.tie_word_embeddings else TIED_HEAD),
        NameRule("language_model.model.{rest}", "language_model.model.{rest}"),
    ]


class JanusFlowWeightMapping(WeightMapping):
    """The JanusFlow name table applied to tensors, in both directions (see WeightMapping)."""

    def __init__(self, arch: JanusFlowArchitecture) -> None:  # (WeightMapping's own tables are Janus')
        self.rules = janusflow_rules(arch)


def load_janusflow_weights(model: JanusFlowModel, folder: Path) -> None:
    """Copies an original checkpoint's tensors into `model`; UserError for any unexpected, mis-shaped or missing one."""
    arch = model.arch
    load_weights(
        model,
        weight_files(folder),
        JanusFlowWeightMapping(arch),
        what=WHAT,
        tied=[TIED_HEAD] if arch.tie_word_embeddings else [],
    )
    if arch.tie_word_embeddings:
        model.language_model.tie_weights()
