"""The registry: built-ins, aliases, clear errors, and third-party plug-ins through entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from janus_eval.errors import UserError
from janus_eval.registry import MODELS, TASKS, Registry


def test_builtins_are_registered() -> None:
    assert {"mme", "pope"} <= set(TASKS.names())
    assert {"janus_hf", "predictions"} <= set(MODELS.names())
    assert MODELS.resolve("janus-pro-7b")[0] == "janus_hf"
    assert MODELS.resolve("janus-tiny")[0] == "janus_hf"


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UserError) as info:
        TASKS.get("mmee")
    assert "unknown task 'mmee'" in str(info.value)
    assert "mme" in str(info.value) and "pope" in str(info.value)
    with pytest.raises(UserError, match="janus-pro-7b"):
        MODELS.get("janus-pro-8b")


def test_entry_point_plugin_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A separately installed package registers a task through the entry-point group."""
    (tmp_path / "myplugin_tasks.py").write_text(
        "from janus_eval.registry import Registry\n"
        "import tests_plugin_registry as reg\n"
        "class Dummy:\n    name = 'dummy_bench'\n"
        "reg.REGISTRY.register('dummy_bench', Dummy)\n"
    )
    dist = tmp_path / "myplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[janus_eval_test.tasks]\ndummy = myplugin_tasks\n")
    registry: Registry[object] = Registry("task", "janus_eval_test.tasks", ())
    holder = type(sys)("tests_plugin_registry")
    holder.REGISTRY = registry  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tests_plugin_registry", holder)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.names() == ["dummy_bench"]
