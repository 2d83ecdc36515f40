"""The benchmarks' randomly initialised models go through the adapter as a run's would (the scripts are not run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from janus_eval.api import ChatMessage, TextRequest

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
