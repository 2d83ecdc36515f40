"""Per-task breakdowns read off the metric names alone, so a new task's categories appear without code.

Names are dotted: `a` is an overall number; `a.b` is row `a` of a table whose columns are the `b`s when
several `a`s share them (POPE's splits, MME's categories with `acc` / `acc_plus`), else row `b` of table `a`
(MMBench's `category.X`, SEED's `dimension.X`); `a.b.c` is row `b`, column `c` of table `a` (MMMU's
`subject.X.accuracy`, GQA's `structural.X.accuracy`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

VALUE = "value"


@dataclass
class Breakdown:
    """A table: title, row names, column names, and (row, column) -> value."""

    title: str
    rows: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    cells: dict[tuple[str, str], float | None] = field(default_factory=dict)

    def put(self, row: str, column: str, value: float | None) -> None:
        if row not in self.rows:
            self.rows.append(row)
        if column not in self.columns:
            self.columns.append(column)
        self.cells[(row, column)] = value


def breakdowns(metrics: Mapping[str, float | None]) -> tuple[dict[str, float | None], list[Breakdown]]:
    """(overall numbers, tables) of one result's metrics."""
    overall = {k: v for k, v in metrics.items() if "." not in k}
    pairs: dict[str, dict[str, float | None]] = defaultdict(dict)
    tables: dict[str, Breakdown] = {}
    for key, value in metrics.items():
        parts = key.split(".")
        if len(parts) == 2:
            pairs[parts[0]][parts[1]] = value
        elif len(parts) > 2:
            tables.setdefault(parts[0], Breakdown(parts[0])).put(".".join(parts[1:-1]), parts[-1], value)
    shared = defaultdict(int)
    for columns in pairs.values():
        for column in columns:
            shared[column] += 1
    pivot = [a for a, columns in pairs.items() if len(pairs) > 1 and all(shared[c] > 1 for c in columns)]
    if pivot:
        table = Breakdown("by " + ("category" if all(a in overall for a in pivot) else "part"))
        for a in pivot:
            if a in overall:  # MME: the category's score beside its parts
                table.put(a, "score", overall.pop(a))
            for column, value in pairs[a].items():
                table.put(a, column, value)
        tables[table.title] = table
    for a, columns in pairs.items():
        if a not in pivot:
            for row, value in columns.items():
                tables.setdefault(a, Breakdown(a)).put(row, VALUE, value)
    return overall, list(tables.values())
