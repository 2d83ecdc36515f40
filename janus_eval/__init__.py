"""janus-eval: the evaluation harness for DeepSeek's Janus family of unified multimodal models."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

# In the installed wheel, `tasks/` and `model_adapters/` live inside this package
# (janus_eval.tasks, janus_eval.model_adapters). In a source checkout they sit beside it at the
# repository root; let the package find them there too, so that `python run_eval.py` and the
# tests work from a checkout exactly as the installed package does.
_root = Path(__file__).resolve().parent.parent
if (
    not (Path(__file__).parent / "tasks").is_dir()
    and (_root / "pyproject.toml").is_file()
    and (_root / "tasks" / "__init__.py").is_file()
):
    __path__.append(str(_root))  # type: ignore[name-defined]  # noqa: F821
