"""DeepSeek's image preprocessing: sizes, padding, and transformers' processor leaving the result unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from janus_eval.model_adapters.janus_image_preprocessing import deepseek_resize_and_pad
from PIL import Image

from janus_eval.api import ModelSpec
from janus_eval.registry import MODELS


def _gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    pixels = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                             np.full((height, width, 1), 40, np.float32)], axis=-1)  # fmt: skip
    return Image.fromarray(pixels.astype(np.uint8))


def test_short_side_is_truncated_and_centred_on_grey() -> None:
    out = deepseek_resize_and_pad(_gradient(500, 333), 384, 14, (127, 127, 127))
    assert out.size == (384, 384)
    pixels = np.asarray(out)
    # 333 / 500 * 384 = 255.74 -> 255 rows (DeepSeek truncates; rounding would give 256), top offset (384-255)//2
    content_rows = np.where((pixels != 127).any(axis=(1, 2)))[0]
    assert (content_rows.min(), content_rows.max()) == (64, 64 + 255 - 1)
    assert (pixels[:64] == 127).all() and (pixels[64 + 255 :] == 127).all()
    expected = np.asarray(_gradient(500, 333).resize((384, 255), Image.Resampling.BICUBIC))
    assert np.array_equal(pixels[64 : 64 + 255], expected)


def test_tall_and_tiny_images() -> None:
    tall = np.asarray(deepseek_resize_and_pad(_gradient(100, 400), 384, 14, (127, 127, 127)))
    content_cols = np.where((tall != 127).any(axis=(0, 2)))[0]
    assert (content_cols.min(), content_cols.max()) == ((384 - 96) // 2, (384 - 96) // 2 + 95)
    sliver = deepseek_resize_and_pad(_gradient(1000, 10), 384, 14, (127, 127, 127))
    assert sliver.size == (384, 384)  # the short side is at least min_size (14), not 3


@pytest.mark.parametrize("preprocessing", ["deepseek", "transformers"])
def test_processor_leaves_the_prepared_image_unchanged(preprocessing: str) -> None:
    adapter = MODELS.get("janus-tiny").from_spec(
        ModelSpec(name="janus-tiny", args={"image_preprocessing": preprocessing})
    )
    image_processor = adapter.processor.image_processor
    size = int(image_processor.size["height"])
    prepared = adapter.preprocess_image(_gradient(50, 31))
    pixel_values = image_processor(images=[prepared], return_tensors="pt")["pixel_values"][0]
    if preprocessing == "deepseek":
        assert prepared.size == (size, size)
        manual = (torch.tensor(np.asarray(prepared), dtype=torch.float32).permute(2, 0, 1) / 255 - 0.5) / 0.5
        assert torch.allclose(pixel_values, manual, atol=1e-5)
    assert adapter.identity()["image_preprocessing"] == preprocessing
