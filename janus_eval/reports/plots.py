"""Static plots for the HTML report, drawn by matplotlib as inline SVG (text as paths: no fonts to fetch)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from janus_eval.errors import UserError
from janus_eval.reports.paper_tables import GENEVAL, PaperTable, metric_value
from janus_eval.reports.results import TaskResult

PUBLISHED_COLOUR = "#b0b7c3"
RUN_COLOURS = ("#2f6db5", "#d9822b", "#3a9d5d", "#a23b72", "#6c5ba7", "#c44e52")


def _pyplot():  # noqa: ANN202 - matplotlib's module
    try:
        import matplotlib
    except ImportError:
        raise UserError("the report's plots need matplotlib: pip install 'janus-eval[report]'") from None
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "path"
    matplotlib.rcParams["svg.hashsalt"] = "janus-eval"  # the same figure gives the same SVG
    import matplotlib.pyplot as plt

    return plt


def _svg(figure: object) -> str:
    plt = _pyplot()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def headline_bars(results: Sequence[TaskResult], published: dict[str, dict[str, float]]) -> str:
    """One panel per task: each model's headline beside the papers' numbers for that task."""
    plt = _pyplot()
    tasks = sorted({r.task for r in results})
    columns = min(3, len(tasks))
    rows = (len(tasks) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.9 * rows), squeeze=False)
    models = sorted({r.model for r in results})
    for panel, task in zip(axes.flat, tasks):
        labels, values, colours = [], [], []
        for key, value in sorted(published.get(task, {}).items(), key=lambda kv: kv[1]):
            labels.append(f"{key} (paper)")
            values.append(value)
            colours.append(PUBLISHED_COLOUR)
        for position, model in enumerate(models):
            found = [r for r in results if r.task == task and r.model == model]
            if found and found[0].headline.value is not None:
                labels.append(model)
                values.append(found[0].headline.value)
                colours.append(RUN_COLOURS[position % len(RUN_COLOURS)])
        metric = next(r.headline.metric for r in results if r.task == task)
        panel.barh(range(len(values)), values, color=colours)
        panel.set_yticks(range(len(values)), labels, fontsize=7)
        panel.set_title(f"{task} ({metric})", fontsize=9)
        panel.tick_params(axis="x", labelsize=7)
        for y, value in enumerate(values):
            panel.text(value, y, f" {value:.4g}", va="center", fontsize=6)
        panel.margins(x=0.2)
    for panel in list(axes.flat)[len(tasks) :]:
        panel.axis("off")
    figure.tight_layout()
    return _svg(figure)


def category_bars(results: Sequence[TaskResult], table: PaperTable = GENEVAL) -> str | None:
    """Grouped bars per category of a paper table (GenEval's six tasks and Overall): papers and runs."""
    runs = [r for r in results if r.task == table.columns[0].task]
    if not runs:
        return None
    plt = _pyplot()
    series: list[tuple[str, list[float], str]] = [
        (f"{row.model} (paper)", [v if v is not None else 0.0 for v in row.values], PUBLISHED_COLOUR)
        for row in table.rows[-2:]
    ]
    for position, result in enumerate(sorted(runs, key=lambda r: r.model)):
        values = [metric_value(result, column.metric) for column in table.columns]
        series.append((result.model, [v or 0.0 for v in values], RUN_COLOURS[position % len(RUN_COLOURS)]))
    figure, axis = plt.subplots(figsize=(8.5, 3.0))
    width = 0.8 / len(series)
    for number, (label, values, colour) in enumerate(series):
        offsets = [x + (number - (len(series) - 1) / 2) * width for x in range(len(table.columns))]
        hatch = "//" if colour == PUBLISHED_COLOUR and number == 0 else None
        axis.bar(offsets, values, width, label=label, color=colour, hatch=hatch, edgecolor="white")
    axis.set_xticks(range(len(table.columns)), [c.label for c in table.columns], fontsize=8)
    axis.set_ylim(0, 1.05)
    axis.set_title(table.title, fontsize=9)
    axis.legend(fontsize=7, ncol=min(4, len(series)), loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    axis.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    return _svg(figure)
