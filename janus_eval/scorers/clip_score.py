"""The CLIP score of generated images against their captions, with open_clip, as torchmetrics defines it.

torchmetrics' `CLIPScore` (1.9): CLIPScore(I, C) = max(100 * cos(E_I, E_C), 0) with the L2-normalised image
and text embeddings. Here every image gets its own score (so it is recorded per sample); the task averages
them. torchmetrics' own `compute` clamps the mean of the unclamped scores instead, which is the same number
whenever no cosine is negative (as for real CLIP models on their captions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from janus_eval.api import Resource
from janus_eval.errors import UserError
from janus_eval.scorers.open_clip_loading import load_open_clip, open_clip_resources

# GigaGAN's evaluation.py (b2d3716) computes its COCO CLIP score with OpenAI's ViT-B/32 (`--clip_model4eval`
# default); torchmetrics defaults to ViT-L/14
DEFAULT_CLIP_SCORE_ARCH = "ViT-B-32"
DEFAULT_CLIP_SCORE_PRETRAINED = "openai"


def clip_score_resources(arch: str, pretrained: str | None, task: str) -> list[Resource]:
    """The weights `ClipScorer(arch, pretrained)` would fetch, without loading them."""
    return open_clip_resources(arch, pretrained, f"{task} CLIP score (open_clip {arch}, {pretrained} weights)", task)


class ClipScorer:
    """Per-image CLIP scores: 100 x max(cos(image embedding, caption embedding), 0).

    Args:
        arch: open_clip architecture ("ViT-B-32", "ViT-L-14", ...) or "tiny" (offline random model).
        pretrained: open_clip pretrained tag or local checkpoint file (None only for "tiny").
        device: torch device.
        batch_size: images (and captions) per encoder pass.
        option: the task option prefix named in messages (e.g. "coco_fid.clip_weights").
    """

    def __init__(
        self, arch: str, pretrained: str | None, device: str, batch_size: int = 32, *, option: str = "clip_weights"
    ) -> None:
        if arch == "tiny" and pretrained not in (None, DEFAULT_CLIP_SCORE_PRETRAINED):
            raise UserError(f"The 'tiny' CLIP builds its own random weights; do not set {option}.")
        if batch_size < 1:
            raise UserError(f"The CLIP score batch size must be at least 1 (got {batch_size}).")
        task = option.partition(".")[0]
        self.loaded = load_open_clip(
            arch, None if arch == "tiny" else pretrained, device, task=task, default_arch=DEFAULT_CLIP_SCORE_ARCH
        )
        self.batch_size = batch_size
        self._info: dict[str, Any] = {
            **self.loaded.describe(),
            "precision": "fp32",
            "batch_size": batch_size,
            "score": "100 * max(cos(normalize(encode_image), normalize(encode_text)), 0) per image (torchmetrics CLIPScore)",
            "transform": " -> ".join(type(step).__name__ for step in getattr(self.loaded.transform, "transforms", [])),
            "tokenizer": f"open_clip.get_tokenizer (context {getattr(self.loaded.tokenizer, 'context_length', '?')})",
        }

    def describe(self) -> dict[str, Any]:
        """Backend, weights, versions and settings, for the results file."""
        return dict(self._info)

    def embeddings(self, images: Sequence[Image.Image], captions: Sequence[str]) -> tuple[Any, Any]:
        """L2-normalised (image, caption) embeddings of at most `batch_size` pairs, float32 on the CPU.

        Every pass has exactly `batch_size` rows (blank images and empty captions fill the last one), so, as for
        the FID features, a score never depends on its batch mates: resumed, sharded and one-pass runs agree.
        """
        import torch
        import torch.nn.functional as F

        model, device = self.loaded.model, self.loaded.device
        pixels = torch.stack([self.loaded.transform(image.convert("RGB")) for image in images])
        tokens = self.loaded.tokenizer([*captions, *[""] * (self.batch_size - len(captions))])
        padded = torch.zeros((self.batch_size, *pixels.shape[1:]), dtype=pixels.dtype)
        padded[: len(images)] = pixels
        with torch.inference_mode():
            image_emb = F.normalize(model.encode_image(padded.to(device)).float(), dim=-1)
            text_emb = F.normalize(model.encode_text(tokens.to(device)).float(), dim=-1)
        return image_emb[: len(images)].cpu(), text_emb[: len(images)].cpu()

    def scores(self, images: Sequence[Image.Image], captions: Sequence[str]) -> list[float]:
        """Each image's CLIP score against its caption, in passes of `batch_size`."""
        if len(images) != len(captions):
            raise ValueError(f"{len(images)} images for {len(captions)} captions")
        out: list[float] = []
        for start in range(0, len(images), self.batch_size):
            image_emb, text_emb = self.embeddings(
                images[start : start + self.batch_size], captions[start : start + self.batch_size]
            )
            cosine = (image_emb * text_emb).sum(dim=-1)
            out.extend(float(value) for value in (100 * cosine).clamp(min=0))
        return out
