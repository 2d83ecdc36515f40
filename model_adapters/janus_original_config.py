"""DeepSeek's original Janus config schema (`model_type` "multi_modality"), read and turned into transformers' JanusConfig.

DeepSeek's `config.json` names its parts instead of listing their sizes: the SigLIP tower by
`vision_config.params.model_name` (sizes in `janus/models/siglip_vit.py`, `SigLIP_MODEL_CONFIG`) and
the VQ tokenizer by `gen_vision_config.cls` (`janus/models/vq_model.py`, `VQ_16`, built without
arguments). Those presets give the sizes here; where a config spells them out (`params.siglip_cfg`,
`gen_vision_config.params.vq_cfg`, as small test checkpoints do) the explicit values win. Every other
width comes from the config itself. Parts of the original design that transformers' Janus cannot
represent are refused with a message, never approximated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from janus_eval.errors import UserError

if TYPE_CHECKING:
    from transformers import JanusConfig, LlamaConfig

ORIGINAL_MODEL_TYPE = "multi_modality"
SECTIONS = (
    "language_config",
    "vision_config",
    "aligner_config",
    "gen_vision_config",
    "gen_aligner_config",
    "gen_head_config",
)
# JanusFlow shares the model_type but replaces the VQ path by a rectified-flow encoder/decoder.
JANUSFLOW_SECTIONS = ("vision_gen_enc_config", "vision_gen_dec_config")

# janus/models/siglip_vit.py, SigLIP_MODEL_CONFIG (its image_size is not used: the tower takes params.image_size).
SIGLIP_PRESETS: dict[str, dict[str, Any]] = {
    "siglip_so400m_patch14_384": {"patch_size": 14, "width": 1152, "layers": 27, "heads": 16, "mlp_ratio": 3.7362, "global_pool": "map"},
    "siglip_so400m_patch14_224": {"patch_size": 14, "width": 1152, "layers": 27, "heads": 16, "mlp_ratio": 3.7362, "global_pool": "map"},
    "siglip_large_patch16_384": {"patch_size": 16, "width": 1024, "layers": 24, "heads": 16, "mlp_ratio": 4, "global_pool": "map"},
}
SIGLIP_KEYS = ("image_size", "patch_size", "width", "layers", "heads", "mlp_ratio", "global_pool")
# CLIPVisionTower's defaults (janus/models/clip_encoder.py) for params a config leaves out.
DEFAULT_TOWER_IMAGE_SIZE = 336
DEFAULT_SELECT_LAYER = -2

# janus/models/vq_model.py: ModelArgs defaults with VQ_16's channel multipliers; Encoder/Decoder use ch=128, 2 res blocks.
VQ_PRESETS: dict[str, dict[str, Any]] = {
    "VQ-16": {
        "ch": 128,
        "ch_mult": [1, 1, 2, 2, 4],
        "num_res_blocks": 2,
        "z_channels": 256,
        "codebook_size": 16384,
        "codebook_embed_dim": 8,
    },
}
VQ_KEYS = ("ch", "ch_mult", "num_res_blocks", "z_channels", "codebook_size", "codebook_embed_dim")
# ModelArgs fields that only matter for training.
VQ_TRAINING_KEYS = ("codebook_show_usage", "commit_loss_beta", "entropy_loss_ratio", "dropout_p")

# Training-time or bookkeeping keys of language_config that do not describe the network.
LANGUAGE_IGNORED_KEYS = ("model_type", "torch_dtype", "dtype", "bf16", "fp16", "use_cache", "architectures")
# Token ids come from the tokenizer, as transformers' conversion script takes them.
TOKEN_ID_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id", "tie_word_embeddings")


@dataclass(frozen=True)
class VisionTower:
    """The SigLIP ViT of the understanding path, after `select_layer` truncation."""

    image_size: int
    patch_size: int
    width: int
    layers: int
    heads: int
    mlp_ratio: float
    global_pool: str

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def vision_config_args(self) -> dict[str, Any]:
        """The tower's sizes as transformers' JanusVisionConfig names them (placeholder features per image included)."""
        return {
            "hidden_size": self.width,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "image_size": self.image_size,
            "patch_size": self.patch_size,
            "mlp_ratio": self.mlp_ratio,
            "num_image_tokens": self.num_patches,
        }


@dataclass(frozen=True)
class Projector:
    """An `MlpProjector` (janus/models/projector.py): Linear, then (GELU, Linear) x (depth - 1)."""

    projector_type: str
    input_dim: int
    n_embed: int
    depth: int


@dataclass(frozen=True)
class VQTokenizer:
    """The VQ model of the generation path (LlamaGen's VQ-16 layout)."""

    ch: int
    ch_mult: tuple[int, ...]
    num_res_blocks: int
    z_channels: int
    codebook_size: int
    codebook_embed_dim: int


@dataclass(frozen=True)
class GenHead:
    """`vision_head`: Linear(n_embed, image_token_embed), GELU, Linear(image_token_embed, image_token_size)."""

    n_embed: int
    image_token_embed: int
    image_token_size: int


@dataclass(frozen=True)
class OriginalArchitecture:
    """Every size of an original-format Janus, read from its config.json (presets filled in)."""

    language: dict[str, Any]
    text_hidden: int
    tie_word_embeddings: bool
    vision: VisionTower
    aligner: Projector
    vq: VQTokenizer
    gen_embed_size: int  # gen_vision_config.params.image_token_size: rows of gen_embed
    gen_embed_dim: int  # gen_vision_config.params.n_embed: width of gen_embed
    gen_aligner: Projector
    gen_head: GenHead


def is_original_config(config: Mapping[str, Any]) -> bool:
    """Whether a config.json dict is DeepSeek's original layout (checked in full by `parse_original_config`)."""
    return config.get("model_type") == ORIGINAL_MODEL_TYPE


def parse_original_config(config: Mapping[str, Any], where: str) -> OriginalArchitecture:
    """Reads every size from an original config.json; UserError (naming `where`) for what cannot be converted."""
    if any(section in config for section in JANUSFLOW_SECTIONS):
        raise UserError(
            f"{where}: this is a JanusFlow checkpoint (it has {', '.join(s for s in JANUSFLOW_SECTIONS if s in config)}); "
            "transformers has no JanusFlow model, so janus_hf cannot load it: use --model janusflow (or janusflow-1.3b)"
        )
    for section in SECTIONS:
        if not isinstance(config.get(section), Mapping):
            raise UserError(f"{where}: model_type {ORIGINAL_MODEL_TYPE!r} but no {section!r} section in config.json")
    language, text = parse_language_config(config["language_config"], where)
    vision = parse_vision_tower(config["vision_config"], "vision_config", where)
    aligner = _projector(config["aligner_config"], "aligner_config", where)
    gen_aligner = _projector(config["gen_aligner_config"], "gen_aligner_config", where)
    gen_params = _params(config["gen_vision_config"], "gen_vision_config", where)
    vq = _vq_tokenizer(config["gen_vision_config"], where)
    head_config = config["gen_head_config"]
    _expect_cls(head_config, "gen_head_config", "vision_head", where)
    head_params = _params(head_config, "gen_head_config", where)
    gen_head = GenHead(
        n_embed=_int(head_params, "n_embed", "gen_head_config", where),
        image_token_embed=_int(head_params, "image_token_embed", "gen_head_config", where),
        image_token_size=_int(head_params, "image_token_size", "gen_head_config", where),
    )
    architecture = OriginalArchitecture(
        language=language,
        text_hidden=text.hidden_size,
        tie_word_embeddings=bool(text.tie_word_embeddings),
        vision=vision,
        aligner=aligner,
        vq=vq,
        gen_embed_size=_int(gen_params, "image_token_size", "gen_vision_config", where),
        gen_embed_dim=_int(gen_params, "n_embed", "gen_vision_config", where),
        gen_aligner=gen_aligner,
        gen_head=gen_head,
    )
    _check_consistency(architecture, where)
    return architecture


def parse_language_config(section: Mapping[str, Any], where: str) -> tuple[dict[str, Any], LlamaConfig]:
    """`language_config` as DeepSeek reads it: the network's keys and the LlamaConfig they make (its defaults
    for what the section leaves out)."""
    from transformers import LlamaConfig

    language = {key: value for key, value in section.items() if not key.startswith("_") and key not in LANGUAGE_IGNORED_KEYS}
    if section.get("model_type", "llama") != "llama":
        raise UserError(f"{where}: language_config.model_type must be 'llama', got {section['model_type']!r}")
    try:
        # DeepSeek builds LlamaConfig(**language_config): keys it leaves out take LlamaConfig's defaults.
        return language, LlamaConfig(**language)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: language_config is not a valid Llama config: {exc}") from None


def _params(section: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    params = section.get("params", {})
    if not isinstance(params, Mapping):
        raise UserError(f"{where}: {name}.params must be an object")
    return params


def _int(params: Mapping[str, Any], key: str, name: str, where: str) -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"{where}: {name}.params.{key} must be a positive integer, got {value!r}")
    return value


def _expect_cls(section: Mapping[str, Any], name: str, expected: str, where: str) -> None:
    cls = section.get("cls", "")
    if expected not in str(cls):  # DeepSeek's model_name_to_cls matches by substring too
        raise UserError(f"{where}: {name}.cls is {cls!r}; only {expected!r} has a transformers counterpart")


def parse_vision_tower(
    section: Mapping[str, Any], name: str, where: str, presets: Mapping[str, Mapping[str, Any]] = SIGLIP_PRESETS
) -> VisionTower:
    """The SigLIP tower of a `CLIPVisionTower` section (`name` in messages): a named preset or `params.siglip_cfg`,
    then `select_layer` truncation; UserError for what transformers' SigLIP cannot represent."""
    _expect_cls(section, name, "CLIPVisionTower", where)
    params = _params(section, name, where)
    model_name = str(params.get("model_name", "siglip_large_patch16_384"))
    if not model_name.startswith("siglip"):
        raise UserError(f"{where}: {name}.params.model_name {model_name!r} is not a SigLIP tower; only SigLIP converts")
    if params.get("pixel_mean") is not None or params.get("pixel_std") is not None:
        raise UserError(
            f"{where}: {name}.params has pixel_mean/pixel_std (normalisation inside the model), "
            "which transformers' Janus does not have"
        )
    explicit = params.get("siglip_cfg", {})
    if not isinstance(explicit, Mapping):
        raise UserError(f"{where}: {name}.params.siglip_cfg must be an object")
    unknown = sorted(set(explicit) - set(SIGLIP_KEYS))
    if unknown:
        raise UserError(f"{where}: {name}.params.siglip_cfg has unsupported key(s) {', '.join(unknown)}; known: {', '.join(SIGLIP_KEYS)}")
    sizes = {**presets.get(model_name, {}), **explicit}
    # CLIPVisionTower hands params.image_size to the tower; the preset's own image size is never used.
    if "image_size" in params and "image_size" in explicit and params["image_size"] != explicit["image_size"]:
        raise UserError(
            f"{where}: {name}.params.image_size ({params['image_size']}) and siglip_cfg.image_size "
            f"({explicit['image_size']}) disagree"
        )
    sizes["image_size"] = params.get("image_size", explicit.get("image_size", DEFAULT_TOWER_IMAGE_SIZE))
    missing = [key for key in SIGLIP_KEYS if key not in sizes]
    if missing:
        raise UserError(
            f"{where}: {name}.params.model_name {model_name!r} is not a known SigLIP preset "
            f"({', '.join(presets)}) and siglip_cfg lacks {', '.join(missing)}"
        )
    for key in ("image_size", "patch_size", "width", "layers", "heads"):
        _int(sizes, key, f"{name} (siglip sizes)", where)
    if sizes["global_pool"] not in ("map", ""):
        raise UserError(
            f"{where}: SigLIP global_pool {sizes['global_pool']!r} is not supported (only 'map' or ''; "
            "other poolings drop the tower's final norm, which transformers' Janus always applies)"
        )
    # create_siglip_vit keeps layers + select_layer + 1 blocks for select_layer <= 0, else select_layer blocks.
    select_layer = params.get("select_layer", DEFAULT_SELECT_LAYER)
    if not isinstance(select_layer, int) or isinstance(select_layer, bool):
        raise UserError(f"{where}: {name}.params.select_layer must be an integer, got {select_layer!r}")
    layers = sizes["layers"]
    kept = min(layers, layers + select_layer + 1) if select_layer <= 0 else min(layers, select_layer)
    if kept < 1:
        raise UserError(f"{where}: {name}.params.select_layer {select_layer} leaves no SigLIP block")
    if sizes["image_size"] % sizes["patch_size"]:
        raise UserError(f"{where}: SigLIP image_size {sizes['image_size']} is not a multiple of patch_size {sizes['patch_size']}")
    if sizes["width"] % sizes["heads"]:
        raise UserError(f"{where}: SigLIP width {sizes['width']} is not a multiple of heads {sizes['heads']}")
    return VisionTower(
        image_size=sizes["image_size"],
        patch_size=sizes["patch_size"],
        width=sizes["width"],
        layers=kept,
        heads=sizes["heads"],
        mlp_ratio=float(sizes["mlp_ratio"]),
        global_pool=sizes["global_pool"],
    )


def _projector(section: Mapping[str, Any], name: str, where: str) -> Projector:
    _expect_cls(section, name, "MlpProjector", where)
    params = _params(section, name, where)
    projector_type = params.get("projector_type")
    if projector_type not in ("mlp_gelu", "linear"):
        raise UserError(f"{where}: {name}.params.projector_type {projector_type!r} is not supported (mlp_gelu or linear)")
    depth = 1 if projector_type == "linear" else params.get("depth", 1)  # MlpProjector: cfg.get("depth", 1)
    return Projector(
        projector_type=projector_type,
        input_dim=_int(params, "input_dim", name, where),
        n_embed=_int(params, "n_embed", name, where),
        depth=_int({"depth": depth}, "depth", name, where),
    )


def _vq_tokenizer(section: Mapping[str, Any], where: str) -> VQTokenizer:
    cls = str(section.get("cls", ""))
    params = _params(section, "gen_vision_config", where)
    explicit = params.get("vq_cfg", {})
    if not isinstance(explicit, Mapping):
        raise UserError(f"{where}: gen_vision_config.params.vq_cfg must be an object")
    unknown = sorted(set(explicit) - set(VQ_KEYS) - set(VQ_TRAINING_KEYS) - {"codebook_l2_norm"})
    if unknown:
        raise UserError(f"{where}: gen_vision_config.params.vq_cfg has unsupported key(s) {', '.join(unknown)}; known: {', '.join(VQ_KEYS)}")
    if explicit.get("codebook_l2_norm", True) is not True:
        raise UserError(f"{where}: vq_cfg.codebook_l2_norm false is not supported (transformers' Janus always normalises the codebook)")
    sizes = {**VQ_PRESETS.get(cls, {}), **{key: explicit[key] for key in VQ_KEYS if key in explicit}}
    missing = [key for key in VQ_KEYS if key not in sizes]
    if missing:
        raise UserError(
            f"{where}: gen_vision_config.cls {cls!r} is not a known VQ preset ({', '.join(VQ_PRESETS)}) "
            f"and vq_cfg lacks {', '.join(missing)}"
        )
    ch_mult = sizes["ch_mult"]
    if not isinstance(ch_mult, (list, tuple)) or not ch_mult or not all(isinstance(m, int) and m > 0 for m in ch_mult):
        raise UserError(f"{where}: vq ch_mult must be a list of positive integers, got {ch_mult!r}")
    for key in ("ch", "num_res_blocks", "z_channels", "codebook_size", "codebook_embed_dim"):
        _int(sizes, key, "gen_vision_config (vq sizes)", where)
    if any((sizes["ch"] * m) % 32 for m in ch_mult):
        raise UserError(f"{where}: vq channels ch={sizes['ch']} x ch_mult={list(ch_mult)} must be multiples of 32 (GroupNorm(32))")
    return VQTokenizer(
        ch=sizes["ch"],
        ch_mult=tuple(ch_mult),
        num_res_blocks=sizes["num_res_blocks"],
        z_channels=sizes["z_channels"],
        codebook_size=sizes["codebook_size"],
        codebook_embed_dim=sizes["codebook_embed_dim"],
    )


def _check_consistency(arch: OriginalArchitecture, where: str) -> None:
    """Widths that DeepSeek's modules keep apart but transformers' Janus shares must agree."""
    checks = (
        ("aligner_config.params.input_dim", arch.aligner.input_dim, "the SigLIP width", arch.vision.width),
        ("aligner_config.params.n_embed", arch.aligner.n_embed, "language_config hidden_size", arch.text_hidden),
        ("gen_aligner_config.params.n_embed", arch.gen_aligner.n_embed, "language_config hidden_size", arch.text_hidden),
        ("gen_aligner_config.params.input_dim", arch.gen_aligner.input_dim, "gen_vision_config.params.n_embed", arch.gen_embed_dim),
        ("gen_vision_config.params.n_embed", arch.gen_embed_dim, "the VQ codebook_embed_dim", arch.vq.codebook_embed_dim),
        ("gen_head_config.params.n_embed", arch.gen_head.n_embed, "language_config hidden_size", arch.text_hidden),
        ("gen_head_config.params.image_token_embed", arch.gen_head.image_token_embed, "gen_aligner_config.params.n_embed", arch.gen_aligner.n_embed),
        ("gen_head_config.params.image_token_size", arch.gen_head.image_token_size, "the VQ codebook_size", arch.vq.codebook_size),
        ("gen_vision_config.params.image_token_size", arch.gen_embed_size, "the VQ codebook_size", arch.vq.codebook_size),
    )
    for name, value, other, expected in checks:
        if value != expected:
            raise UserError(
                f"{where}: {name} is {value} but {other} is {expected}; transformers' Janus needs them equal"
            )


# ---------------------------------------------------------------------------- to transformers


def janus_config(
    arch: OriginalArchitecture,
    *,
    image_token_id: int,
    bos_token_id: int | None,
    eos_token_id: int | None,
    pad_token_id: int | None,
) -> JanusConfig:
    """The transformers JanusConfig of an original checkpoint; it never ties lm_head unless the config does."""
    from transformers import JanusConfig, LlamaConfig

    language = {key: value for key, value in arch.language.items() if key not in TOKEN_ID_KEYS}
    text = LlamaConfig(
        **{**language, "tie_word_embeddings": arch.tie_word_embeddings},
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )
    vision = {
        # num_image_tokens: placeholder features per image, and (through vq num_patches) codes per generated image
        **arch.vision.vision_config_args(),
        "projection_dim": arch.aligner.n_embed,
        "depth": arch.aligner.depth,
    }
    vq = {
        "embed_dim": arch.vq.codebook_embed_dim,
        "num_embeddings": arch.vq.codebook_size,
        "latent_channels": arch.vq.z_channels,
        "base_channels": arch.vq.ch,
        "channel_multiplier": list(arch.vq.ch_mult),
        "num_res_blocks": arch.vq.num_res_blocks,
        "projection_dim": arch.gen_aligner.n_embed,
        "num_hidden_layers": arch.gen_aligner.depth,
        "image_token_embed_dim": arch.gen_head.n_embed,
    }
    # JanusConfig.tie_word_embeddings defaults to True in transformers 5.x; Janus keeps lm_head separate.
    return JanusConfig(
        text_config=text,
        vision_config=vision,
        vq_config=vq,
        image_token_id=image_token_id,
        tie_word_embeddings=arch.tie_word_embeddings,
    )


# ---------------------------------------------------------------------------- back to the original schema


def original_config(config: JanusConfig, *, siglip_preset: str = "siglip_large_patch16_384", vq_preset: str = "VQ-16") -> dict[str, Any]:
    """The original-schema config.json of a transformers Janus config (the inverse of `janus_config`).

    Sizes that differ from the named presets are written out in `siglip_cfg` / `vq_cfg`, as DeepSeek's
    own config.json files leave them out when they match.
    """
    text, vision, vq = config.text_config, config.vision_config, config.vq_config
    language = {
        key: value
        for key, value in text.to_diff_dict().items()
        if key not in (*TOKEN_ID_KEYS, "transformers_version", "dtype", "torch_dtype") and not key.startswith("_")
    }
    language["model_type"] = "llama"
    language["tie_word_embeddings"] = bool(config.tie_word_embeddings)
    siglip = {
        "image_size": vision.image_size,
        "patch_size": vision.patch_size,
        "width": vision.hidden_size,
        "layers": vision.num_hidden_layers,
        "heads": vision.num_attention_heads,
        "mlp_ratio": vision.mlp_ratio,
        "global_pool": "map",
    }
    preset = {"image_size": siglip["image_size"], **SIGLIP_PRESETS[siglip_preset]}
    siglip_cfg = {key: value for key, value in siglip.items() if preset.get(key) != value}
    vision_params: dict[str, Any] = {
        "image_size": vision.image_size,
        "model_name": siglip_preset,
        "select_feature": "same",
        "select_layer": -1,
    }
    if siglip_cfg:
        vision_params["siglip_cfg"] = siglip_cfg
    vq_sizes = {
        "ch": vq.base_channels,
        "ch_mult": list(vq.channel_multiplier),
        "num_res_blocks": vq.num_res_blocks,
        "z_channels": vq.latent_channels,
        "codebook_size": vq.num_embeddings,
        "codebook_embed_dim": vq.embed_dim,
    }
    vq_cfg = {key: value for key, value in vq_sizes.items() if VQ_PRESETS[vq_preset].get(key) != value}
    gen_vision_params: dict[str, Any] = {"image_token_size": vq.num_embeddings, "n_embed": vq.embed_dim}
    if vq_cfg:
        gen_vision_params["vq_cfg"] = vq_cfg
    return {
        "model_type": ORIGINAL_MODEL_TYPE,
        "architectures": ["MultiModalityCausalLM"],
        "language_config": language,
        "vision_config": {"cls": "CLIPVisionTower", "model_type": "vision", "params": vision_params},
        "aligner_config": {"cls": "MlpProjector", "model_type": "aligner", "params": _projector_params(vision.hidden_size, vision.projection_dim, vision.depth)},
        "gen_vision_config": {"cls": vq_preset, "model_type": "gen_vision", "params": gen_vision_params},
        "gen_aligner_config": {"cls": "MlpProjector", "model_type": "gen_aligner", "params": _projector_params(vq.embed_dim, vq.projection_dim, vq.num_hidden_layers)},
        "gen_head_config": {
            "cls": "vision_head",
            "model_type": "gen_head",
            "params": {"n_embed": vq.image_token_embed_dim, "image_token_embed": vq.projection_dim, "image_token_size": vq.num_embeddings},
        },
    }


def _projector_params(input_dim: int, n_embed: int, depth: int) -> dict[str, Any]:
    return {"projector_type": "mlp_gelu", "input_dim": input_dim, "n_embed": n_embed, "depth": depth}
