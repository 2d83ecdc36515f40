"""GenEval's detector on its own stack: mmdet 2.x `init_detector` / `inference_detector` (optional backend).

Needs mmdet 2.x and mmcv-full 1.x, which `janus_eval.scorers.detector.build_detector("mmdet")` imports
only when asked for, so the default transformers backend works without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from janus_eval.data.hashing import cached_file_sha256
from janus_eval.errors import UserError
from janus_eval.rules.detections import Detection, Detections
from janus_eval.rules.geneval import GENEVAL_CLASSES
from janus_eval.scorers.detector_base import Detector, check_labels, prepare_image
from janus_eval.scorers.device import check_device

MMDET_CONFIG_NAME = "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco"
MMDET_CHECKPOINT_URL = (
    "https://download.openmmlab.com/mmdetection/v2.0/mask2former/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco/"
    "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco_20220504_001756-743b7d99.pth"
)

MMDET_INSTALL_HINT = (
    "The 'mmdet' detector backend needs mmdet 2.x with mmcv-full 1.x, GenEval's own stack "
    "(its environment: mmcv-full 1.7.x, mmdet 2.27/2.28): `pip install -U openmim && mim install "
    "'mmcv-full==1.7.2' && pip install 'mmdet==2.28.2'`. With a recent torch there is no prebuilt mmcv-full "
    "wheel and it compiles from source (about 15 min on 2 cores): pin `setuptools==80.9.0`, change "
    "`-std=c++14`/`-std=c++17` to `-std=c++20` in mmcv's setup.py if torch's headers ask for C++20, then "
    "`MMCV_WITH_OPS=1 MAX_JOBS=2 pip install --no-build-isolation ./mmcv-full-1.7.2`. "
    "Or use the default 'mask2former' backend (transformers), which needs no build."
)


class MmdetDetector(Detector):
    """GenEval's own detector: mmdet 2.x `init_detector` / `inference_detector`, one image at a time.

    Args:
        weights: checkpoint path or URL; default the official GenEval checkpoint URL.
        device: torch device string; default CUDA when available, else CPU.
        config: mmdet config file; default GenEval's Swin-S config from the installed mmdet.
    """

    def __init__(self, weights: str | None = None, device: str | None = None, *, config: str | None = None) -> None:
        try:
            import mmdet
            from mmdet.apis import inference_detector, init_detector
        except ImportError as error:
            raise UserError(f"{MMDET_INSTALL_HINT} (import failed: {error})") from None
        import torch

        version = str(getattr(mmdet, "__version__", "unknown"))
        if not version.startswith("2."):
            raise UserError(f"The 'mmdet' detector backend needs mmdet 2.x (GenEval's API); found mmdet {version}.")
        config_path = config or _find_mmdet_config(Path(mmdet.__file__).parent)
        checkpoint = weights or MMDET_CHECKPOINT_URL
        is_url = checkpoint.startswith(("http://", "https://"))
        if not is_url and not Path(checkpoint).expanduser().is_file():
            raise UserError(f"mmdet detector checkpoint '{checkpoint}' is not a file.")
        self.device = check_device(device) if device else ("cuda:0" if torch.cuda.is_available() else "cpu")
        try:
            self.model = init_detector(str(config_path), checkpoint, device=self.device)
        except OSError as error:
            raise UserError(
                f"Cannot load the mmdet checkpoint '{checkpoint}' ({error}). Download {MMDET_CHECKPOINT_URL} "
                "(GenEval's evaluation/download_models.sh) and pass its local path as the detector weights."
            ) from None
        classes = getattr(self.model, "CLASSES", None)
        aliases = check_labels(dict(enumerate(classes)), f"checkpoint '{checkpoint}'") if classes else {}
        self._inference = inference_detector
        self._info = {
            "backend": "mmdet",
            "mmdet": version,
            "mmcv": _module_version("mmcv"),
            "torch": torch.__version__,
            "config": str(config_path),
            "weights": checkpoint,
            "weights_sha256": None if is_url else cached_file_sha256(Path(checkpoint).expanduser()),
            "device": self.device,
            "batch_size": 1,  # GenEval calls inference_detector on one image at a time
            "label_aliases": aliases,
            "postprocess": "mmdet MaskFormerFusionHead.instance_postprocess (test_cfg from the config)",
        }

    def describe(self) -> dict[str, Any]:
        return dict(self._info)

    def detect(self, images: Sequence[Image.Image]) -> list[Detections]:
        # mmdet takes ndarray images in BGR order, as its cv2 loader would produce them.
        arrays = [np.ascontiguousarray(np.asarray(prepare_image(image))[:, :, ::-1]) for image in images]
        return [mmdet_result_to_detections(self._inference(self.model, array)) for array in arrays]


def mmdet_result_to_detections(result: Any) -> Detections:
    """mmdet 2.x per-class results ((bbox arrays N x 5, segm mask lists) or bbox arrays only) -> Detections."""
    bboxes = result[0] if isinstance(result, tuple) else result
    segms = result[1] if isinstance(result, tuple) and len(result) > 1 else None
    detections: Detections = {}
    for index, name in enumerate(GENEVAL_CLASSES):
        rows = np.asarray(bboxes[index], dtype=np.float32).reshape(-1, 5)
        order = sorted(range(len(rows)), key=lambda k: -float(rows[k, 4]))
        detections[name] = [
            Detection(
                box=(float(rows[k, 0]), float(rows[k, 1]), float(rows[k, 2]), float(rows[k, 3])),
                score=float(rows[k, 4]),
                mask=None if segms is None else np.asarray(segms[index][k], dtype=bool),
            )
            for k in order
        ]
    return detections


def _find_mmdet_config(package_dir: Path) -> Path:
    for folder in (package_dir / ".mim" / "configs", package_dir.parent / "configs"):
        candidate = folder / "mask2former" / f"{MMDET_CONFIG_NAME}.py"
        if candidate.is_file():
            return candidate
    raise UserError(
        f"mmdet's config {MMDET_CONFIG_NAME}.py was not found in the installed mmdet; pass its path "
        "(configs/mask2former/ in an mmdetection 2.x checkout)."
    )


def _module_version(name: str) -> str | None:
    try:
        module = __import__(name)
    except ImportError:
        return None
    return str(getattr(module, "__version__", None))
