"""The leaderboard: models x task headlines, with published numbers and deltas, rebuilt from result files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from janus_eval.data.file_writes import write_atomically
from janus_eval.reports.results import TaskResult, find_results


def build_table(results: list[TaskResult]) -> pd.DataFrame:
    """One row per model; for each task its headline, the published value and the delta."""
    rows: dict[str, dict[str, object]] = {}
    tasks = sorted({r.task for r in results})
    for result in results:
        row = rows.setdefault(result.model, {"model": result.model})
        prefix = f"{result.task} ({result.headline.metric})"
        row[prefix] = result.headline.value
        if result.published is not None:
            row[f"{result.task} published"] = result.published.value
            row[f"{result.task} delta"] = result.published.delta
        subset = data_subset(result)
        if subset:
            row[f"{result.task} data"] = subset
        if result.notes:
            row[f"{result.task} notes"] = "; ".join(result.notes)
    columns = ["model"]
    for task in tasks:
        metric_columns = sorted({c for r in rows.values() for c in r if c.startswith(f"{task} (")})
        columns += metric_columns
        extra = (f"{task} data", f"{task} published", f"{task} delta", f"{task} notes")
        columns += [c for c in extra if any(c in r for r in rows.values())]
    table = pd.DataFrame(list(rows.values()), columns=columns)
    return table.sort_values("model").reset_index(drop=True)


def data_subset(result: TaskResult) -> str | None:
    """What a row's number was computed on when it is not the whole benchmark: the demo rows or a --limit."""
    parts = []
    if result.data.get("origin") == "demo":
        parts.append("demo rows")
    if result.manifest.limit is not None:
        parts.append(f"--limit {result.manifest.limit}")
    return ", ".join(parts) or None


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def to_markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def write_leaderboard(output_dir: Path) -> tuple[Path, Path, str]:
    """Rebuilds `leaderboard.md` and `leaderboard.csv` from every result file under `output_dir`."""
    table = build_table(find_results(output_dir))
    markdown = to_markdown(table)
    md_path, csv_path = output_dir / "leaderboard.md", output_dir / "leaderboard.csv"
    write_atomically(md_path, "# janus-eval leaderboard\n\n" + markdown, "the leaderboard")
    write_atomically(csv_path, table.to_csv(index=False), "the leaderboard")
    return md_path, csv_path, markdown
