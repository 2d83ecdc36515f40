"""DeepSeek's own image preprocessing for Janus understanding, reproduced before transformers' processor sees the image.

DeepSeek's `VLMImageProcessor.resize` (janus/models/image_processing_vlm.py) scales the long side to
`image_size` with `int()` truncation of the short side (transformers' JanusImageProcessor rounds),
resizes with PIL's bicubic filter (torchvision's `resize` on a PIL image calls PIL; transformers'
torchvision backend resamples tensors, which differs by a grey level or two), and pastes the result
centred on a square of the background colour (`expand2square`). Doing this first hands
transformers a square image of the final size, so its own resize and pad change nothing.
"""

from __future__ import annotations

from PIL import Image

PREPROCESSING_CHOICES = ("deepseek", "transformers")


def deepseek_resize_and_pad(
    image: Image.Image, image_size: int, min_size: int, background: tuple[int, int, int]
) -> Image.Image:
    """Long side to `image_size` (short side truncated, at least `min_size`), PIL bicubic, centred on a square."""
    image = image.convert("RGB")
    width, height = image.size
    longest = max(width, height)
    new_height = max(int(height / longest * image_size), min_size)
    new_width = max(int(width / longest * image_size), min_size)
    resized = image.resize((new_width, new_height), Image.Resampling.BICUBIC)
    if new_width == new_height:
        return resized
    side = max(new_width, new_height)
    square = Image.new("RGB", (side, side), background)
    if new_width > new_height:
        square.paste(resized, (0, (new_width - new_height) // 2))
    else:
        square.paste(resized, ((new_height - new_width) // 2, 0))
    return square
