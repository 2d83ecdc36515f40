"""janus-eval: the evaluation harness for DeepSeek's Janus family of unified multimodal models."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

__version__ = "0.1.0"

# In the installed wheel, `tasks/` and `model_adapters/` live inside this package
# (janus_eval.tasks, janus_eval.model_adapters). In a source checkout they sit beside it at the
# repository root; this finder maps exactly those two names there, so that `python run_eval.py`
# and the tests work from a checkout exactly as the installed package does.
_ROOT = Path(__file__).resolve().parent.parent
_CHECKOUT_PACKAGES = {
    f"{__name__}.{name}": _ROOT / name
    for name in ("tasks", "model_adapters")
    if not (Path(__file__).parent / name).is_dir() and (_ROOT / "pyproject.toml").is_file()
}


class _CheckoutFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        folder = _CHECKOUT_PACKAGES.get(fullname)
        if folder is None or not (folder / "__init__.py").is_file():
            return None
        return importlib.util.spec_from_file_location(
            fullname, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )


# First in line: a checkout's janus_eval always takes its own tasks/ and model_adapters/, even where an
# editable install of another checkout maps those names elsewhere.
if _CHECKOUT_PACKAGES and not any(isinstance(f, _CheckoutFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _CheckoutFinder())
