"""The papers' own tables (Janus-Pro Tab. 3, 4, 5 and the FID tables): published rows and this run's rows.

The published rows are the Janus-family rows as printed (shared/protocols/paper_numbers.md); the headline
columns equal the tasks' `published` dicts (tested). Columns of tasks that do not exist yet (MM-Vet,
DPG-Bench, FID) stay empty until their results appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from janus_eval.reports.results import TaskResult


@dataclass(frozen=True)
class Column:
    """One column: a task and its metric (None: the task's headline)."""

    label: str
    task: str
    metric: str | None = None


@dataclass(frozen=True)
class PublishedRow:
    """A row as the paper prints it; `key` is the reference key of the tasks' published numbers."""

    model: str
    key: str | None
    source: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class PaperTable:
    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[PublishedRow, ...]
    digits: int
    note: str = ""


@dataclass(frozen=True)
class RunRow:
    """This run's row: a model's values in the table's columns; `caveat` marks values with result notes."""

    model: str
    values: tuple[float | None, ...]
    caveat: tuple[bool, ...]


UNDERSTANDING = PaperTable(
    key="understanding",
    title="Multimodal understanding (Janus-Pro Tab. 3 layout)",
    columns=(
        Column("POPE", "pope"), Column("MME-P", "mme"), Column("MMB", "mmbench"), Column("SEED", "seed_bench"),
        Column("GQA", "gqa"), Column("MMMU", "mmmu"), Column("MM-Vet", "mmvet"),
    ),
    rows=(
        PublishedRow("Janus-1.3B", "janus-1.3b", "Janus Tab. 2", (87.0, 1338.0, 69.4, 63.7, 59.1, 30.5, 34.3)),
        PublishedRow("JanusFlow-1.3B", "janusflow-1.3b", "JanusFlow Tab. 5", (88.0, 1333.1, 74.9, 70.5, 60.3, 29.3, 30.9)),
        PublishedRow("Janus-Pro-1B", "janus-pro-1b", "Janus-Pro Tab. 3", (86.2, 1444.0, 75.5, 68.3, 59.3, 36.3, 39.8)),
        PublishedRow("Janus-Pro-7B", "janus-pro-7b", "Janus-Pro Tab. 3", (87.4, 1567.1, 79.2, 72.1, 62.0, 41.0, 50.0)),
    ),
    digits=1,
    note="POPE believed F1 on the random split; MME-P the perception sum; MMB MMBench_DEV_EN without circular evaluation",
)  # fmt: skip

GENEVAL = PaperTable(
    key="geneval",
    title="GenEval (Janus-Pro Tab. 4 layout)",
    columns=tuple(
        Column(label, "geneval", metric)
        for label, metric in (
            ("Single Obj.", "single_object"), ("Two Obj.", "two_object"), ("Counting", "counting"),
            ("Colors", "colors"), ("Position", "position"), ("Color Attri.", "color_attr"), ("Overall", "overall"),
        )
    ),
    rows=(
        PublishedRow("Janus", "janus-1.3b", "Janus Tab. 3", (0.97, 0.68, 0.30, 0.84, 0.46, 0.42, 0.61)),
        PublishedRow("JanusFlow", "janusflow-1.3b", "JanusFlow Tab. 2", (0.97, 0.59, 0.45, 0.83, 0.53, 0.42, 0.63)),
        PublishedRow("Janus-Pro-1B", "janus-pro-1b", "Janus-Pro Tab. 4", (0.98, 0.82, 0.51, 0.89, 0.65, 0.56, 0.73)),
        PublishedRow("Janus-Pro-7B", "janus-pro-7b", "Janus-Pro Tab. 4", (0.99, 0.89, 0.59, 0.90, 0.79, 0.66, 0.80)),
    ),
    digits=2,
    note="Overall is the unweighted mean of the six task scores; the papers' sampling settings were never published",
)  # fmt: skip

DPG_BENCH = PaperTable(
    key="dpg_bench",
    title="DPG-Bench (Janus-Pro Tab. 5 layout)",
    columns=tuple(
        Column(label, "dpg_bench", label.lower()) for label in ("Global", "Entity", "Attribute", "Relation", "Other")
    )
    + (Column("Overall", "dpg_bench", "overall"),),
    rows=(
        PublishedRow("Janus", "janus-1.3b", "Janus-Pro Tab. 5", (82.33, 87.38, 87.70, 85.46, 86.41, 79.68)),
        PublishedRow("JanusFlow (384)", "janusflow-1.3b", "JanusFlow Tab. 3", (87.03, 87.31, 87.39, 89.79, 88.10, 80.09)),
        PublishedRow("JanusFlow (256)", None, "JanusFlow appendix Tab. 3", (91.20, 88.83, 88.00, 87.60, 89.53, 81.23)),
        PublishedRow("Janus-Pro-1B", "janus-pro-1b", "Janus-Pro Tab. 5", (87.58, 88.63, 88.17, 88.98, 88.30, 82.63)),
        PublishedRow("Janus-Pro-7B", "janus-pro-7b", "Janus-Pro Tab. 5", (86.90, 88.90, 89.40, 89.32, 89.48, 84.19)),
    ),
    digits=2,
    note="Overall applies the dependency rule and the categories do not, so every category is above Overall",
)  # fmt: skip

FID = PaperTable(
    key="fid",
    title="FID (Janus Tab. 4, JanusFlow Tab. 4; lower is better)",
    columns=(Column("COCO-30K", "coco_fid"), Column("MJHQ-30K", "mjhq_fid")),
    rows=(
        PublishedRow("Janus 1.3B", "janus-1.3b", "Janus Tab. 4", (8.53, 10.10)),
        PublishedRow("JanusFlow (384)", "janusflow-1.3b", "JanusFlow Tab. 4", (None, 9.51)),
        PublishedRow("JanusFlow (256)", None, "JanusFlow", (None, 12.70)),
    ),
    digits=2,
    note="Janus does not state its caption sampling, resolution or FID library; JanusFlow follows GigaGAN's protocol",
)  # fmt: skip

PAPER_TABLES: tuple[PaperTable, ...] = (UNDERSTANDING, GENEVAL, DPG_BENCH, FID)


def metric_value(result: TaskResult, metric: str | None) -> float | None:
    """A metric of a result; None names the headline. A name not found as it is matches a key whose last
    dotted part equals it, case aside (tasks may prefix their category metrics)."""
    if metric is None:
        return result.headline.value
    if metric in result.metrics:
        return result.metrics[metric]
    matches = [key for key in result.metrics if key.split(".")[-1].lower() == metric.lower()]
    return result.metrics[matches[0]] if len(matches) == 1 else None


def run_rows(table: PaperTable, results: Sequence[TaskResult]) -> list[RunRow]:
    """One row per model with a result of any of the table's tasks, in model order."""
    by_model: dict[str, dict[str, TaskResult]] = {}
    for result in results:
        by_model.setdefault(result.model, {})[result.task] = result
    rows = []
    for model in sorted(by_model):
        found = by_model[model]
        if not any(column.task in found for column in table.columns):
            continue
        values, caveats = [], []
        for column in table.columns:
            result = found.get(column.task)
            values.append(None if result is None else metric_value(result, column.metric))
            caveats.append(result is not None and result.published is None)
        rows.append(RunRow(model, tuple(values), tuple(caveats)))
    return rows


def cell(value: float | None, digits: int, caveat: bool = False) -> str:
    return "–" if value is None else f"{value:.{digits}f}" + ("†" if caveat else "")


CAVEAT = "† not set against the paper (demo rows, a subset, other options or no reference model): see the result's notes"


def to_markdown(results: Sequence[TaskResult], tables: Sequence[PaperTable] = PAPER_TABLES) -> str:
    """Every table as Markdown: the published rows, then this run's rows under the same columns."""
    parts = []
    for table in tables:
        header = ["model", "source", *(column.label for column in table.columns)]
        lines = [f"## {table.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in table.rows:
            lines.append(
                f"| {row.model} | {row.source} | " + " | ".join(cell(v, table.digits) for v in row.values) + " |"
            )
        ours = run_rows(table, results)
        for run in ours:
            values = [cell(v, table.digits, c) for v, c in zip(run.values, run.caveat)]
            lines.append(f"| **{run.model}** | this run | " + " | ".join(values) + " |")
        if not ours:
            lines.append(f"| (no result of {', '.join(sorted({c.task for c in table.columns}))}) | this run |" + " |" * len(table.columns))
        lines += ["", table.note + ("; " + CAVEAT if any(any(r.caveat) for r in ours) else ""), ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)
