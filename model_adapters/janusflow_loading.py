"""Loading for the JanusFlow adapter: aliases, pinned hub revisions, local overrides, the model and the SDXL VAE.

`from_spec` only resolves and checks (config.json, the VAE's config); `load_janusflow` builds the model without
random initialisation on the target device and dtype, streams DeepSeek's tensors into it by name, and loads the VAE
with diffusers. Every problem a user can cause ends in one UserError that says what to do.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from janus_eval.model_adapters.janus_hub import hub_config, resolve_hub_revision, unreachable_message
from janus_eval.model_adapters.janus_loading import ModelFamily, ModelSource, folder_fingerprint
from janus_eval.model_adapters.janus_original_processor import read_json
from janus_eval.model_adapters.janusflow_config import JanusFlowArchitecture, parse_janusflow_config
from janus_eval.model_adapters.janusflow_model import JanusFlowModel
from janus_eval.model_adapters.janusflow_processor import JanusFlowProcessor
from janus_eval.model_adapters.janusflow_tiny import BUILDER_VERSION, TINY_VAE_FOLDER, ensure_tiny_checkpoint
from janus_eval.model_adapters.janusflow_weights import load_janusflow_weights

from janus_eval.api import ModelSpec, Resource
from janus_eval.data.checkpoint_files import AGAIN, check_checkpoint_folder, check_json_file
from janus_eval.data.hub_snapshots import fetch_checkpoint
from janus_eval.errors import UserError, first_line

if TYPE_CHECKING:
    from diffusers import AutoencoderKL

ADAPTER_NAME = "janusflow"
TINY_ALIAS = "janusflow-tiny"
HUB_IDS: dict[str, str] = {"janusflow-1.3b": "deepseek-ai/JanusFlow-1.3B"}
# deepseek-ai/JanusFlow-1.3B is not pinned: no commit id of its Hub repository could be confirmed from a source
# here, and an invented one would fail every download. The alias loads `main` (or `--revision`), and the commit it
# resolves to is recorded in the identity, the protocol card and the manifest, so every result names its weights.
PINNED_REVISIONS: dict[str, str] = {}
REFERENCE_KEYS = ("janusflow-1.3b",)
# The VAE DeepSeek's JanusFlow code decodes with (`AutoencoderKL.from_pretrained("stabilityai/sdxl-vae")`), pinned to
# the commit that public projects pin stabilityai/sdxl-vae to (DeepSeek's code loads its `main`, unpinned).
SDXL_VAE = "stabilityai/sdxl-vae"
SDXL_VAE_REVISION = "6f5909a7e596173e25d4e97b07fd19cdf9611c76"
CHECKPOINT_FILES = ("*.json", "*.safetensors")
VAE_FILES = ("config.json", "diffusion_pytorch_model.safetensors")

JANUSFLOW_FAMILY = ModelFamily(
    adapter_name=ADAPTER_NAME,
    tiny_alias=TINY_ALIAS,
    hub_ids=HUB_IDS,
    pinned_revisions=PINNED_REVISIONS,
    reference_keys=REFERENCE_KEYS,
    build_tiny=ensure_tiny_checkpoint,
    builder_version=BUILDER_VERSION,
    folder_kind="a JanusFlow folder in DeepSeek's layout",
    example_hub_id=HUB_IDS["janusflow-1.3b"],
)


@dataclass(frozen=True)
class VaeSource:
    """Where the latent decoder comes from (a hub id at a revision, or a local diffusers folder) and its config."""

    location: str
    is_local: bool
    config: dict[str, Any]
    revision: str | None = None
    commit: str | None = None

    def describe(self, is_tiny: bool = False) -> dict[str, Any]:
        """The VAE's part of the identity: which weights, at which commit or with which file digests."""
        location = f"{TINY_ALIAS}/{TINY_VAE_FOLDER}" if is_tiny else self.location
        described: dict[str, Any] = {"model": location, "revision": self.revision, "commit": self.commit}
        if self.is_local:
            described["fingerprint"] = folder_fingerprint(Path(self.location))
        return described


@dataclass(frozen=True)
class Checkpoint:
    """A JanusFlow checkpoint resolved without reading its weights: where it is, at which commit, its sizes."""

    source: ModelSource
    commit: str | None
    arch: JanusFlowArchitecture
    vae: VaeSource


# ---------------------------------------------------------------------------- resolving


def resolve_checkpoint(spec: ModelSpec) -> Checkpoint:
    """The checkpoint and VAE `spec` names, their config files read (cached or a small download); UserError otherwise."""
    source = _model_source(spec)
    if source.is_local:
        config_path = Path(source.location) / "config.json"
        check_json_file(config_path)
        config, commit = read_json(config_path), None
    else:
        revision, commit = resolve_hub_revision(source.location, source.revision)
        config, folder = hub_config(source.location, revision)
        commit = commit or folder.name
    arch = parse_janusflow_config(config, source.location)
    return Checkpoint(source, commit, arch, _vae_source(spec.args, source))


def _model_source(spec: ModelSpec) -> ModelSource:
    return JANUSFLOW_FAMILY.source(spec, spec.args)


def _vae_source(args: Mapping[str, str], source: ModelSource) -> VaeSource:
    """`vae=<hub id or folder>` (`vae_revision=` for a hub id); by default SDXL's VAE pinned, or the tiny's own.
    Its config.json is read now (cached, or a small download): the latent shape follows from it."""
    vae, revision = args.get("vae"), args.get("vae_revision")
    if vae is None and source.is_tiny:
        vae = str(Path(source.location) / TINY_VAE_FOLDER)
    if vae is None:
        revision = revision or SDXL_VAE_REVISION
        config, folder = hub_config(SDXL_VAE, revision)
        return VaeSource(SDXL_VAE, False, config, revision, commit=folder.name)
    folder = Path(vae).expanduser()
    if folder.is_dir():
        if revision:
            raise UserError(f"vae_revision={revision!r} only applies to a hub id, not to the folder {vae!r}")
        if not (folder / "config.json").is_file():
            raise UserError(f"vae={vae!r} has no config.json: not a diffusers AutoencoderKL folder")
        check_json_file(folder / "config.json")
        return VaeSource(str(folder.resolve()), True, _vae_config(read_json(folder / "config.json"), vae))
    if "/" not in vae or vae.startswith((".", "/", "~")):
        raise UserError(f"vae={vae!r} is neither a folder nor a Hugging Face Hub id (owner/name)")
    resolved, commit = resolve_hub_revision(vae, revision)
    config, snapshot_folder = hub_config(vae, resolved)
    return VaeSource(vae, False, _vae_config(config, vae), revision, commit=commit or snapshot_folder.name)


def _vae_config(config: dict[str, Any], where: str) -> dict[str, Any]:
    """An AutoencoderKL config with the keys the sampler reads; UserError for another model's config."""
    if config.get("_class_name", "AutoencoderKL") != "AutoencoderKL":
        raise UserError(f"vae {where}: config.json describes a {config.get('_class_name')}, not an AutoencoderKL")
    channels = config.get("block_out_channels")
    if not isinstance(channels, list) or not channels or not isinstance(config.get("scaling_factor", 0.18215), (int, float)):
        raise UserError(f"vae {where}: config.json lacks block_out_channels or has a non-numeric scaling_factor")
    return config


def checkpoint_resources(spec: ModelSpec) -> list[Resource]:
    """The checkpoint and the VAE `spec` names, without building or loading anything (nothing for a spec that
    `_model_source` would refuse: that error comes when the adapter is built)."""
    purpose = f"model {spec.name}"
    model, vae = spec.args.get("model"), spec.args.get("vae")
    resources: list[Resource] = []
    if spec.model_path or (model and os.path.isdir(os.path.expanduser(model))):
        resources.append(Resource("local", spec.model_path or str(model), purpose))
    elif spec.name in HUB_IDS or (spec.name == ADAPTER_NAME and model):
        hub_id = HUB_IDS.get(spec.name) or str(model)
        revision = spec.revision or PINNED_REVISIONS.get(spec.name)
        override = f"--model-path DIR (a copy of the checkpoint folder: `hf download {hub_id} --local-dir DIR`)"
        resources.append(Resource("model", hub_id, purpose, revision=revision, files=CHECKPOINT_FILES, override=override))
    elif spec.name != TINY_ALIAS:
        return []  # no checkpoint named
    vae_purpose = f"{purpose} (its image decoder)"
    if vae and Path(vae).expanduser().is_dir():
        resources.append(Resource("local", vae, vae_purpose))
    elif vae or spec.name != TINY_ALIAS:  # (the tiny model brings its own VAE)
        vae_id = vae or SDXL_VAE
        revision = spec.args.get("vae_revision") or (None if vae else SDXL_VAE_REVISION)
        override = f"--model-args vae=DIR (a copy: `hf download {vae_id} {' '.join(VAE_FILES)} --local-dir DIR`)"
        resources.append(Resource("model", vae_id, vae_purpose, revision=revision, files=VAE_FILES, override=override))
    return resources


# ---------------------------------------------------------------------------- loading


def checkpoint_folder(checkpoint: Checkpoint) -> Path:
    """The local folder of the checkpoint (a hub snapshot at its commit), checked for damaged files."""
    source = checkpoint.source
    folder = Path(source.location) if source.is_local else _snapshot(source.location, checkpoint.commit or source.revision, CHECKPOINT_FILES)
    check_checkpoint_folder(folder)
    return folder


def _snapshot(repo_id: str, revision: str | None, files: tuple[str, ...]) -> Path:
    try:
        return fetch_checkpoint(repo_id, revision, allow=files)
    except Exception as exc:  # the hub's errors come in several classes (offline, not found, incomplete)
        raise UserError(unreachable_message(repo_id, revision, exc)) from None


def load_janusflow(
    checkpoint: Checkpoint, *, dtype: torch.dtype, device: torch.device, attn_implementation: str | None
) -> tuple[JanusFlowModel, JanusFlowProcessor]:
    """The model with the checkpoint's weights, on `device` in `dtype`, and its processor."""
    from transformers.initialization import no_init_weights

    require_diffusers()
    folder = checkpoint_folder(checkpoint)
    arch = checkpoint.arch
    processor = JanusFlowProcessor(folder, image_size=arch.vision.image_size, num_image_tokens=arch.num_image_tokens)
    vocab_size = int(arch.text_config().vocab_size)
    too_large = {name: token for name, token in vars(processor.ids).items() if token is not None and token >= vocab_size}
    if too_large:
        raise UserError(
            f"the tokenizer of {folder} does not fit the checkpoint: token id(s) {too_large} are beyond the model's "
            f"vocab_size {vocab_size}"
        )
    with no_init_weights(), torch.device(device), _default_dtype(dtype):
        model = JanusFlowModel(arch, attn_implementation=attn_implementation)
    load_janusflow_weights(model, folder)
    return model.eval(), processor


def require_diffusers() -> None:
    """UserError with the install hint when diffusers (the time embedding and the VAE) is not installed."""
    if importlib.util.find_spec("diffusers") is None:
        raise UserError(
            "JanusFlow needs diffusers (its time embedding and the SDXL VAE): pip install diffusers, or janus-eval[gen]"
        )


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Modules built meanwhile get parameters of `dtype` (no float32 copy of a bf16 model is ever made)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def vae_dtype(model_dtype: torch.dtype) -> torch.dtype:
    """bfloat16 unless the model runs in float32: DeepSeek runs SDXL's VAE in bf16 ("this vae doesn't work with
    fp16"), so a float16 model still decodes in bf16."""
    return torch.float32 if model_dtype == torch.float32 else torch.bfloat16


def load_vae(source: VaeSource, *, dtype: torch.dtype, device: torch.device) -> AutoencoderKL:
    """diffusers' AutoencoderKL from a local folder or a hub snapshot; UserError for damaged or foreign files."""
    require_diffusers()
    from diffusers import AutoencoderKL

    folder = Path(source.location) if source.is_local else _snapshot(source.location, source.commit or source.revision, VAE_FILES)
    check_checkpoint_folder(folder)
    _vae_config(read_json(folder / "config.json"), str(folder))
    try:
        # (without accelerate, diffusers warns at length that it loads the usual way)
        vae = AutoencoderKL.from_pretrained(
            str(folder), torch_dtype=dtype, low_cpu_mem_usage=importlib.util.find_spec("accelerate") is not None
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise UserError(f"could not load the VAE in {folder}: {type(exc).__name__}: {first_line(exc)}; {AGAIN}") from None
    return vae.to(device).eval()
