"""open_clip models for the scorers that use one (GenEval's colour check, the FID tasks' CLIP score).

An architecture name (or "tiny", the offline random model built from a config) and a pretrained tag or a local
checkpoint file become an eval-mode model, its eval transform and tokenizer. Weights that cannot be had
(offline, unknown tag, a file of another architecture) are one UserError naming the task option to set.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from janus_eval.api import Resource
from janus_eval.data.hashing import cached_file_sha256
from janus_eval.errors import UserError, first_line
from janus_eval.scorers.device import check_device
from janus_eval.scorers.tiny_scorers import TINY_CLIP_VERSION, register_tiny_clip

if TYPE_CHECKING:
    import torch


@dataclass
class OpenClipModel:
    """A loaded open_clip model with its eval transform and tokenizer, and what identifies its weights."""

    model: Any
    transform: Any
    tokenizer: Any
    device: torch.device
    label: str
    pretrained: str | None
    weights_file: str | None
    torchscript: bool
    quick_gelu: bool

    def describe(self) -> dict[str, Any]:
        """Backend, architecture, weights (file and sha256), versions and device, for the results file."""
        import open_clip
        import torch

        return {
            "backend": "open_clip",
            "arch": self.label,
            "pretrained": self.pretrained,
            "weights_file": self.weights_file,
            "weights_format": _weights_format(self.weights_file, self.torchscript),
            "weights_sha256": cached_file_sha256(Path(self.weights_file)) if self.weights_file else None,
            "quick_gelu": self.quick_gelu,
            "open_clip": open_clip.__version__,
            "torch": torch.__version__,
            "device": str(self.device),
        }


def clip_choice(model: str, weights: str | None, demo: bool, default_arch: str) -> tuple[str, str | None]:
    """(architecture, weights) from a task's `clip_model` / `clip_weights` options: "auto" is the tiny model on
    the demo rows, else `default_arch`; the weights are OpenAI's ("openai" tag) unless a tag or a file is given,
    none for tiny (it builds its own)."""
    arch = ("tiny" if demo else default_arch) if model == "auto" else model
    if weights is not None or arch == "tiny":
        return arch, weights
    return arch, "openai"


def load_open_clip(
    arch: str,
    pretrained: str | None,
    device: str | None,
    quick_gelu: bool | None = None,
    *,
    task: str = "geneval",
    default_arch: str = "ViT-L-14",
) -> OpenClipModel:
    """The open_clip model `arch` ("tiny": the offline random one) with `pretrained` weights (a tag or a file).

    `quick_gelu` None means the weights' own setting (True for OpenAI's: the "openai" tag or a file). `task`
    names the task whose options (`<task>.clip_model`, `<task>.clip_weights`) the messages point to.
    """
    import open_clip
    import torch

    label = arch
    if arch == "tiny":
        arch, pretrained = register_tiny_clip()
        label = f"janus-eval tiny CLIP v{TINY_CLIP_VERSION}"
    _check_arch(open_clip, arch, task, default_arch)
    weights_file, default_quick_gelu = _resolve_clip_weights(open_clip, arch, pretrained, task)
    local = pretrained is not None and Path(pretrained).expanduser().is_file()
    torchscript = local and weights_file is not None and is_torchscript_archive(Path(weights_file))
    if quick_gelu is None:
        quick_gelu = default_quick_gelu
    torch_device = torch.device(check_device(device) if device else ("cuda" if torch.cuda.is_available() else "cpu"))
    model, transform = _create_model(
        open_clip, arch, weights_file if local else pretrained, local, torchscript, torch_device, bool(quick_gelu), task
    )
    model.eval()
    return OpenClipModel(
        model=model,
        transform=transform,
        tokenizer=open_clip.get_tokenizer(arch),
        device=torch_device,
        label=label,
        pretrained=pretrained,
        weights_file=weights_file,
        torchscript=torchscript,
        quick_gelu=bool(quick_gelu),
    )


def open_clip_resources(arch: str, pretrained: str | None, purpose: str, task: str = "geneval") -> list[Resource]:
    """The weights `load_open_clip(arch, pretrained)` would fetch (open_clip's hub file), without loading."""
    if arch == "tiny" or pretrained is None:
        return []
    if Path(pretrained).expanduser().is_file() or "/" in pretrained or Path(pretrained).suffix:
        return [Resource("local", pretrained, purpose)]
    try:
        import open_clip
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
    except ImportError:
        return []  # building the scorer says what is missing
    config = open_clip.get_pretrained_cfg(arch, pretrained) or {}
    repo, filename = _split_hub_path(str(config.get("hf_hub", "")))
    if not repo:
        return []  # a URL-only tag: open_clip keeps its own download cache (not checked here)
    names = [filename] if filename else [HF_WEIGHTS_NAME]
    # open_clip tries a safetensors twin of each pickled file first
    safe = [HF_SAFE_WEIGHTS_NAME if name == HF_WEIGHTS_NAME else str(Path(name).with_suffix(".safetensors")) for name in names]
    override = f"--task-option {task}.clip_weights=FILE (a local checkpoint file)"
    return [Resource("hub_file", repo, purpose, files=(*safe, *names), override=override)]


def _split_hub_path(hf_hub: str) -> tuple[str, str]:
    """open_clip's `org/name/filename` (or `org/name/` for its default file name) -> (repo id, file name)."""
    parts = hf_hub.strip("/").split("/") if hf_hub else []
    if len(parts) < 2:
        return "", ""
    return "/".join(parts[:2]), "/".join(parts[2:])


def is_torchscript_archive(path: Path) -> bool:
    """Whether `path` is a TorchScript archive (what OpenAI's clip package downloads), not a pickled state dict.

    Both are zip files; only TorchScript's has a top-level `constants.pkl` record (torch's own test).
    """
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.partition("/")[2] == "constants.pkl" for name in archive.namelist())


def _check_arch(open_clip: Any, arch: str, task: str, default_arch: str) -> None:
    known = open_clip.list_models()
    if arch not in known:
        examples = [default_arch, *(name for name in known[:10] if name != default_arch)]
        raise UserError(
            f"Unknown CLIP architecture '{arch}' ({task}.clip_model); open_clip {open_clip.__version__} has "
            f"{len(known)}, e.g. {', '.join(examples)} (all: `python -c 'import open_clip; "
            "print(open_clip.list_models())'`)."
        )


def _create_model(
    open_clip: Any,
    arch: str,
    pretrained: str | None,
    local: bool,
    torchscript: bool,
    device: torch.device,
    quick_gelu: bool,
    task: str,
) -> tuple[Any, Any]:
    """(model, eval transform) from open_clip; when `pretrained` is a local file, load failures are UserErrors."""
    try:
        with warnings.catch_warnings():
            # torch.load hands a TorchScript archive to the (deprecated) torch.jit.load, and says so
            warnings.filterwarnings("ignore", message=".*TorchScript archive")
            warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=FutureWarning)
            model, _, transform = open_clip.create_model_and_transforms(
                arch,
                pretrained=pretrained,
                device=device,
                force_quick_gelu=quick_gelu,
                # open_clip 3.x reads files with torch.load(weights_only=True), which refuses TorchScript; with
                # False its load_state_dict takes the TorchScript module's state dict, the tensors open_clip
                # 2.20's load_openai_model (GenEval's environment) loaded from the same file
                weights_only=not torchscript,
            )
    except Exception as error:  # torch.load and load_state_dict fail in many classes
        if not local:
            raise
        raise UserError(
            f"Cannot load the CLIP weights file '{pretrained}' into open_clip's {arch} ({_load_failure(error)}). "
            f"Pass a checkpoint of that architecture (or set {task}.clip_model to the file's): an open_clip "
            "state dict such as open_clip_pytorch_model.bin of the Hugging Face repo "
            "timm/vit_large_patch14_clip_224.openai, or the TorchScript ViT-L-14.pt of OpenAI's clip package."
        ) from None
    return model, transform


def _load_failure(error: Exception) -> str:
    """A one-line account of why a checkpoint did not load."""
    text = str(error)
    if "Error(s) in loading state_dict" not in text:
        return f"{type(error).__name__}: {first_line(error)}"
    problems = []
    if mismatches := text.count("size mismatch for"):
        problems.append(f"{mismatches} tensors of another shape")
    if "Missing key(s)" in text:
        problems.append("missing tensors")
    if "Unexpected key(s)" in text:
        problems.append("unexpected tensors")
    return "its tensors do not fit: " + ", ".join(problems or ["see load_state_dict"])


def _weights_format(weights_file: str | None, torchscript: bool) -> str | None:
    if weights_file is None:
        return None
    if torchscript:
        return "TorchScript archive (OpenAI clip package layout); state dict loaded into open_clip"
    return "safetensors" if weights_file.endswith(".safetensors") else "state dict"


def _resolve_clip_weights(open_clip: Any, arch: str, pretrained: str | None, task: str) -> tuple[str | None, bool]:
    """(local weights file, default QuickGELU flag); fetches a tag's file (or finds it cached) first.

    open_clip 3.x no longer routes "openai" through `load_openai_model` (QuickGELU, as in GenEval's 2.20), so
    the flag comes from the tag's config; a file is taken to hold OpenAI weights, as GenEval's always do.
    """
    if pretrained is None:
        return None, False
    if Path(pretrained).expanduser().is_file():
        return str(Path(pretrained).expanduser()), True
    config = open_clip.get_pretrained_cfg(arch, pretrained)
    if not config:
        if "/" in pretrained or Path(pretrained).suffix:
            raise UserError(f"CLIP weights file '{pretrained}' does not exist.")
        known = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise UserError(
            f"'{pretrained}' is neither a CLIP weights file nor an open_clip tag of {arch} (tags: {known})."
        )
    try:
        path = open_clip.download_pretrained(config)
    except Exception as error:  # hub and URL download failures come in many classes
        source = config.get("hf_hub") or config.get("url")
        raise UserError(
            f"Cannot get the CLIP weights {arch}/{pretrained} ({type(error).__name__}: {first_line(error)}). "
            f"Without internet, download them once elsewhere (open_clip fetches {source} into the Hugging Face "
            "cache) and copy the cache, or pass the local checkpoint file with "
            f"`--task-option {task}.clip_weights=PATH`."
        ) from None
    return (str(path) if path else None), bool(config.get("quick_gelu", False))
