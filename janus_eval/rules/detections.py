"""One detected object, as GenEval's rules see it: a box, a confidence, its mask and (once classified) a colour."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Detection:
    """An object found in one image.

    `box` is (x1, y1, x2, y2) in pixels of the scored image; `mask` an H×W boolean array (None when the
    backend gives no masks); `color` is filled in by the colour classifier, only for the objects whose
    colour a prompt asks about.
    """

    box: tuple[float, float, float, float]
    score: float
    mask: Any = field(default=None, repr=False, compare=False)
    color: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record of this detection in per-sample logs (no mask)."""
        data: dict[str, Any] = {"box": [round(float(v), 2) for v in self.box], "score": round(float(self.score), 6)}
        if self.color is not None:
            data["color"] = self.color
        return data


# class name -> detections of that class, highest score first
Detections = dict[str, list[Detection]]
