"""Decoding images from dataset values, and encoding demo images, with one clear error per bad image."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from janus_eval.api import SampleError


def decode_image(value: Any, *, what: str = "image") -> Image.Image:
    """Returns an RGB PIL image from a PIL image, raw bytes, or a datasets `{"bytes", "path"}` dict.

    Raises SampleError when the value is missing or cannot be decoded.
    """
    if isinstance(value, Image.Image):
        image = value
    else:
        data: bytes | None = None
        path: str | None = None
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)
        elif isinstance(value, dict):
            data = value.get("bytes")
            path = value.get("path")
        elif isinstance(value, str):
            path = value
        if data is None and not path:
            raise SampleError(f"{what} is missing")
        try:
            image = Image.open(io.BytesIO(data)) if data is not None else Image.open(path)
            image.load()
        except Exception as exc:  # PIL raises many types for corrupt files
            raise SampleError(f"unreadable {what}: {type(exc).__name__}: {exc}") from None
    return image.convert("RGB") if image.mode != "RGB" else image


def encode_png(image: Image.Image) -> dict[str, Any]:
    """A PIL image as a datasets-style `{"bytes", "path"}` value holding PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}
