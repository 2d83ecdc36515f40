"""GenEval's object detector: Mask2Former instance segmentation, reported as raw per-class detections.

Backends: transformers' Mask2Former (default; mmdet 2.x's instance post-processing re-implemented on
its outputs), mmdet 2.x itself (GenEval's own code path, optional; `janus_eval.scorers.mmdet_detector`)
and "tiny", a randomly initialised transformers Mask2Former built offline for tests and demos
(`janus_eval.scorers.tiny_scorers`). GenEval's thresholds, per-class cap and NMS are applied later by
`janus_eval.rules.geneval`, never here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from janus_eval.api import Resource
from janus_eval.data.cache import quiet_hf_progress
from janus_eval.data.hashing import cached_file_sha256
from janus_eval.errors import UserError
from janus_eval.rules.detections import Detection, Detections
from janus_eval.rules.geneval import GENEVAL_CLASSES
from janus_eval.scorers.detector_base import Detector, check_labels, prepare_image
from janus_eval.scorers.device import check_device
from janus_eval.scorers.hf_weights import resolve_hf_weights
from janus_eval.scorers.mmdet_detector import MMDET_CHECKPOINT_URL, MmdetDetector
from janus_eval.scorers.tiny_scorers import TINY_DETECTOR_VERSION, ensure_tiny_detector

if TYPE_CHECKING:
    import torch

DEFAULT_HF_WEIGHTS = "facebook/mask2former-swin-small-coco-instance"
MMDET_TEST_SCALE = (1333, 800)  # mmdet test pipeline: Resize(img_scale=(1333, 800), keep_ratio=True)
PAD_DIVISOR = 32  # mmdet test pipeline: Pad(size_divisor=32)
MAX_PER_IMAGE = 100  # mmdet test_cfg.max_per_image
DETECTOR_NAMES = ("mask2former", "mmdet", "tiny")
DETECTOR_BATCH_SIZE = 8  # images per forward pass when the task does not say
HF_WEIGHT_PATTERNS = ("*.json", "*.safetensors", "*.bin")  # config, image processor, weights


def build_detector(
    name: str,
    weights: str | None = None,
    device: str | None = None,
    *,
    scale: tuple[int, int] | None = MMDET_TEST_SCALE,
    batch_size: int | None = None,
) -> Detector:
    """The detector called `name` ("mask2former", "mmdet" or "tiny"); `weights` overrides its default weights.

    `batch_size` is the number of images per forward pass of the transformers backends (None: 8); the
    mmdet backend runs one image at a time, as GenEval's loop does, and records that instead.
    """
    if batch_size is not None and batch_size < 1:
        raise UserError(f"The scorer batch size must be at least 1 (got {batch_size}).")
    size = DETECTOR_BATCH_SIZE if batch_size is None else batch_size
    if name == "mask2former":
        return Mask2FormerDetector(weights or DEFAULT_HF_WEIGHTS, device, scale=scale, batch_size=size)
    if name == "mmdet":
        return MmdetDetector(weights, device)
    if name == "tiny":
        if weights is not None:
            raise UserError("The 'tiny' detector builds its own random weights; do not pass detector weights.")
        path = ensure_tiny_detector()
        return Mask2FormerDetector(
            str(path),
            device,
            scale=scale,
            batch_size=size,
            label=f"janus-eval tiny Mask2Former v{TINY_DETECTOR_VERSION}",
        )
    raise UserError(f"Unknown detector '{name}'; choose one of: {', '.join(DETECTOR_NAMES)}.")


def detector_resources(name: str, weights: str | None = None) -> list[Resource]:
    """The weights `build_detector(name, weights)` would fetch, listed without loading anything."""
    purpose = f"GenEval detector ({name})"
    if name == "tiny":
        return []  # built locally
    if name == "mmdet":
        if weights is not None and not weights.startswith(("http://", "https://")):
            return [Resource("local", weights, purpose)]
        url = weights or MMDET_CHECKPOINT_URL
        # mmcv's load_from_http keeps it in torch.hub's checkpoint folder
        target = Path(_torch_hub_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
        return [Resource("url", url, purpose, files=(str(target),), override="--task-option geneval.detector_weights=PATH")]
    repo = weights or DEFAULT_HF_WEIGHTS
    if Path(repo).expanduser().exists() or repo.startswith((".", "/", "~")) or repo.count("/") > 1:
        return [Resource("local", repo, purpose)]
    override = "--task-option geneval.detector_weights=DIR (a local copy of the checkpoint folder)"
    return [Resource("model", repo, purpose, files=HF_WEIGHT_PATTERNS, override=override)]


def _torch_hub_dir() -> str:
    import torch

    return torch.hub.get_dir()


# ----------------------------------------------------------------------------- labels


# ----------------------------------------------------------------------------- post-processing


@dataclass(frozen=True)
class InstanceResults:
    """mmdet 2.x `instance_postprocess` output for one image: K (query, class) pairs.

    `labels`, `scores`, `queries` have shape (K,), `boxes` (K, 4); `masks` (Q, H, W) bool is indexed by
    `queries` (pairs of one query share its mask).
    """

    labels: torch.Tensor
    scores: torch.Tensor
    boxes: torch.Tensor
    queries: torch.Tensor
    masks: torch.Tensor


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes (x1, y1, x2, y2) of (N, H, W) bool masks, as mmdet 2.x `mask2bbox`.

    x2/y2 are one past the last mask pixel (exclusive); an empty mask gets (0, 0, 0, 0).
    """
    import torch

    _, height, width = masks.shape
    cols, rows = masks.any(dim=1), masks.any(dim=2)  # (N, W), (N, H)
    x1 = cols.float().argmax(dim=1)
    y1 = rows.float().argmax(dim=1)
    x2 = width - cols.flip(1).float().argmax(dim=1)
    y2 = height - rows.flip(1).float().argmax(dim=1)
    boxes = torch.stack([x1, y1, x2, y2], dim=1).float()
    return boxes * cols.any(dim=1, keepdim=True)


def instance_postprocess(
    class_logits: torch.Tensor, mask_logits: torch.Tensor, max_per_image: int = MAX_PER_IMAGE
) -> InstanceResults:
    """mmdet 2.x `MaskFormerFusionHead.instance_postprocess` on one image's logits.

    `class_logits` (Q, C+1) with the no-object column last; `mask_logits` (Q, H, W) already at image
    resolution. Softmax over all columns, then drop no-object; the top `max_per_image` (query, class)
    pairs; mask = logit > 0; score = class prob x mean sigmoid inside the mask (mmdet's +1e-6, so an
    empty mask scores 0); box = tight box of the mask.
    """
    num_classes = class_logits.shape[1] - 1
    probs = class_logits.float().softmax(dim=-1)[:, :-1]
    top_scores, top_index = probs.flatten().topk(min(max_per_image, probs.numel()))
    queries = top_index // num_classes
    mask_logits = mask_logits.float()
    masks = mask_logits > 0
    inside = masks.float()
    mask_scores = (mask_logits.sigmoid() * inside).flatten(1).sum(1) / (inside.flatten(1).sum(1) + 1e-6)
    boxes = masks_to_boxes(masks)
    return InstanceResults(
        labels=top_index % num_classes,
        scores=top_scores * mask_scores[queries],
        boxes=boxes[queries],
        queries=queries,
        masks=masks,
    )


def to_detections(results: InstanceResults, class_names: Sequence[str] = GENEVAL_CLASSES) -> Detections:
    """Groups instance results by class name (every class present), each sorted by score, descending.

    Exact ties keep the (query, class) order, so the output is deterministic. GenEval's per-class arrays
    come in the order of mmdet's `topk(sorted=False)`, which torch does not specify, so the official order
    of tied detections cannot be reproduced from the logits; `select_objects` then orders ties as the
    official `argsort(...)[::-1]` does for the order it is given.
    """
    detections: Detections = {name: [] for name in class_names}
    labels = results.labels.tolist()
    scores = results.scores.tolist()
    boxes = results.boxes.tolist()
    queries = results.queries.tolist()
    masks = results.masks.cpu().numpy()
    order = sorted(range(len(scores)), key=lambda k: (-scores[k], queries[k] * len(class_names) + labels[k]))
    for k in order:
        x1, y1, x2, y2 = boxes[k]
        mask = masks[queries[k]]  # a view: pairs of one query share the array
        detections[class_names[labels[k]]].append(Detection(box=(x1, y1, x2, y2), score=scores[k], mask=mask))
    return detections


def mmdet_rescale_size(width: int, height: int, scale: tuple[int, int]) -> tuple[int, int]:
    """(width, height) after mmcv `imrescale` keep-ratio resizing into `scale` = (long edge, short edge)."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def resize_mask_logits(
    mask_logits: torch.Tensor, input_size: tuple[int, int], valid_size: tuple[int, int], image_size: tuple[int, int]
) -> torch.Tensor:
    """(Q, h, w) logits -> (Q, H, W) at image resolution, as mmdet 2.x: bilinear up to the padded input
    (`input_size`), crop off the padding (keep `valid_size`), bilinear to `image_size`; sizes are (H, W)."""
    import torch.nn.functional as F

    logits = F.interpolate(mask_logits[None].float(), size=input_size, mode="bilinear", align_corners=False)
    logits = logits[:, :, : valid_size[0], : valid_size[1]]
    return F.interpolate(logits, size=image_size, mode="bilinear", align_corners=False)[0]


# ----------------------------------------------------------------------------- transformers backend


class Mask2FormerDetector(Detector):
    """transformers `Mask2FormerForUniversalSegmentation` with mmdet 2.x-style input size and post-processing.

    Args:
        weights: hub id or local checkpoint folder (config.json, preprocessor_config.json, weights).
        device: torch device; default CUDA when available, else CPU.
        scale: keep-ratio resize into (long, short) edges, mmdet's test pipeline; None keeps the
            checkpoint processor's own resizing (transformers' behaviour).
        revision: hub revision of `weights`.
        batch_size: images per forward pass.
        label: a name for `weights` in `describe()` (e.g. for the tiny model).
    """

    def __init__(
        self,
        weights: str = DEFAULT_HF_WEIGHTS,
        device: str | None = None,
        *,
        scale: tuple[int, int] | None = MMDET_TEST_SCALE,
        revision: str | None = None,
        batch_size: int = DETECTOR_BATCH_SIZE,
        label: str | None = None,
    ) -> None:
        import torch
        import transformers
        from transformers import AutoImageProcessor, Mask2FormerConfig, Mask2FormerForUniversalSegmentation

        folder, source = resolve_hf_weights(weights, revision, what="detector", option="geneval.detector_weights")
        config = Mask2FormerConfig.from_pretrained(folder)
        aliases = check_labels(config.id2label, f"checkpoint '{weights}'")
        if not (folder / "preprocessor_config.json").is_file():
            raise UserError(
                f"The detector checkpoint '{weights}' has no preprocessor_config.json (its image processor)."
            )
        self.device = torch.device(check_device(device) if device else ("cuda" if torch.cuda.is_available() else "cpu"))
        if batch_size < 1:
            raise UserError(f"The scorer batch size must be at least 1 (got {batch_size}).")
        self.processor = AutoImageProcessor.from_pretrained(folder)
        with quiet_hf_progress():
            self.model = Mask2FormerForUniversalSegmentation.from_pretrained(folder).eval().to(self.device)
        self.scale = scale
        self.batch_size = batch_size
        weight_files = [
            folder / name for name in ("model.safetensors", "pytorch_model.bin") if (folder / name).is_file()
        ]
        processor = self.processor
        self._info: dict[str, Any] = {
            "backend": "transformers-mask2former",
            "weights": label or weights,
            **source,
            "weights_sha256": cached_file_sha256(weight_files[0]) if weight_files else None,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "device": str(self.device),
            "precision": "fp32",
            "batch_size": batch_size,
            "num_queries": config.num_queries,
            "label_aliases": aliases,
            "input_resize": (
                f"keep ratio into {scale[0]}x{scale[1]} (mmdet 2.x test pipeline), mmcv rounding"
                if scale is not None
                else f"image processor default {dict(processor.size)}, size_divisor {processor.size_divisor}"
            ),
            "resample": _resample_name(getattr(processor, "resample", None)),
            "normalize": {"mean": list(processor.image_mean), "std": list(processor.image_std)},
            "pad": f"zeros after normalisation, bottom/right, to a multiple of {PAD_DIVISOR}",
            "postprocess": (
                f"mmdet 2.x instance_postprocess: top-{MAX_PER_IMAGE} (query, class) pairs of softmax without "
                "no-object; mask logits bilinear to padded input, unpadded, bilinear to image size; mask = logit > 0; "
                "score = class prob x mean sigmoid in mask; box = mask2bbox (exclusive x2, y2)"
            ),
        }

    def describe(self) -> dict[str, Any]:
        return dict(self._info)

    def detect(self, images: Sequence[Image.Image]) -> list[Detections]:
        import torch

        prepared = [prepare_image(image) for image in images]
        results: list[Detections | None] = [None] * len(prepared)
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(prepared):
            by_size.setdefault(image.size, []).append(index)
        # One image size per forward pass, so padding (hence the output) never depends on the batch mates.
        for (width, height), indices in by_size.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                pixel_values, valid = self._preprocess([prepared[i] for i in chunk])
                with torch.inference_mode():
                    outputs = self.model(pixel_values=pixel_values.to(self.device))
                for row, index in enumerate(chunk):
                    logits = resize_mask_logits(
                        outputs.masks_queries_logits[row], tuple(pixel_values.shape[-2:]), valid, (height, width)
                    )
                    instances = instance_postprocess(outputs.class_queries_logits[row], logits)
                    results[index] = to_detections(instances)
        return [detections for detections in results if detections is not None]

    def _preprocess(self, images: list[Image.Image]) -> tuple[torch.Tensor, tuple[int, int]]:
        """Resized, normalised, zero-padded pixel values of same-size images, and the unpadded (H, W)."""
        import torch.nn.functional as F

        kwargs: dict[str, Any] = {}
        if self.scale is not None:
            new_width, new_height = mmdet_rescale_size(*images[0].size, self.scale)
            kwargs = {"size": {"height": new_height, "width": new_width}, "size_divisor": 0}
        encoded = self.processor(images=images, return_tensors="pt", **kwargs)
        pixel_values = encoded["pixel_values"]
        height, width = pixel_values.shape[-2:]
        pad_h = math.ceil(height / PAD_DIVISOR) * PAD_DIVISOR - height
        pad_w = math.ceil(width / PAD_DIVISOR) * PAD_DIVISOR - width
        return F.pad(pixel_values, (0, pad_w, 0, pad_h), value=0.0), (height, width)


def _resample_name(resample: Any) -> str:
    if isinstance(resample, int):
        return Image.Resampling(resample).name.lower()
    return str(getattr(resample, "name", resample)).lower()
