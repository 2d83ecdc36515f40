"""The benchmarks' randomly initialised models go through the adapter as a run's would (the scripts are not run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from PIL import Image

from janus_eval.api import ChatMessage, ImageOutput, TextRequest

ROOT = Path(__file__).resolve().parent.parent


def _janus_shapes() -> ModuleType:
    spec = importlib.util.spec_from_file_location("janus_shapes", ROOT / "benchmarks" / "janus_shapes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("janus_shapes", module)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_adapter_is_built_loaded_and_answers() -> None:
    shapes = _janus_shapes()
    adapter = shapes.build_adapter("tiny", "cpu")
    assert adapter._model is not None  # the benchmark's own model, never a download
    identity = adapter.identity()
    assert identity["commit"] == "random-init-tiny" and adapter.label == "bench-tiny"
    (output,) = adapter.generate_text([TextRequest("t", "s0", 0, [ChatMessage("user", ["hello"])], 3)])
    assert isinstance(output.text, str)
    assert adapter.image_loop is not None  # the step loop the image benchmark times
    assert shapes.parameter_count(adapter) > 0


def test_the_benchmark_image_task_declares_its_score() -> None:
    """The whole-task benchmarks' minimal task records scores of its own declared shape (validated before writing)."""
    spec = importlib.util.spec_from_file_location("task_runs", ROOT / "benchmarks" / "task_runs.py")
    assert spec is not None and spec.loader is not None
    task_runs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(task_runs)
    task_cls = task_runs.MinimalImageTask
    task = task_cls(task_cls.Options(images_per_prompt=1), seed=0)
    score = task.score(None, ImageOutput([Image.new("RGB", (4, 4), (10, 20, 30))]))
    assert task_cls.Score.model_validate(score).brightness == 20.0
