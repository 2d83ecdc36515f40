"""Holds each task's and adapter's `version` to its behaviour-defining code.

The fingerprint of a task (or adapter) is a digest of the code its outputs and scores depend on: its own
module and every project module it imports, transitively, apart from the contracts (api, errors, registry),
each reduced to its syntax tree without docstrings (comments, formatting and docs change nothing).
`tests/behaviour_versions.json` records (version, fingerprint) per name; tests/test_versions.py fails when
a fingerprint changes while the version stays.

After a change, either bump the `version` of every task/adapter it changes and run
    python tests/behaviour_versions.py --update
or, when the change alters no output and no score (a refactor), record the new fingerprints as they are:
    python tests/behaviour_versions.py --update --no-behaviour-change
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.source_imports import imported_names  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RECORD = Path(__file__).with_name("behaviour_versions.json")
CONTRACTS = {"janus_eval", "janus_eval.api", "janus_eval.errors", "janus_eval.registry"}
# wings whose code never defines an output or a score: the engine and the reports read and keep them
NOT_BEHAVIOUR = ("janus_eval.engine", "janus_eval.reports", "janus_eval.cli")


def _source_file(module: str) -> Path | None:
    if module.startswith(("janus_eval.tasks", "janus_eval.model_adapters")):
        parts = module.split(".")[1:]
    elif module.startswith("janus_eval."):
        parts = module.split(".")
    else:
        return None
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def behaviour_modules(module: str) -> dict[str, Path]:
    """`module` and the project modules it imports, transitively (contracts, engine and reports left out)."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name in CONTRACTS or name.startswith(NOT_BEHAVIOUR):
            continue
        path = _source_file(name)
        if path is None:
            continue
        seen[name] = path
        todo.extend(imported_names(ast.parse(path.read_text(encoding="utf-8"))))
    return seen


def fingerprint(module: str) -> str:
    digest = hashlib.sha256()
    for name, path in sorted(behaviour_modules(module).items()):
        tree = _strip_docstrings(ast.parse(path.read_text(encoding="utf-8")))
        digest.update(name.encode() + b"\x00" + ast.dump(tree).encode() + b"\x00")
    return digest.hexdigest()


def current() -> dict[str, dict[str, dict[str, Any]]]:
    """{"tasks": {name: {version, fingerprint}}, "adapters": {...}} for every registered built-in."""
    sys.path.insert(0, str(ROOT))
    from janus_eval.registry import MODELS, TASKS

    found: dict[str, dict[str, dict[str, Any]]] = {"tasks": {}, "adapters": {}}
    for kind, registry in (("tasks", TASKS), ("adapters", MODELS)):
        for name, cls in registry:
            if importlib.util.find_spec(cls.__module__) is None or _source_file(cls.__module__) is None:
                continue  # a third-party plug-in: not this repository's to version
            found[kind][name] = {"version": cls.version, "fingerprint": fingerprint(cls.__module__)}
    return found


def recorded() -> dict[str, dict[str, dict[str, Any]]]:
    return json.loads(RECORD.read_text(encoding="utf-8")) if RECORD.is_file() else {"tasks": {}, "adapters": {}}


def stale(now: dict[str, dict[str, dict[str, Any]]], then: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Names whose code changed while their version stayed."""
    return [
        f"{kind[:-1]} {name!r} (version {entry['version']})"
        for kind, entries in now.items()
        for name, entry in entries.items()
        if name in then.get(kind, {})
        and then[kind][name]["version"] == entry["version"]
        and then[kind][name]["fingerprint"] != entry["fingerprint"]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help="write the current versions and fingerprints")
    parser.add_argument(
        "--no-behaviour-change", action="store_true", help="accept changed code under unchanged versions (refactors)"
    )
    args = parser.parse_args(argv)
    now, then = current(), recorded()
    unbumped = stale(now, then)
    if not args.update:
        print("\n".join(unbumped) or "every version matches its code")
        return 1 if unbumped else 0
    if unbumped and not args.no_behaviour_change:
        print("code changed under an unchanged version; bump it, or pass --no-behaviour-change:\n" + "\n".join(unbumped))
        return 1
    RECORD.write_text(json.dumps(now, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
