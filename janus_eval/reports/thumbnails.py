"""Small embedded pictures for the HTML report: downscaled JPEG or WebP as data URIs, each stored once."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Literal

from PIL import Image

from janus_eval.api import image_digest

ThumbnailFormat = Literal["webp", "jpeg"]


def data_uri(image: Image.Image, size: int, fmt: ThumbnailFormat = "webp", quality: int = 70) -> str:
    """The image shrunk to fit `size` x `size` (never enlarged), encoded as a `data:` URI."""
    picture = image.convert("RGB")
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt.upper(), quality=quality)
    return f"data:image/{fmt};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class ThumbnailStore:
    """Thumbnails keyed by image content, so an image shown by many items (POPE's and GQA's shared images,
    MMBench's rotated copies) is embedded once."""

    def __init__(self, size: int, fmt: ThumbnailFormat = "webp", quality: int = 70) -> None:
        self.size, self.fmt, self.quality = size, fmt, quality
        self.uris: dict[str, str] = {}

    def add(self, image: Image.Image) -> str:
        """The key of the image's thumbnail (made on first sight)."""
        key = image_digest(image)
        if key not in self.uris:
            self.uris[key] = data_uri(image, self.size, self.fmt, self.quality)
        return key

    def add_file(self, path: Path) -> str | None:
        """The key of a saved image's thumbnail; None when the file is missing or unreadable."""
        try:
            with Image.open(path) as image:
                image.load()
                return self.add(image)
        except OSError:
            return None

    def total_bytes(self) -> int:
        return sum(len(uri) for uri in self.uris.values())
