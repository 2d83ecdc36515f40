"""Weight names of DeepSeek's original Janus layout and transformers' Janus, both ways, and streaming loads.

The mapping follows transformers' `convert_janus_weights_to_hf.py` (models/janus in the transformers git
repository): fused SigLIP `qkv` projections are split into q/k/v, the position embedding loses its
leading batch axis, LlamaGen's VQ blocks are renamed (`conv_blocks` -> `down`/`up`, `res` -> `block`,
`mid.0/1/2` -> `mid.block_1/attn_1/block_2`), the aligners' `layers.0/2/...` become `fc1` and
`hidden_layers.N`, the generation head and embeddings move under `model.`. The SigLIP attention-pooling
head and the VQ usage counter are not used at inference and are dropped. One table describes each
name pair, so the forward mapping (loading) and the inverse (writing an original checkpoint) agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from janus_eval.model_adapters.janus_original_config import OriginalArchitecture, Projector

from janus_eval.errors import UserError

if TYPE_CHECKING:
    from torch import nn

Transform = Literal["copy", "split_qkv", "squeeze"]
QKV = ("q", "k", "v")
WEIGHT_FILES = ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin")
_FIELD = {"rest": r".+", "proj": r"[qkv]"}
_INDEX_FIELDS = ("i", "level", "block")


@dataclass(frozen=True)
class NameRule:
    """One original name template and its transformers counterpart (None: dropped when loading).

    Templates hold fields in braces: `{i}`, `{level}`, `{block}` match an index, `{rest}` any tail,
    other fields one dotted segment; `{proj}` (q, k or v) appears on the transformers side of a split.
    """

    original: str
    converted: str | None
    transform: Transform = "copy"
    _forward: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _inverse: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_forward", _compile(self.original))
        object.__setattr__(self, "_inverse", _compile(self.converted) if self.converted else None)

    def convert(self, name: str) -> list[str] | None:
        """The transformers name(s) of an original name, [] when dropped, None when the rule does not apply."""
        match = self._forward.fullmatch(name)
        if match is None:
            return None
        if self.converted is None:
            return []
        fields = match.groupdict()
        if self.transform == "split_qkv":
            return [self.converted.format(**fields, proj=proj) for proj in QKV]
        return [self.converted.format(**fields)]

    def invert(self, name: str) -> tuple[str, str | None] | None:
        """(original name, q/k/v part or None) of a transformers name, None when the rule does not apply."""
        match = self._inverse.fullmatch(name) if self._inverse else None
        if match is None:
            return None
        fields = match.groupdict()
        return self.original.format(**fields), fields.get("proj")


def _compile(template: str) -> re.Pattern[str]:
    pattern, position = "", 0
    for match in re.finditer(r"\{(\w+)\}", template):
        name = match.group(1)
        pattern += re.escape(template[position : match.start()])
        expression = r"\d+" if name in _INDEX_FIELDS else _FIELD.get(name, r"[^.]+")
        pattern += f"(?P<{name}>{expression})"
        position = match.end()
    return re.compile(pattern + re.escape(template[position:]))


def _projector_rules(original: str, converted: str, projector: Projector) -> list[NameRule]:
    """MlpProjector's nn.Sequential: Linear at 0, then GELU/Linear pairs (Linear at 2, 4, ...); `linear` is one Linear."""
    if projector.projector_type == "linear":
        return [NameRule(f"{original}.layers.{{p}}", f"{converted}.fc1.{{p}}")]
    rules = [NameRule(f"{original}.layers.0.{{p}}", f"{converted}.fc1.{{p}}")]
    rules += [
        NameRule(f"{original}.layers.{2 * layer}.{{p}}", f"{converted}.hidden_layers.{layer - 1}.{{p}}")
        for layer in range(1, projector.depth)
    ]
    return rules


def siglip_rules(tower: str, vision: str) -> list[NameRule]:
    """DeepSeek's timm SigLIP tower under `tower` as transformers' Janus vision model under `vision`."""
    layer = f"{tower}.blocks.{{i}}"
    encoder = f"{vision}.encoder.layers.{{i}}"
    return [
        NameRule(f"{tower}.pos_embed", f"{vision}.embeddings.position_embedding.weight", "squeeze"),
        NameRule(f"{tower}.patch_embed.proj.{{p}}", f"{vision}.embeddings.patch_embedding.{{p}}"),
        NameRule(f"{layer}.norm1.{{p}}", f"{encoder}.layer_norm1.{{p}}"),
        NameRule(f"{layer}.norm2.{{p}}", f"{encoder}.layer_norm2.{{p}}"),
        NameRule(f"{layer}.attn.qkv.{{p}}", f"{encoder}.self_attn.{{proj}}_proj.{{p}}", "split_qkv"),
        NameRule(f"{layer}.attn.proj.{{p}}", f"{encoder}.self_attn.projection_layer.{{p}}"),
        NameRule(f"{layer}.mlp.fc1.{{p}}", f"{encoder}.mlp.fc1.{{p}}"),
        NameRule(f"{layer}.mlp.fc2.{{p}}", f"{encoder}.mlp.fc2.{{p}}"),
        NameRule(f"{tower}.norm.{{p}}", f"{vision}.post_layernorm.{{p}}"),
        NameRule(f"{tower}.attn_pool.{{rest}}", None),  # SigLIP's pooling head: unused (ignore_head=True)
    ]


def name_rules(arch: OriginalArchitecture) -> list[NameRule]:
    """Every name pair of one architecture, most specific first."""
    rules = [
        *siglip_rules("vision_model.vision_tower", "model.vision_model"),
        *_projector_rules("aligner", "model.aligner", arch.aligner),
        *_projector_rules("gen_aligner", "model.generation_aligner", arch.gen_aligner),
        NameRule("gen_head.output_mlp_projector.{p}", "model.generation_head.proj_out.{p}"),
        NameRule("gen_head.vision_head.{p}", "model.generation_head.vision_head.{p}"),
        NameRule("gen_embed.weight", "model.generation_embeddings.weight"),
        NameRule("gen_vision_model.quantize.codebook_used", None),  # training statistic
    ]
    for coder, blocks, resample in (("encoder", "down", "downsample"), ("decoder", "up", "upsample")):
        source, target = f"gen_vision_model.{coder}", f"model.vqmodel.{coder}"
        rules += [
            NameRule(f"{source}.conv_blocks.{{level}}.res.{{block}}.{{rest}}", f"{target}.{blocks}.{{level}}.block.{{block}}.{{rest}}"),
            NameRule(f"{source}.conv_blocks.{{level}}.attn.{{block}}.{{rest}}", f"{target}.{blocks}.{{level}}.attn.{{block}}.{{rest}}"),
            NameRule(f"{source}.conv_blocks.{{level}}.{resample}.{{rest}}", f"{target}.{blocks}.{{level}}.{resample}.{{rest}}"),
            NameRule(f"{source}.mid.0.{{rest}}", f"{target}.mid.block_1.{{rest}}"),
            NameRule(f"{source}.mid.1.{{rest}}", f"{target}.mid.attn_1.{{rest}}"),
            NameRule(f"{source}.mid.2.{{rest}}", f"{target}.mid.block_2.{{rest}}"),
        ]
    rules += [
        NameRule("gen_vision_model.{rest}", "model.vqmodel.{rest}"),
        NameRule("language_model.lm_head.weight", None if arch.tie_word_embeddings else "lm_head.weight"),
        NameRule("language_model.model.{rest}", "model.language_model.{rest}"),
    ]
    return rules


class WeightMapping:
    """The name table of one architecture applied to tensors, in both directions."""

    def __init__(self, arch: OriginalArchitecture) -> None:
        self.rules = name_rules(arch)

    def convert(self, name: str, tensor: torch.Tensor) -> list[tuple[str, torch.Tensor]] | None:
        """(transformers name, tensor) pairs of one original tensor; [] when dropped, None when unknown."""
        for rule in self.rules:
            names = rule.convert(name)
            if names is None:
                continue
            if not names:
                return []
            if rule.transform == "split_qkv":
                if tensor.shape[0] % 3:
                    return [(names[0], tensor)]  # cannot split: reported as a shape mismatch
                return list(zip(names, torch.chunk(tensor, 3, dim=0)))
            if rule.transform == "squeeze":
                return [(names[0], tensor.squeeze(0) if tensor.dim() == 3 and tensor.shape[0] == 1 else tensor)]
            return [(names[0], tensor)]
        return None

    def original_name(self, name: str) -> tuple[str, Transform] | None:
        """The original name of a transformers name (and how its tensor was transformed)."""
        for rule in self.rules:
            inverted = rule.invert(name)
            if inverted is not None:
                return inverted[0], rule.transform
        return None

    def original_shape(self, name: str, shape: torch.Size) -> tuple[int, ...]:
        """The shape an original tensor must have to give a transformers tensor of `shape`."""
        found = self.original_name(name)
        transform = found[1] if found else "copy"
        if transform == "split_qkv":
            return (3 * shape[0], *shape[1:])
        if transform == "squeeze":
            return (1, *shape)
        return tuple(shape)

    def to_original(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The original-layout state dict of a transformers Janus state dict (fused qkv, batched pos_embed)."""
        original: dict[str, torch.Tensor] = {}
        parts: dict[str, dict[str, torch.Tensor]] = {}
        for name, tensor in state_dict.items():
            inverted = next((found for rule in self.rules if (found := rule.invert(name))), None)
            if inverted is None:
                raise KeyError(f"no original name for {name}")
            original_name, proj = inverted
            if proj is not None:
                parts.setdefault(original_name, {})[proj] = tensor
            elif original_name.endswith("pos_embed"):
                original[original_name] = tensor.unsqueeze(0)
            else:
                original[original_name] = tensor
        for original_name, pieces in parts.items():
            original[original_name] = torch.cat([pieces[proj] for proj in QKV], dim=0)
        return original


# ---------------------------------------------------------------------------- reading checkpoints


def weight_files(folder: Path) -> list[Path]:
    """The weight files of an original checkpoint: safetensors first, then pytorch_model.bin; sharded or not."""
    for name in WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if not name.endswith(".index.json"):
            return [path]
        try:
            weight_map = json.loads(path.read_text())["weight_map"]
            shards = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise UserError(f"{path} is not a valid shard index (a JSON object with a 'weight_map')") from None
        missing = [shard for shard in shards if not (folder / shard).is_file()]
        if missing:
            raise UserError(f"{path} lists the shard {missing[0]}, which is not in {folder}")
        return [folder / shard for shard in shards]
    raise UserError(
        f"{folder} has no weights: expected one of {', '.join(WEIGHT_FILES)} (with the shards an index names)"
    )


def iter_tensors(files: list[Path]) -> Iterator[tuple[Path, str, torch.Tensor]]:
    """(file, name, tensor) for every tensor, holding at most one shard in memory (one tensor for safetensors)."""
    for path in files:
        if path.suffix == ".safetensors":
            from safetensors import SafetensorError, safe_open

            try:
                with safe_open(str(path), framework="pt", device="cpu") as handle:
                    for name in handle.keys():
                        yield path, name, handle.get_tensor(name)
            except SafetensorError as exc:
                raise UserError(f"could not read {path}: {exc}") from None
            continue
        state = _load_bin(path)
        if not isinstance(state, dict):
            raise UserError(f"{path} holds a {type(state).__name__}, not a state dict of tensors")
        for name in list(state):
            tensor = state.pop(name)
            if not isinstance(tensor, torch.Tensor):
                raise UserError(f"{path}: entry {name!r} is a {type(tensor).__name__}, not a tensor")
            yield path, name, tensor
        del state


def _load_bin(path: Path) -> object:
    """A pytorch_model.bin shard, memory-mapped when its format allows (tensors only, no pickled code)."""
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # the legacy (non-zip) format cannot be memory-mapped
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip and unpickling errors of a broken or foreign file
        raise UserError(f"could not read {path} as a PyTorch state dict: {type(exc).__name__}: {exc}") from None


def load_weights(
    model: nn.Module,
    files: list[Path],
    mapping: WeightMapping,
    what: str = "an original-format Janus",
    tied: Sequence[str] | None = None,
) -> None:
    """Copies every original tensor into `model` (already built for the converted config), one shard at a time.

    `tied` names the model's weights that share another's storage and are not in the checkpoint (default: `lm_head`
    when the model's config ties it); `what` names the model in messages.

    Raises:
        UserError: naming the first unexpected key, the first tensor whose shape does not match the config,
            or the first weight the checkpoint lacks.
    """
    targets = dict(model.state_dict(keep_vars=True))
    if tied is None:
        tied = ["lm_head.weight"] if getattr(getattr(model, "config", None), "tie_word_embeddings", False) else []
    for name in tied:
        targets.pop(name, None)  # tied to the input embeddings
    loaded: set[str] = set()
    with torch.no_grad():
        for path, name, tensor in iter_tensors(files):
            converted = mapping.convert(name, tensor)
            if converted is None or any(target not in targets for target, _ in converted):
                raise UserError(
                    f"{path}: unexpected key {name!r}: not a weight of {what} with this config.json"
                )
            for target, value in converted:
                parameter = targets[target]
                if tuple(value.shape) != tuple(parameter.shape) or target in loaded:
                    if target in loaded:
                        raise UserError(f"{path}: key {name!r} appears twice in the checkpoint")
                    raise UserError(
                        f"{path}: {name!r} has shape {tuple(tensor.shape)} but config.json implies "
                        f"{mapping.original_shape(target, parameter.shape)}: the weights do not match the config"
                    )
                parameter.copy_(value)
                loaded.add(target)
            del tensor, converted
    missing = [target for target in targets if target not in loaded]
    if missing:
        found = mapping.original_name(missing[0])
        name = found[0] if found else missing[0]
        raise UserError(
            f"{files[0].parent}: missing weight {name!r} ({len(missing)} transformers weight(s) not in the checkpoint, "
            f"first {missing[0]})"
        )
