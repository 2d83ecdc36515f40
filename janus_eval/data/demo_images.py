"""Synthetic demo pictures for `--data demo`: deterministic coloured shapes and text, drawn in code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from PIL import Image, ImageDraw, ImageFont

from janus_eval.data.image_io import encode_png

DEMO_IMAGE_SIZE = 384
_SHAPE_RADIUS = 50
# slot -> centre; slot 0 is left of slot 1 (the demo "position" questions rely on it)
_SLOT_CENTRES: tuple[tuple[int, int], ...] = ((90, 140), (294, 140), (192, 140))

DemoShape = tuple[Literal["circle", "square", "triangle", "ground"], str]


def demo_image(shapes: Sequence[DemoShape] = (), *, text: str = "", background: str = "white") -> dict[str, Any]:
    """A deterministic synthetic picture as a datasets-style PNG value (for `demo_rows`).

    Shapes go to fixed slots in order (the first is left of the second); "ground" fills the lower
    third instead; `text` is written in black near the bottom.
    """
    image = Image.new("RGB", (DEMO_IMAGE_SIZE, DEMO_IMAGE_SIZE), background)
    draw = ImageDraw.Draw(image)
    slot = 0
    for kind, colour in shapes:
        if kind == "ground":
            draw.rectangle((0, DEMO_IMAGE_SIZE * 2 // 3, DEMO_IMAGE_SIZE, DEMO_IMAGE_SIZE), fill=colour)
            continue
        x, y = _SLOT_CENTRES[slot % len(_SLOT_CENTRES)]
        slot += 1
        r = _SHAPE_RADIUS
        if kind == "circle":
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        elif kind == "square":
            draw.rectangle((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=colour)
    if text:
        font = ImageFont.load_default(size=36)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        position = ((DEMO_IMAGE_SIZE - (right - left)) // 2 - left, 300 - (bottom - top) // 2 - top)
        draw.text(position, text, fill="black", font=font)
    return encode_png(image)
