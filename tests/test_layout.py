"""The package's wings import one way only, and no module imports another in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.source_imports import imported_names

ROOT = Path(__file__).resolve().parent.parent
# where each wing's modules live in the checkout, and the wings each may import (itself included)
FOLDERS = {
    "tasks": ROOT / "tasks",
    "model_adapters": ROOT / "model_adapters",
    "engine": ROOT / "janus_eval" / "engine",
    "data": ROOT / "janus_eval" / "data",
    "rules": ROOT / "janus_eval" / "rules",
    "prompts": ROOT / "janus_eval" / "prompts",
    "scorers": ROOT / "janus_eval" / "scorers",
    "reports": ROOT / "janus_eval" / "reports",
}
CONTRACTS = {"api", "errors"}
ALLOWED = {
    "contracts": {"contracts"},
    "registry": {"contracts"},
    "data": {"contracts", "data"},
    "rules": {"contracts", "rules"},
    "prompts": {"contracts", "data", "rules", "prompts"},
    "scorers": {"contracts", "data", "rules", "scorers"},
    "model_adapters": {"contracts", "registry", "data", "model_adapters"},
    "tasks": {"contracts", "registry", "data", "rules", "prompts", "scorers", "tasks"},
    "reports": {"contracts", "registry", "data", "rules", "reports"},
    "engine": {"contracts", "registry", "data", "reports", "engine"},
    "face": {"contracts", "registry", "data", "rules", "prompts", "scorers", "reports", "engine", "face"},
}
MODEL_LIBRARIES = {"torch", "transformers", "open_clip", "mmdet", "mmcv", "torchvision", "timm", "diffusers"}


def _module_name(path: Path) -> str:
    if path.is_relative_to(ROOT / "janus_eval"):
        parts = path.relative_to(ROOT).with_suffix("").parts
    else:  # tasks/ and model_adapters/ ship as janus_eval.tasks / janus_eval.model_adapters
        parts = ("janus_eval", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _wing(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:  # the package itself: its version and the checkout finder
        return "contracts"
    if parts[1] in FOLDERS:
        return parts[1]
    if parts[1] in CONTRACTS:
        return "contracts"
    if parts[1] == "registry":
        return "registry"
    return "face"


def _modules() -> dict[str, Path]:
    paths = [*(ROOT / "janus_eval").glob("*.py"), *(p for folder in FOLDERS.values() for p in folder.rglob("*.py"))]
    return {_module_name(path): path for path in paths}


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    return imported_names(ast.parse(path.read_text(encoding="utf-8")), top_level_only=top_level_only)


def test_every_wing_imports_only_the_wings_below_it() -> None:
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        wing = _wing(name)
        for imported in _imports(path):
            if imported in modules and _wing(imported) not in ALLOWED[wing]:
                wrong.append(f"{name} ({wing}) imports {imported} ({_wing(imported)})")
    assert not wrong, "\n".join(wrong)


def test_nothing_imports_the_command_line() -> None:
    modules = _modules()
    importers = [name for name, path in modules.items() if name != "janus_eval.cli" and "janus_eval.cli" in _imports(path)]
    assert not importers


def test_rule_modules_import_no_model_library() -> None:
    for name, path in _modules().items():
        if _wing(name) == "rules":
            heavy = {imported.split(".")[0] for imported in _imports(path)} & MODEL_LIBRARIES
            assert not heavy, f"{name} imports {heavy}"


def test_no_import_circle_between_modules() -> None:
    modules = _modules()
    graph = {
        name: {imported for imported in _imports(path, top_level_only=True) if imported in modules and imported != name}
        for name, path in modules.items()
    }
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import circle: " + " -> ".join([*trail[trail.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_every_wing_says_what_lives_there() -> None:
    for folder in (ROOT / "janus_eval").iterdir():
        if folder.is_dir() and (folder / "__init__.py").is_file():
            assert ast.get_docstring(ast.parse((folder / "__init__.py").read_text())), folder.name


def test_the_top_level_holds_only_the_contracts_and_the_face() -> None:
    top = sorted(path.name for path in (ROOT / "janus_eval").glob("*.py"))
    assert top == ["__init__.py", "api.py", "cli.py", "errors.py", "registry.py"]
