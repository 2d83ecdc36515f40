"""JanusFlow's original config schema (`model_type` "multi_modality" with the rectified-flow sections), read into sizes.

DeepSeek's `janus/janusflow/models/modeling_vlm.py` builds four parts from `config.json`: the language model
(`LlamaConfig(**language_config)`), the SigLIP understanding tower (`vision_und_enc_config`, a `CLIPVisionTower`
that names a preset), and the generation encoder and decoder (`vision_gen_enc_config` / `vision_gen_dec_config`,
`ShallowUViTEncoder(**params)` / `ShallowUViTDecoder(**params)` of `uvit.py`, whose keyword defaults fill what
`params` leaves out). It hard-codes the aligner and norm widths (1024, 2048, 768) of JanusFlow-1.3B; here they are
derived from the LLM hidden size, the SigLIP width and the encoder/decoder channels, so any consistent size works.
The SigLIP preset logic is the original-format Janus loader's (`janus_original_config.parse_vision_tower`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from janus_eval.model_adapters.janus_original_config import (
    ORIGINAL_MODEL_TYPE,
    SIGLIP_PRESETS,
    VisionTower,
    parse_language_config,
    parse_vision_tower,
)

from janus_eval.errors import UserError

if TYPE_CHECKING:
    from transformers import LlamaConfig

LANGUAGE_SECTION = "language_config"
VISION_SECTION = "vision_und_enc_config"
ENCODER_SECTION = "vision_gen_enc_config"
DECODER_SECTION = "vision_gen_dec_config"
SECTIONS = (LANGUAGE_SECTION, VISION_SECTION, ENCODER_SECTION, DECODER_SECTION)
# janus/janusflow/models/siglip_vit.py adds the 256-pixel tower of JanusFlow's 256 model to Janus' presets.
JANUSFLOW_SIGLIP_PRESETS: dict[str, dict[str, Any]] = {
    **SIGLIP_PRESETS,
    "siglip_large_patch16_256": {"patch_size": 16, "width": 1024, "layers": 24, "heads": 16, "mlp_ratio": 4, "global_pool": "map"},
}
# Keyword defaults of ShallowUViTEncoder / ShallowUViTDecoder (janus/janusflow/models/uvit.py), used for keys that
# `params` leaves out, as DeepSeek's constructors do. Other keys are swallowed by their **kwargs, and ignored here too.
ENCODER_DEFAULTS: dict[str, Any] = {
    "input_channels": 3,
    "stride": 4,
    "kernel_size": 7,
    "padding": None,
    "block_out_channels": [768],
    "layers_in_middle": 2,
    "hidden_size": 2048,
    "use_bias": True,
    "norm_eps": 1e-6,
    "dropout": 0.0,
    "use_mid_block": True,
}
DECODER_DEFAULTS: dict[str, Any] = {
    "in_channels": 768,
    "out_channels": 3,
    "block_out_channels": [768],
    "upsamples": 2,
    "layers_in_middle": 2,
    "hidden_size": 2048,
    "use_bias": True,
    "norm_eps": 1e-6,
    "dropout": 0.0,
    "use_mid_block": True,
}


@dataclass(frozen=True)
class FlowEncoderSpec:
    """The generation encoder: latent -> conv patches (+ ConvNeXt mid block) and the time embedding."""

    input_channels: int
    stride: int
    kernel_size: int
    padding: int
    channels: int
    layers_in_middle: int
    hidden_size: int
    use_bias: bool
    norm_eps: float
    use_mid_block: bool

    def grid_side(self, latent_side: int) -> int:
        """Side of the token grid the in-convolution makes from a latent of `latent_side`."""
        return (latent_side + 2 * self.padding - self.kernel_size) // self.stride + 1


@dataclass(frozen=True)
class FlowDecoderSpec:
    """The generation decoder: LLM features + the encoder's skip -> ConvNeXt mid block -> pixel-shuffle upsamplings."""

    in_channels: int
    out_channels: int
    channels: int
    upsamples: int
    layers_in_middle: int
    hidden_size: int
    use_bias: bool
    norm_eps: float
    use_mid_block: bool


@dataclass(frozen=True)
class JanusFlowArchitecture:
    """Every size of a JanusFlow checkpoint, read from its config.json (presets and defaults filled in)."""

    language: dict[str, Any]
    text_hidden: int
    rms_norm_eps: float
    tie_word_embeddings: bool
    vision: VisionTower
    encoder: FlowEncoderSpec
    decoder: FlowDecoderSpec

    @property
    def num_image_tokens(self) -> int:
        """Image features per understanding image (the boi slot comes on top)."""
        return self.vision.num_patches

    @property
    def image_size(self) -> int:
        """Generated side in pixels: the model's image size (DeepSeek's scripts hard-code 48x48 latents, 384 px,
        for JanusFlow-1.3B, whose tower takes 384 px)."""
        return self.vision.image_size

    def text_config(self) -> LlamaConfig:
        """The language model's LlamaConfig, as DeepSeek builds it (`LlamaConfig(**language_config)`)."""
        from transformers import LlamaConfig

        return LlamaConfig(**self.language)

    def check_latents(self, latent_channels: int, latent_side: int, where: str) -> int:
        """The token grid side for latents of this shape; UserError when the encoder/decoder cannot map them back."""
        if latent_channels != self.encoder.input_channels:
            raise UserError(
                f"{where}: the VAE makes {latent_channels}-channel latents but {ENCODER_SECTION}.params.input_channels "
                f"is {self.encoder.input_channels}: this VAE does not belong to this JanusFlow checkpoint"
            )
        grid = self.encoder.grid_side(latent_side)
        if grid < 1 or grid * 2**self.decoder.upsamples != latent_side:
            raise UserError(
                f"{where}: a {latent_side}x{latent_side} latent ({self.image_size} px) becomes a {grid}x{grid} token "
                f"grid, which {self.decoder.upsamples} decoder upsampling(s) do not bring back to {latent_side}x{latent_side}"
            )
        return grid


def is_janusflow_config(config: Mapping[str, Any]) -> bool:
    """Whether a config.json dict is JanusFlow's original layout (DeepSeek's model_type with the flow sections)."""
    return config.get("model_type") == ORIGINAL_MODEL_TYPE and any(
        section in config for section in (ENCODER_SECTION, DECODER_SECTION)
    )


def parse_janusflow_config(config: Mapping[str, Any], where: str) -> JanusFlowArchitecture:
    """Reads every size from a JanusFlow config.json; UserError (naming `where`) for what cannot be built."""
    if config.get("model_type") != ORIGINAL_MODEL_TYPE:
        raise UserError(
            f"{where}: config.json has model_type {config.get('model_type')!r}, not DeepSeek's {ORIGINAL_MODEL_TYPE!r}: "
            "not a JanusFlow checkpoint in its original layout"
        )
    for section in SECTIONS:
        if not isinstance(config.get(section), Mapping):
            hint = " (a Janus checkpoint? use janus_hf)" if "gen_vision_config" in config else ""
            raise UserError(f"{where}: no {section!r} section in config.json: not a JanusFlow checkpoint{hint}")
    language, text = parse_language_config(config[LANGUAGE_SECTION], where)
    vision = parse_vision_tower(config[VISION_SECTION], VISION_SECTION, where, JANUSFLOW_SIGLIP_PRESETS)
    encoder_params = _params(config[ENCODER_SECTION], ENCODER_SECTION, "ShallowUViTEncoder", ENCODER_DEFAULTS, where)
    decoder_params = _params(config[DECODER_SECTION], DECODER_SECTION, "ShallowUViTDecoder", DECODER_DEFAULTS, where)
    architecture = JanusFlowArchitecture(
        language=language,
        text_hidden=text.hidden_size,
        rms_norm_eps=float(text.rms_norm_eps),
        tie_word_embeddings=bool(text.tie_word_embeddings),
        vision=vision,
        encoder=_encoder(encoder_params, where),
        decoder=_decoder(decoder_params, where),
    )
    _check_consistency(architecture, where)
    return architecture


def _params(section: Mapping[str, Any], name: str, cls: str, defaults: Mapping[str, Any], where: str) -> dict[str, Any]:
    if cls not in str(section.get("cls", "")):  # DeepSeek's model_name_to_cls matches by substring
        raise UserError(f"{where}: {name}.cls is {section.get('cls')!r}; JanusFlow's is {cls!r}")
    params = section.get("params", {})
    if not isinstance(params, Mapping):
        raise UserError(f"{where}: {name}.params must be an object")
    values = {key: params.get(key, default) for key, default in defaults.items()}
    for key in ("use_bias", "use_mid_block"):
        if not isinstance(values[key], bool):
            raise UserError(f"{where}: {name}.params.{key} must be true or false, got {values[key]!r}")
    for key in ("norm_eps", "dropout"):
        if isinstance(values[key], bool) or not isinstance(values[key], (int, float)) or values[key] < 0:
            raise UserError(f"{where}: {name}.params.{key} must be a non-negative number, got {values[key]!r}")
    channels = values["block_out_channels"]
    if not isinstance(channels, (list, tuple)) or not channels or not all(_positive(c) for c in channels):
        raise UserError(f"{where}: {name}.params.block_out_channels must be a list of positive integers, got {channels!r}")
    values["name"] = name
    return values


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _int(values: Mapping[str, Any], key: str, where: str, minimum: int = 1) -> int:
    value = values[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        bound = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise UserError(f"{where}: {values['name']}.params.{key} must be {bound}, got {value!r}")
    return value


def _encoder(values: dict[str, Any], where: str) -> FlowEncoderSpec:
    kernel, stride = _int(values, "kernel_size", where), _int(values, "stride", where)
    if values["padding"] is None:
        values["padding"] = math.ceil(kernel - stride)  # ShallowUViTEncoder's default padding
    padding = _int(values, "padding", where, minimum=0)
    channels = values["block_out_channels"]
    # The in-convolution makes block_out_channels[0] channels and the mid block works on block_out_channels[-1].
    if values["use_mid_block"] and channels[0] != channels[-1]:
        raise UserError(f"{where}: {values['name']}.params.block_out_channels {channels} must start and end alike")
    return FlowEncoderSpec(
        input_channels=_int(values, "input_channels", where),
        stride=stride,
        kernel_size=kernel,
        padding=padding,
        channels=channels[0],
        layers_in_middle=_int(values, "layers_in_middle", where, minimum=0),
        hidden_size=_int(values, "hidden_size", where),
        use_bias=values["use_bias"],
        norm_eps=float(values["norm_eps"]),
        use_mid_block=values["use_mid_block"],
    )


def _decoder(values: dict[str, Any], where: str) -> FlowDecoderSpec:
    return FlowDecoderSpec(
        in_channels=_int(values, "in_channels", where),
        out_channels=_int(values, "out_channels", where),
        channels=values["block_out_channels"][-1],
        upsamples=_int(values, "upsamples", where),
        layers_in_middle=_int(values, "layers_in_middle", where, minimum=0),
        hidden_size=_int(values, "hidden_size", where),
        use_bias=values["use_bias"],
        norm_eps=float(values["norm_eps"]),
        use_mid_block=values["use_mid_block"],
    )


def _check_consistency(arch: JanusFlowArchitecture, where: str) -> None:
    """Widths that must agree for DeepSeek's forward pass to run at all."""
    encoder, decoder = arch.encoder, arch.decoder
    checks = (
        # the time embedding enters the LLM as one token
        (f"{ENCODER_SECTION}.params.hidden_size", encoder.hidden_size, "language_config hidden_size", arch.text_hidden),
        # the decoder's ConvNeXt blocks are conditioned on the encoder's time embedding
        (f"{DECODER_SECTION}.params.hidden_size", decoder.hidden_size, f"{ENCODER_SECTION}.params.hidden_size", encoder.hidden_size),
        # the decoder concatenates the encoder's features (its skip) to the LLM's
        (f"{DECODER_SECTION}.params.block_out_channels[-1]", decoder.channels, f"{ENCODER_SECTION}.params.block_out_channels[0]", encoder.channels),
        # the velocity has the latent's shape
        (f"{DECODER_SECTION}.params.out_channels", decoder.out_channels, f"{ENCODER_SECTION}.params.input_channels", encoder.input_channels),
    )
    for name, value, other, expected in checks:
        if value != expected:
            raise UserError(f"{where}: {name} is {value} but {other} is {expected}; JanusFlow needs them equal")
