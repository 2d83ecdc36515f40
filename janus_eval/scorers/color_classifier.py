"""GenEval's colour check: open_clip zero-shot classification of a detected object's masked crop.

Reproduces djghosh13/geneval af4902f `evaluation/evaluate_images.py` (`ImageCrops`,
`color_classification`) with clip-benchmark 1.4.0's `zero_shot_classifier` / `run_classification`
arithmetic: per colour, the three templates' L2-normalised text embeddings are averaged and
renormalised; logits = 100 * normalize(image features) @ W; the colour is the argmax.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageColor, ImageOps

from janus_eval.api import Resource
from janus_eval.errors import UserError
from janus_eval.rules.detections import Detection
from janus_eval.rules.geneval import COLORS
from janus_eval.scorers.open_clip_loading import is_torchscript_archive as is_torchscript_archive  # re-exported
from janus_eval.scorers.open_clip_loading import load_open_clip, open_clip_resources

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
    return open_clip_resources(arch, pretrained, f"GenEval colour classifier (open_clip {arch}, {pretrained} weights)")


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
        if bgcolor != "original":
            try:
                ImageColor.getrgb(bgcolor)
            except ValueError:
                raise UserError(
                    f"Colour-crop background '{bgcolor}' is neither a colour (e.g. '#999') nor 'original'."
                ) from None
        if batch_size < 1:
            raise UserError(f"The scorer batch size must be at least 1 (got {batch_size}).")
        loaded = load_open_clip(arch, pretrained, device, quick_gelu, default_arch=DEFAULT_CLIP_ARCH)
        self.device, self.model, self.transform, self.tokenizer = (
            loaded.device, loaded.model, loaded.transform, loaded.tokenizer
        )
        self.bgcolor, self.crop, self.batch_size = bgcolor, crop, batch_size
        # clip-benchmark's amp=True default is torch.cuda.amp autocast, which does nothing on CPU.
        self.amp = self.device.type == "cuda"
        self._weights: dict[str, torch.Tensor] = {}
        self._info: dict[str, Any] = {
            **loaded.describe(),
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
