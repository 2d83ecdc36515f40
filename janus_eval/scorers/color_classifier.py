"""GenEval's colour check: open_clip zero-shot classification of a detected object's masked crop.

Reproduces djghosh13/geneval af4902f `evaluation/evaluate_images.py` (`ImageCrops`,
`color_classification`) with clip-benchmark 1.4.0's `zero_shot_classifier` / `run_classification`
arithmetic: per colour, the three templates' L2-normalised text embeddings are averaged and
renormalised; logits = 100 * normalize(image features) @ W; the colour is the argmax.
"""

from __future__ import annotations

import contextlib
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageColor, ImageOps

from janus_eval.api import Resource
from janus_eval.data.hashing import cached_file_sha256
from janus_eval.errors import UserError, first_line
from janus_eval.rules.detections import Detection
from janus_eval.rules.geneval import COLORS
from janus_eval.scorers.device import check_device
from janus_eval.scorers.tiny_scorers import TINY_CLIP_VERSION, register_tiny_clip

if TYPE_CHECKING:
    import torch

# evaluate_images.py COLORS, in the official order (argmax ties resolve to the earlier colour); the rules
# module holds the one copy.
GENEVAL_COLORS: tuple[str, ...] = COLORS
DEFAULT_CLIP_ARCH = "ViT-L-14"  # --options clip_model default
DEFAULT_CLIP_PRETRAINED = "openai"  # hard-coded in evaluate_images.py
DEFAULT_BGCOLOR = "#999"
CROP_BATCH_SIZE = 16  # the official DataLoader batch size


def color_prompts(color: str, classname: str) -> tuple[str, str, str]:
    """GenEval's three class-specific templates for one colour."""
    return (
        f"a photo of a {color} {classname}",
        f"a photo of a {color}-colored {classname}",
        f"a photo of a {color} object",
    )


def crop_for_classification(
    image: Image.Image, detection: Detection, bgcolor: str = DEFAULT_BGCOLOR, crop: bool = True
) -> Image.Image:
    """GenEval's `ImageCrops` item: the object over a solid background (via its mask), cropped to its box.

    `bgcolor` "original" keeps the unmasked image. A detection without a mask uses the image as is;
    the box goes to `Image.crop`, which rounds float coordinates, as in the official `crop(box[:4])`.
    """
    picture = ImageOps.exif_transpose(image).convert("RGB")
    if detection.mask is not None:
        mask = np.asarray(detection.mask, dtype=bool)
        if mask.shape != (picture.height, picture.width):
            raise ValueError(f"mask shape {mask.shape} does not match the image ({picture.height}, {picture.width})")
        blank = picture.copy() if bgcolor == "original" else Image.new("RGB", picture.size, color=bgcolor)
        picture = Image.composite(picture, blank, Image.fromarray(mask))
    if crop:
        left, top, right, bottom = (round(v) for v in detection.box)
        if right > left and bottom > top:  # the official code would fail on an empty box; keep the whole image
            picture = picture.crop(detection.box)
    return picture


def build_color_classifier(
    arch: str = DEFAULT_CLIP_ARCH,
    pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
    device: str | None = None,
    *,
    bgcolor: str = DEFAULT_BGCOLOR,
    crop: bool = True,
    batch_size: int | None = None,
) -> ColorClassifier:
    """The colour classifier for `arch` ("tiny" or an open_clip architecture) with `pretrained` weights.

    "tiny" builds its own weights, so it accepts only the default tag (which it ignores) or None.
    `batch_size` is the number of crops per image-encoder pass (None: GenEval's 16).
    """
    if arch == "tiny" and pretrained not in (None, DEFAULT_CLIP_PRETRAINED):
        raise UserError("The 'tiny' CLIP builds its own random weights; do not pass CLIP weights.")
    size = CROP_BATCH_SIZE if batch_size is None else batch_size
    return ColorClassifier(arch, pretrained, device, bgcolor=bgcolor, crop=crop, batch_size=size)


def clip_resources(arch: str, pretrained: str | None) -> list[Resource]:
    """The weights `build_color_classifier(arch, pretrained)` would fetch (open_clip's hub file), without loading."""
    purpose = f"GenEval colour classifier (open_clip {arch}, {pretrained} weights)"
    if arch == "tiny" or pretrained is None:
        return []
    if Path(pretrained).expanduser().is_file() or "/" in pretrained or Path(pretrained).suffix:
        return [Resource("local", pretrained, purpose)]
    try:
        import open_clip
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
    except ImportError:
        return []  # building the classifier says what is missing
    config = open_clip.get_pretrained_cfg(arch, pretrained) or {}
    repo, filename = _split_hub_path(str(config.get("hf_hub", "")))
    if not repo:
        return []  # a URL-only tag: open_clip keeps its own download cache (not checked here)
    names = [filename] if filename else [HF_WEIGHTS_NAME]
    # open_clip tries a safetensors twin of each pickled file first
    safe = [HF_SAFE_WEIGHTS_NAME if name == HF_WEIGHTS_NAME else str(Path(name).with_suffix(".safetensors")) for name in names]
    override = "--task-option geneval.clip_weights=FILE (a local checkpoint file)"
    return [Resource("hub_file", repo, purpose, files=(*safe, *names), override=override)]


def _split_hub_path(hf_hub: str) -> tuple[str, str]:
    """open_clip's `org/name/filename` (or `org/name/` for its default file name) -> (repo id, file name)."""
    parts = hf_hub.strip("/").split("/") if hf_hub else []
    if len(parts) < 2:
        return "", ""
    return "/".join(parts[:2]), "/".join(parts[2:])


class ColorClassifier:
    """Zero-shot colour of detected objects with open_clip, as GenEval does it.

    Args:
        arch: open_clip architecture (GenEval's `clip_model` option), or "tiny" for the offline test model.
        pretrained: open_clip pretrained tag or a local checkpoint file (GenEval hard-codes "openai"): a
            state dict (.bin, .pt, .safetensors) or the TorchScript archive of OpenAI's clip package.
        device: torch device; default CUDA when available, else CPU.
        bgcolor: background outside the object's mask ("#999") or "original".
        crop: crop to the detection box before CLIP.
        quick_gelu: force QuickGELU; default True for OpenAI weights ("openai" tag or a file, which
            GenEval's weights are) and the tag's own setting otherwise.
        batch_size: crops per image-encoder pass (GenEval's DataLoader: 16).
    """

    def __init__(
        self,
        arch: str = DEFAULT_CLIP_ARCH,
        pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
        device: str | None = None,
        *,
        bgcolor: str = DEFAULT_BGCOLOR,
        crop: bool = True,
        quick_gelu: bool | None = None,
        batch_size: int = CROP_BATCH_SIZE,
    ) -> None:
        import open_clip
        import torch

        if bgcolor != "original":
            try:
                ImageColor.getrgb(bgcolor)
            except ValueError:
                raise UserError(
                    f"Colour-crop background '{bgcolor}' is neither a colour (e.g. '#999') nor 'original'."
                ) from None
        if batch_size < 1:
            raise UserError(f"The scorer batch size must be at least 1 (got {batch_size}).")
        label = arch
        if arch == "tiny":
            arch, pretrained = register_tiny_clip()
            label = f"janus-eval tiny CLIP v{TINY_CLIP_VERSION}"
        _check_arch(open_clip, arch)
        weights_file, default_quick_gelu = _resolve_clip_weights(open_clip, arch, pretrained)
        local = pretrained is not None and Path(pretrained).expanduser().is_file()
        torchscript = local and weights_file is not None and is_torchscript_archive(Path(weights_file))
        if quick_gelu is None:
            quick_gelu = default_quick_gelu
        self.device = torch.device(check_device(device) if device else ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.transform = _create_model(
            open_clip, arch, weights_file if local else pretrained, local, torchscript, self.device, bool(quick_gelu)
        )
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.bgcolor, self.crop, self.batch_size = bgcolor, crop, batch_size
        # clip-benchmark's amp=True default is torch.cuda.amp autocast, which does nothing on CPU.
        self.amp = self.device.type == "cuda"
        self._weights: dict[str, torch.Tensor] = {}
        self._info: dict[str, Any] = {
            "backend": "open_clip",
            "arch": label,
            "pretrained": pretrained,
            "weights_file": weights_file,
            "weights_format": _weights_format(weights_file, torchscript),
            "weights_sha256": cached_file_sha256(Path(weights_file)) if weights_file else None,
            "quick_gelu": bool(quick_gelu),
            "open_clip": open_clip.__version__,
            "torch": torch.__version__,
            "device": str(self.device),
            "precision": "fp16 autocast (CUDA, clip-benchmark amp)" if self.amp else "fp32",
            "batch_size": batch_size,
            "colors": list(GENEVAL_COLORS),
            "templates": list(color_prompts("{c}", "{classname}")),
            "text_weights": "per colour: mean of L2-normalised template embeddings, renormalised (clip-benchmark 1.4.0)",
            "logits": "100 * normalize(image features) @ text weights; argmax",
            "bgcolor": bgcolor,
            "crop": crop,
            "transform": " -> ".join(type(step).__name__ for step in getattr(self.transform, "transforms", [])),
        }

    def describe(self) -> dict[str, Any]:
        """Backend, weights, versions and crop/precision settings, for the results file."""
        return dict(self._info)

    def text_weights(self, classname: str) -> torch.Tensor:
        """(embed_dim, 10) zero-shot weights for objects of `classname`, one column per colour; cached."""
        import torch
        import torch.nn.functional as F

        if classname not in self._weights:
            columns = []
            with torch.no_grad(), self._autocast():
                for color in GENEVAL_COLORS:
                    tokens = self.tokenizer(list(color_prompts(color, classname))).to(self.device)
                    embedding = F.normalize(self.model.encode_text(tokens), dim=-1).mean(dim=0)
                    columns.append(embedding / embedding.norm())
            self._weights[classname] = torch.stack(columns, dim=1)
        return self._weights[classname]

    def classify(self, items: Sequence[tuple[Image.Image, Detection, str]]) -> list[str]:
        """The colour of each (image, detection, class name) item, one of GENEVAL_COLORS."""
        import torch
        import torch.nn.functional as F

        colors: list[str] = []
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            pixels = torch.stack(
                [
                    self.transform(crop_for_classification(image, det, self.bgcolor, self.crop))
                    for image, det, _ in batch
                ]
            ).to(self.device)
            with torch.no_grad(), self._autocast():
                features = F.normalize(self.model.encode_image(pixels), dim=-1)
                for row, (_, _, classname) in enumerate(batch):
                    logits = 100.0 * features[row] @ self.text_weights(classname)
                    colors.append(GENEVAL_COLORS[int(logits.float().argmax())])
        return colors

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        return torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()


def is_torchscript_archive(path: Path) -> bool:
    """Whether `path` is a TorchScript archive (what OpenAI's clip package downloads), not a pickled state dict.

    Both are zip files; only TorchScript's has a top-level `constants.pkl` record (torch's own test).
    """
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.partition("/")[2] == "constants.pkl" for name in archive.namelist())


def _check_arch(open_clip: Any, arch: str) -> None:
    known = open_clip.list_models()
    if arch not in known:
        examples = [DEFAULT_CLIP_ARCH, *(name for name in known[:10] if name != DEFAULT_CLIP_ARCH)]
        raise UserError(
            f"Unknown CLIP architecture '{arch}' (geneval.clip_model); open_clip {open_clip.__version__} has "
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
            "Pass a checkpoint of that architecture (or set geneval.clip_model to the file's): an open_clip "
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


def _resolve_clip_weights(open_clip: Any, arch: str, pretrained: str | None) -> tuple[str | None, bool]:
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
            "`--task-option geneval.clip_weights=PATH`."
        ) from None
    return (str(path) if path else None), bool(config.get("quick_gelu", False))
