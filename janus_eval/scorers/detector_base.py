"""What every GenEval detector backend shares: the `Detector` interface, the class-order check, the input image.

Backends: `janus_eval.scorers.detector` (transformers' Mask2Former, and the factory `build_detector`)
and `janus_eval.scorers.mmdet_detector` (mmdet 2.x); both import this module, never each other's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageOps

from janus_eval.errors import UserError
from janus_eval.rules.detections import Detections
from janus_eval.rules.geneval import GENEVAL_CLASSES

# Other spellings of the same COCO classes in checkpoint label lists (after lower-casing and turning
# "_"/"-" into spaces). COCO's own "mouse"/"remote"/"keyboard" are GenEval's 64-66.
LABEL_ALIASES: dict[str, str] = {
    "mouse": "computer mouse", "remote": "tv remote", "keyboard": "computer keyboard",
    "tvmonitor": "tv", "tv monitor": "tv", "television": "tv", "motorbike": "motorcycle", "aeroplane": "airplane",
    "sofa": "couch", "pottedplant": "potted plant", "diningtable": "dining table", "dining-table": "dining table",
    "cellphone": "cell phone", "mobile phone": "cell phone", "doughnut": "donut", "hotdog": "hot dog",
    "hair dryer": "hair drier", "hairdrier": "hair drier", "teddybear": "teddy bear", "wineglass": "wine glass",
    "sportsball": "sports ball", "trafficlight": "traffic light", "firehydrant": "fire hydrant",
    "stopsign": "stop sign", "parkingmeter": "parking meter", "baseballbat": "baseball bat",
    "baseballglove": "baseball glove", "tennisracket": "tennis racket",
}  # fmt: skip


class Detector(ABC):
    """Finds GenEval's 80 object classes in images."""

    @abstractmethod
    def detect(self, images: Sequence[Image.Image]) -> list[Detections]:
        """Raw detections per image: every GenEval class name -> its detections, highest score first.

        No score threshold, cap or NMS is applied. Boxes, masks and scores refer to each image as given
        (after EXIF orientation, as GenEval's loaders apply it).
        """

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Backend, weights (id or path, sha256 or hub revision), library versions and settings."""


def _normalise_label(label: str) -> str:
    return " ".join(label.lower().replace("_", " ").replace("-", " ").split())


def check_labels(id2label: Mapping[int, str] | Mapping[str, str], source: str) -> dict[str, str]:
    """Checks that a checkpoint's labels are GenEval's 80 classes in GenEval's order.

    Returns the aliases that were needed (checkpoint spelling -> GenEval name), for the record.
    Raises UserError naming the mismatching indices, since GenEval maps classes purely by index.
    """
    labels = {int(index): str(name) for index, name in id2label.items()}
    if sorted(labels) != list(range(len(GENEVAL_CLASSES))):
        raise UserError(
            f"The detector {source} has {len(labels)} class labels; GenEval needs the 80 COCO object classes "
            "(indices 0-79) of an instance-segmentation checkpoint."
        )
    aliases: dict[str, str] = {}
    mismatches: list[str] = []
    for index, expected in enumerate(GENEVAL_CLASSES):
        spelled = _normalise_label(labels[index])
        resolved = LABEL_ALIASES.get(spelled, spelled)
        if resolved != expected:
            mismatches.append(f"{index}: '{labels[index]}' (expected '{expected}')")
        elif labels[index] != expected:
            aliases[labels[index]] = expected
    if mismatches:
        shown = "; ".join(mismatches[:8]) + ("; ..." if len(mismatches) > 8 else "")
        raise UserError(
            f"The detector {source} does not use GenEval's class order ({len(mismatches)} labels differ: {shown}). "
            "Use a COCO instance-segmentation checkpoint with the 80 thing classes in COCO order."
        )
    return aliases


def prepare_image(image: Image.Image) -> Image.Image:
    """The RGB image a detector sees, upright."""
    # GenEval reads images with EXIF orientation applied (mmcv/cv2 for the detector, exif_transpose for crops).
    return ImageOps.exif_transpose(image).convert("RGB")
