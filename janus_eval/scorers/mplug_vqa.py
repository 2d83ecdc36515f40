"""DPG-Bench's official VQA model: mPLUG-large (`damo/mplug_visual-question-answering_coco_large_en`) via modelscope.

Optional: modelscope is imported only when this backend is built; without it the message says how to install it.
The pipeline is called as the official `compute_dpg_bench.py` calls it, one `{'image', 'question'}` at a time,
and its `result['text']` is the answer.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from janus_eval.data.hashing import cached_file_sha256
from janus_eval.errors import UserError, first_line
from janus_eval.scorers.vqa import VqaBackend

MPLUG_MODEL = "damo/mplug_visual-question-answering_coco_large_en"
INSTALL_HINT = (
    "install modelscope with its multi-modal extras, best in a virtual environment of its own since they pin "
    "older datasets and huggingface_hub: `pip install torch==2.14.1 torchvision==0.29.1 && pip install -e "
    "'.[mplug]'` (or `pip install 'modelscope[multi-modal]'`); on an offline machine also download the model "
    f"once elsewhere (`modelscope download --model {MPLUG_MODEL} --local_dir DIR`) and pass "
    "--task-option dpg_bench.vqa_weights=DIR; or choose another backend with --task-option dpg_bench.vqa_model=blip "
    "(not comparable with the published numbers)"
)


class MplugVqa(VqaBackend):
    """The modelscope visual-question-answering pipeline over mPLUG-large (hub id or a local model folder)."""

    comparable = True

    def __init__(self, weights: str | None = None, device: str = "cpu") -> None:
        try:
            from modelscope.pipelines import pipeline
            from modelscope.utils.constant import Tasks
        except ImportError as error:
            raise UserError(f"The 'mplug' VQA backend needs modelscope ({first_line(error)}); {INSTALL_HINT}.") from None
        model = weights or MPLUG_MODEL
        local = Path(model).expanduser()
        if weights is not None and not local.is_dir():
            raise UserError(f"VQA weights '{weights}' is not a folder holding the mPLUG model; {INSTALL_HINT}.")
        try:
            self.pipeline = pipeline(
                Tasks.visual_question_answering, model=str(local) if local.is_dir() else model, device=device
            )
        except Exception as error:  # modelscope raises many types for missing or unreachable models
            raise UserError(
                f"Cannot load the mPLUG VQA model '{model}' ({type(error).__name__}: {first_line(error)}); {INSTALL_HINT}."
            ) from None
        weight_files = sorted(local.glob("*.bin")) + sorted(local.glob("*.pth")) if local.is_dir() else []
        self._identity: dict[str, Any] = {
            "backend": "modelscope-mplug",
            "weights": model,
            "weights_sha256": {path.name: cached_file_sha256(path) for path in weight_files} or None,
            "modelscope": importlib.metadata.version("modelscope"),
            "device_type": device.split(":")[0],
            "call": "pipeline(Tasks.visual_question_answering)({'image': tile, 'question': q})['text'], one pair a call",
        }

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def answer(self, pairs: Sequence[tuple[Image.Image, str]]) -> list[str]:
        # official: one pipeline call per (tile, question)
        return [str(self.pipeline({"image": image, "question": question})["text"]) for image, question in pairs]
