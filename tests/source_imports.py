"""The project modules a source file imports, read from its syntax tree (for the layout and version checks)."""

from __future__ import annotations

import ast


def imported_names(tree: ast.AST, *, top_level_only: bool = False) -> set[str]:
    """Every `import x` and `from x import y` (as x and x.y), absolute imports only."""
    nodes = tree.body if top_level_only and isinstance(tree, ast.Module) else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found
