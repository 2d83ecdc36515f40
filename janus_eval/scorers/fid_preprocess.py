"""The FID protocol's image preprocessing: GigaGAN's centre crop and LANCZOS resize, then clean-fid's resize.

GigaGAN (mingukkang/GigaGAN b2d3716, `evaluation/evaluation.py` `compute_fid`), which JanusFlow's FID follows,
hands clean-fid a `custom_image_tranform` that centre-crops every image to its short side and resizes it to
`eval_res` x `eval_res` with PIL LANCZOS, on both the generated and the real images. clean-fid 0.1.35 then
resizes to Inception's 299 x 299: in "clean" mode with PIL bicubic on each channel as float32, without
re-quantising; in "legacy_tensorflow" mode not at all (the network resizes inside, as TensorFlow's FID did).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

FidMode = Literal["clean", "legacy_tensorflow"]
INCEPTION_SIZE = 299


def center_crop_short_side(image: Image.Image) -> Image.Image:
    """The centred square of side min(width, height).

    Offsets are rounded as torchvision's `center_crop` rounds them (`int(round((size - crop) / 2.0))`,
    Python's round-half-to-even), which GigaGAN's `CenterCropLongEdge` calls.
    """
    width, height = image.size
    side = min(width, height)
    left = int(round((width - side) / 2.0))
    top = int(round((height - side) / 2.0))
    return image.crop((left, top, left + side, top + side))


@dataclass(frozen=True)
class FidPreprocessing:
    """What happens to an image before the feature network: crop, resize to `eval_res`, clean-fid's resize.

    Args:
        mode: clean-fid's mode: "clean" (PIL bicubic on float32 per channel to 299) or "legacy_tensorflow"
            (no resize here; the TorchScript Inception resizes inside, bilinearly).
        eval_res: GigaGAN's evaluation resolution (LANCZOS), or None to skip that resize.
        center_crop: crop to the short side first (GigaGAN); without it a non-square image is squashed.
    """

    mode: FidMode = "clean"
    eval_res: int | None = 256
    center_crop: bool = True

    def protocol_transform(self, image: Image.Image) -> np.ndarray:
        """GigaGAN's transform: the RGB image as uint8 (H, W, 3) after crop and LANCZOS resize."""
        image = image.convert("RGB") if image.mode != "RGB" else image
        if self.center_crop:
            image = center_crop_short_side(image)
        if self.eval_res is not None:
            image = image.resize((self.eval_res, self.eval_res), Image.LANCZOS)
        return np.asarray(image, dtype=np.uint8)

    def _resizer(self) -> Callable[[np.ndarray], np.ndarray]:
        from cleanfid.resize import build_resizer

        return build_resizer(self.mode)

    def __call__(self, image: Image.Image) -> np.ndarray:
        """The network's input for one image: float32 (H, W, 3) in [0, 255] (299 x 299 in clean mode)."""
        resized = self._resizer()(self.protocol_transform(image))
        # clean-fid's ResizeDataset keeps "clean"'s float32 as it is and turns uint8 (legacy) into
        # `ToTensor()(x) * 255`, which is exactly x in float32 for every uint8 value
        return np.asarray(resized, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """The preprocessing as recorded in the protocol card and hashed into the reference cache key."""
        return {
            "center_crop": "short side, torchvision rounding (GigaGAN CenterCropLongEdge)"
            if self.center_crop
            else None,
            "eval_res": self.eval_res,
            "eval_resize": "PIL LANCZOS on uint8 RGB (GigaGAN)" if self.eval_res is not None else None,
            "mode": self.mode,
            "inception_resize": (
                f"clean-fid 'clean': PIL bicubic per channel on float32 to {INCEPTION_SIZE}x{INCEPTION_SIZE}, "
                "clipped to [0, 255], not re-quantised"
                if self.mode == "clean"
                else "clean-fid 'legacy_tensorflow': none here; the TorchScript Inception resizes inside (bilinear)"
            ),
        }
