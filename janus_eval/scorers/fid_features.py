"""FID feature extractors: clean-fid's TorchScript Inception, or the tiny offline network, through one loader.

clean-fid 0.1.35 (`cleanfid.inception_torchscript.InceptionV3W`) runs NVIDIA's TorchScript translation of
TensorFlow's Inception (`inception-2015-12-05.pt`): in "clean" mode it feeds `(x - 128) / 128` of the
resized 299 x 299 batch to the module's `layers` and keeps the 2048 pool features; in "legacy_tensorflow"
mode it calls the module itself with `return_features=True` (resize inside). Both are reproduced here for
any TorchScript file with those entry points, the tiny network included.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from janus_eval.data.cache import cache_root
from janus_eval.data.hashing import cached_file_sha256
from janus_eval.data.remote_files import download
from janus_eval.errors import UserError, first_line
from janus_eval.scorers.device import check_device
from janus_eval.scorers.fid_preprocess import INCEPTION_SIZE, FidPreprocessing

ExtractorName = Literal["inception", "tiny"]

# clean-fid's download location (cleanfid/downloads_helper.py `inception_url`); no checksum is published with
# it, so the file's sha256 is recorded with every result instead
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
INCEPTION_FILE = "inception-2015-12-05.pt"
FEATURE_BATCH_SIZE = 32


def _inception_candidates() -> list[Path]:
    """Where a copy may already be: janus-eval's cache, then clean-fid's own download folder (the temp dir)."""
    return [cache_root() / "models" / INCEPTION_FILE, Path(tempfile.gettempdir()) / INCEPTION_FILE]


def inception_weights(path: str | None, option: str = "<task>.inception_weights") -> Path:
    """The TorchScript Inception file: `path` if given, else a cached copy, else downloaded into the cache.

    `option` names the task option that sets `path`, for the error message.

    Raises:
        UserError: the given file does not exist, or no copy is there and it cannot be downloaded.
    """
    if path is not None:
        weights = Path(path).expanduser()
        if not weights.is_file():
            raise UserError(f"the Inception weights {weights} do not exist; download {INCEPTION_URL} there")
        return weights
    for candidate in _inception_candidates():
        if candidate.is_file():
            return candidate
    target = _inception_candidates()[0]
    remedy = (
        f"on an offline machine, download {INCEPTION_URL} elsewhere and put it at {target}, or pass "
        f"--task-option {option}=PATH"
    )
    return download(INCEPTION_URL, target, remedy)


class FeatureExtractor:
    """Feature vectors of images from a TorchScript network in clean-fid's calling convention.

    Args:
        name: "inception" or "tiny" (recorded).
        weights: the TorchScript file.
        preprocessing: crop, `eval_res` and clean-fid mode.
        device: torch device.
        batch_size: images per forward pass.
        label: how the weights are named in `describe()`.
    """

    def __init__(
        self,
        name: ExtractorName,
        weights: Path,
        preprocessing: FidPreprocessing,
        device: str = "cpu",
        batch_size: int = FEATURE_BATCH_SIZE,
        label: str | None = None,
    ) -> None:
        import torch

        if batch_size < 1:
            raise UserError(f"the feature batch size must be at least 1 (got {batch_size})")
        self.name = name
        self.preprocessing = preprocessing
        self.device = torch.device(check_device(device))
        self.batch_size = batch_size
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated, but it is the format of the weights
                warnings.simplefilter("ignore", FutureWarning)
                self.network = torch.jit.load(str(weights), map_location=self.device).eval()
        except (RuntimeError, ValueError, OSError) as exc:
            raise UserError(
                f"{weights} is not a TorchScript feature network ({first_line(exc)}); {INCEPTION_FILE} is"
            ) from None
        if preprocessing.mode == "clean" and not hasattr(self.network, "layers"):
            raise UserError(f"{weights} has no `layers` module, which clean-fid's 'clean' mode runs")
        probe_side = INCEPTION_SIZE if preprocessing.mode == "clean" else (preprocessing.eval_res or INCEPTION_SIZE)
        self.dim = int(self._forward(np.zeros((1, probe_side, probe_side, 3), dtype=np.float32)).shape[1])
        self._info: dict[str, Any] = {
            "backend": "torchscript (clean-fid InceptionV3W convention)",
            "extractor": name,
            "weights": label or str(weights),
            "weights_sha256": cached_file_sha256(weights),
            "features": self.dim,
            "torch": torch.__version__,
            "device": str(self.device),
            "precision": "fp32",
            "input": "(x - 128) / 128 into `layers`"
            if preprocessing.mode == "clean"
            else "forward(x, return_features=True)",
            "preprocessing": preprocessing.describe(),
        }

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """(n, H, W, 3) float32 pixels in [0, 255] -> (n, D) float32 features."""
        import torch

        pixels = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).to(self.device)
        with torch.inference_mode():
            if self.preprocessing.mode == "clean":
                features = self.network.layers((pixels - 128) / 128)
            else:
                features = self.network(pixels, return_features=True)
        return features.reshape(pixels.shape[0], -1).float().cpu().numpy()

    def features_of_arrays(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Features of preprocessed images (`FidPreprocessing` outputs) in forward passes of exactly `batch_size`
        images of one size (the last one padded with blank images).

        A constant batch shape keeps the kernels' choice, hence every image's features, independent of its batch
        mates (CPU convolutions take another path for a batch of one, for instance), so a resumed or sharded run
        extracts the same features as an uninterrupted one, to the bit.
        """
        out = np.zeros((len(arrays), self.dim), dtype=np.float32)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for position, array in enumerate(arrays):
            by_shape.setdefault(array.shape, []).append(position)
        for shape, positions in by_shape.items():
            for start in range(0, len(positions), self.batch_size):
                chunk = positions[start : start + self.batch_size]
                batch = np.zeros((self.batch_size, *shape), dtype=np.float32)
                for row, position in enumerate(chunk):
                    batch[row] = arrays[position]
                out[chunk] = self._forward(batch)[: len(chunk)]
        return out

    def features(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, D) float32 features of PIL images, preprocessed by the protocol."""
        return self.features_of_arrays([self.preprocessing(image) for image in images])

    def describe(self) -> dict[str, Any]:
        """Extractor, weights (path and sha256), preprocessing, device: what the features depend on."""
        return dict(self._info)


def build_feature_extractor(
    name: ExtractorName,
    weights: str | None,
    preprocessing: FidPreprocessing,
    device: str = "cpu",
    batch_size: int = FEATURE_BATCH_SIZE,
    option: str = "<task>.inception_weights",
) -> FeatureExtractor:
    """The named extractor: "inception" (clean-fid's TorchScript file, `weights` or cached/downloaded) or
    "tiny" (a random 32-feature network built offline; `weights` is ignored). `option` names the task
    option that sets `weights`, for error messages."""
    if name == "tiny":
        from janus_eval.scorers.tiny_scorers import TINY_FID_VERSION, ensure_tiny_fid_network

        label = f"janus-eval tiny random feature network v{TINY_FID_VERSION}"
        return FeatureExtractor("tiny", ensure_tiny_fid_network(), preprocessing, device, batch_size, label=label)
    if name == "inception":
        path = inception_weights(weights, option)
        return FeatureExtractor("inception", path, preprocessing, device, batch_size, label=path.name)
    raise UserError(f"unknown feature extractor {name!r}; known: inception, tiny")
