"""`janus-eval report RESULTS_DIR`: one self-contained HTML file on how the checkpoints stand.

Leaderboard with the papers' numbers, plots, the papers' tables, per-task breakdowns, the generated images
with their verdicts, the understanding answers scored wrong, compare verdicts against a baseline, and every
result's protocol card and manifest. Everything is embedded (plots and thumbnails as data URIs, data as
JSON read by the page's own script): the file opens offline and as an e-mail attachment.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from janus_eval.errors import ArgumentParser, UserError
from janus_eval.registry import TASKS
from janus_eval.reports.breakdowns import breakdowns
from janus_eval.reports.compare import TaskComparison, compare_task, load_run
from janus_eval.reports.leaderboard import build_table
from janus_eval.reports.paper_tables import CAVEAT, PAPER_TABLES, PaperTable, cell, run_rows, to_markdown
from janus_eval.reports.plots import category_bars, headline_bars
from janus_eval.reports.report_items import Item, failure_items, image_items, no_images, wrong_answers
from janus_eval.reports.report_page import SCRIPT, STYLE
from janus_eval.reports.results import RESULT_SCHEMA, TaskResult, read_result, write_output
from janus_eval.reports.sample_images import SampleImages
from janus_eval.reports.thumbnails import ThumbnailFormat, ThumbnailStore

PAGE_SIZE = 24


@dataclass
class ReportOptions:
    baseline: Path | None = None
    data_dir: Path | None = None
    max_failures: int = 1000
    thumbnail_size: int = 160
    thumbnail_format: ThumbnailFormat = "webp"
    resamples: int = 1000
    allow_protocol_mismatch: bool = False
    thumbnails: bool = True


@dataclass
class Run:
    """One result file with the folder it is in."""

    result: TaskResult
    model_dir: Path


@dataclass
class Content:
    runs: list[Run]
    comparisons: list[tuple[str, str, TaskComparison | None, str]] = field(default_factory=list)
    images: list[Item] = field(default_factory=list)
    failures: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_runs(results_dir: Path) -> list[Run]:
    """The result files of a results folder (`<model>/<task>.json`) or of one model folder (`<task>.json`)."""
    if not results_dir.is_dir():
        raise UserError(f"{results_dir} is not a folder of results")
    paths = sorted(results_dir.glob("*.json")) or sorted(results_dir.glob("*/*.json"))
    runs = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and data.get("schema_version") == RESULT_SCHEMA:
            runs.append(Run(read_result(path), path.parent))
    if not runs:
        raise UserError(f"{results_dir} holds no result files (<model>/<task>.json); run an evaluation first")
    return runs


def collect(runs: Sequence[Run], options: ReportOptions) -> tuple[Content, ThumbnailStore]:
    """Reads the records of every run: image verdicts, understanding failures, compare verdicts."""
    content = Content(list(runs))
    thumbs = ThumbnailStore(options.thumbnail_size, options.thumbnail_format)
    for run in runs:
        result = run.result
        try:
            _, records = load_run(run.model_dir, result.task)
        except UserError as exc:
            content.notes.append(f"{result.model}/{result.task}: records not read ({exc})")
            continue
        if result.images_dir is not None:
            content.images += image_items(result, records, run.model_dir, thumbs)
        elif result.task in TASKS.names() and TASKS.get(result.task).request_kind == "text":
            wrong = wrong_answers(result, records)
            listed = wrong[: options.max_failures]
            images_of = no_images
            if options.thumbnails and listed:
                sources = SampleImages(result, options.data_dir, wanted={r.id for r in listed})
                if sources.problem:
                    content.notes.append(f"{result.model}/{result.task}: no thumbnails: {sources.problem}")
                images_of = sources.images
            content.failures += failure_items(result, listed, images_of, thumbs)
            if len(wrong) > len(listed):
                content.notes.append(f"{result.model}/{result.task}: the first {len(listed)} of {len(wrong)} wrong answers are listed")
    if options.baseline is not None:
        content.comparisons = compare_all(runs, options)
    return content, thumbs


def compare_all(runs: Sequence[Run], options: ReportOptions) -> list[tuple[str, str, TaskComparison | None, str]]:
    """compare (paired bootstrap) of every run against the baseline's result of the same task."""
    assert options.baseline is not None
    if not options.baseline.is_dir():
        raise UserError(f"--baseline {options.baseline} is not a model result folder")
    baseline = options.baseline.resolve()
    rows = []
    for run in runs:
        if run.model_dir.resolve() == baseline:
            continue
        if not (baseline / f"{run.result.task}.json").is_file():
            rows.append((run.result.model, run.result.task, None, "the baseline has no result of this task"))
            continue
        try:
            comparison = compare_task(
                run.result.task, baseline, run.model_dir, resamples=options.resamples,
                allow_protocol_mismatch=options.allow_protocol_mismatch,
            )  # fmt: skip
            rows.append((run.result.model, run.result.task, comparison, ""))
        except UserError as exc:
            rows.append((run.result.model, run.result.task, None, str(exc)))
    return rows


# ----------------------------------------------------------------------------- HTML pieces


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None, or pandas' NaN for a missing cell
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1, classes: Sequence[str] = ()) -> str:
    """A table of already-escaped cells; the first `text_columns` columns are left-aligned."""

    def row_html(cells: Sequence[str], tag: str) -> str:
        return "".join(f'<{tag} class="text">{c}</{tag}>' if i < text_columns else f"<{tag}>{c}</{tag}>" for i, c in enumerate(cells))

    head = f"<tr>{row_html([_e(h) for h in header], 'th')}</tr>"
    body = "".join(
        f'<tr class="{classes[i] if i < len(classes) else ""}">{row_html(r, "td")}</tr>' for i, r in enumerate(rows)
    )
    return f"<table>{head}{body}</table>"


def leaderboard_html(results: Sequence[TaskResult]) -> str:
    """The leaderboard (headlines, published numbers and deltas of comparable runs, notes), then the papers'
    headline numbers of every reference model under the same columns."""
    table = build_table(list(results))
    rows = [[_e(v) if isinstance(v, str) else _num(v) for v in row] for row in table.itertuples(index=False)]
    text = [i for i, c in enumerate(table.columns) if c == "model" or c.endswith(" notes")]
    rows = [[f'<span class="note">{c}</span>' if i in text[1:] else c for i, c in enumerate(r)] for r in rows]
    published = {r.task: TASKS.get(r.task).published for r in results if r.task in TASKS.names()}
    keys = sorted({key for numbers in published.values() for key in numbers})
    for key in keys:
        cells = []
        for column in table.columns:
            task = column.split(" (")[0]
            headline = column.endswith(")") and " (" in column
            cells.append(_e(f"{key} (paper)") if column == "model" else _num(published.get(task, {}).get(key)) if headline else "")
        rows.append(cells)
    classes = ["ours"] * len(table) + [""] * len(keys)
    return _table(list(table.columns), rows, classes=classes)


def _plot(svg: str | None, alt: str) -> str:
    if svg is None:
        return ""
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img class="plot" alt="{_e(alt)}" src="{uri}">'


def plots_html(results: Sequence[TaskResult]) -> str:
    published = {r.task: dict(TASKS.get(r.task).published) for r in results if r.task in TASKS.names()}
    return _plot(headline_bars(results, published), "headline of every task against the papers") + _plot(
        category_bars(results), "GenEval task scores against the papers"
    )


def paper_table_html(table: PaperTable, results: Sequence[TaskResult]) -> str:
    header = ["model", "source", *(c.label for c in table.columns)]
    rows = [[_e(r.model), _e(r.source), *(cell(v, table.digits) for v in r.values)] for r in table.rows]
    ours = run_rows(table, results)
    rows += [[_e(r.model), "this run", *(cell(v, table.digits, c) for v, c in zip(r.values, r.caveat))] for r in ours]
    classes = [""] * len(table.rows) + ["ours"] * len(ours)
    note = table.note + ("; " + CAVEAT if any(any(r.caveat) for r in ours) else "")
    return f"<h3>{_e(table.title)}</h3>" + _table(header, rows, 2, classes) + f'<p class="note">{_e(note)}</p>'


def breakdowns_html(results: Sequence[TaskResult]) -> str:
    parts = []
    for task in sorted({r.task for r in results}):
        found = sorted((r for r in results if r.task == task), key=lambda r: r.model)
        models = [r.model for r in found]
        parts.append(f"<h3>{_e(task)}</h3>")
        split = [breakdowns(r.metrics) for r in found]
        names = list(dict.fromkeys(k for overall, _ in split for k in overall))
        parts.append('<div class="tables">')
        parts.append(_table(["metric", *models], [[_e(n), *(_num(o.get(n)) for o, _ in split)] for n in names]))
        titles = list(dict.fromkeys(t.title for _, tables in split for t in tables))
        for title in titles:
            tables = [next((t for t in ts if t.title == title), None) for _, ts in split]
            rows_ = list(dict.fromkeys(row for t in tables if t for row in t.rows))
            columns = list(dict.fromkeys(c for t in tables if t for c in t.columns))
            header = [title] + [f"{c} · {m}" if len(models) > 1 else c for c in columns for m in models]
            body = [
                [_e(row)] + [_num(t.cells.get((row, c)) if t else None) for c in columns for t in tables] for row in rows_
            ]
            parts.append(_table(header, body))
        parts.append("</div>")
    return "".join(parts)


def comparisons_html(rows: Sequence[tuple[str, str, TaskComparison | None, str]], baseline: Path) -> str:
    header = ["model", "task", "metric", "baseline", "candidate", "delta", "CI", "paired", "improved / regressed", "verdict"]
    body, notes = [], []
    for model, task, c, problem in rows:
        if c is None:
            body.append([_e(model), _e(task), "", "", "", "", "", "", "", f'<span class="note">not compared: {_e(problem)}</span>'])
            continue
        flips = "–" if c.improved is None else f"{c.improved} / {c.regressed}"
        verdict = f'<span class="{c.verdict.replace(" ", "-")}">{_e(c.verdict)}</span>'
        ci = f"[{_num(c.ci_low)}, {_num(c.ci_high)}] ({c.confidence:.0%})"
        body.append([_e(model), _e(task), _e(c.metric), _num(c.base), _num(c.candidate), _num(c.delta), ci,
                     str(c.paired_samples), flips, verdict])  # fmt: skip
        notes += [f"{model}/{task}: {w}" for w in c.warnings]
    note = "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
    return f'<p class="meta">baseline: {_e(baseline)}; paired bootstrap over resampling units</p>' + _table(header, body, 3) + note


def cards_html(runs: Sequence[Run]) -> str:
    parts = []
    for run in sorted(runs, key=lambda r: (r.result.model, r.result.task)):
        r = run.result
        payload = {"protocol": r.protocol, "options": r.options, "scorers": r.scorers, "model_identity": r.model_identity,
                   "data": r.data, "counts": r.counts.model_dump(), "manifest": r.manifest.model_dump()}  # fmt: skip
        notes = "".join(f"<li>{_e(n)}</li>" for n in r.notes)
        parts.append(
            f"<details><summary>{_e(r.model)} / {_e(r.task)}: protocol card and manifest</summary>"
            + (f'<ul class="note">{notes}</ul>' if notes else "")
            + f"<pre>{_e(json.dumps(payload, indent=2, ensure_ascii=False))}</pre></details>"
        )
    return "".join(parts)


def _list_section(key: str, title: str, filters: Sequence[tuple[str, str]], count: int, search: bool = True) -> str:
    selects = "".join(
        f'<label>{_e(label)} <select data-field="{field}"><option value="">all</option></select></label>'
        for field, label in filters
    )
    box = '<label>search <input type="search" placeholder="text"></label>' if search else ""
    return (
        f'<div id="{key}" data-page-size="{PAGE_SIZE}"><p class="meta">{count} {title}</p>'
        f'<div class="controls">{selects}{box}<span class="pager"><button class="prev" type="button">previous</button>'
        f'<button class="next" type="button">next</button></span><span class="status"></span></div>'
        f'<div class="items{" grid" if key == "image-list" else ""}"></div></div>'
    )


def render(content: Content, thumbs: ThumbnailStore, results_dir: Path, options: ReportOptions) -> str:
    """The whole page."""
    results = [run.result for run in content.runs]
    models = sorted({r.model for r in results})
    sections: list[tuple[str, str, str]] = [
        ("leaderboard", "Leaderboard and the papers", leaderboard_html(results)),
        ("plots", "Plots", plots_html(results)),
    ]
    if options.baseline is not None:
        sections.append(("compare", "Against the baseline", comparisons_html(content.comparisons, options.baseline)))
    sections += [
        ("papers", "The papers' tables", "".join(paper_table_html(t, results) for t in PAPER_TABLES)),
        ("breakdowns", "Per-task breakdowns", breakdowns_html(results)),
    ]
    if content.images:
        filters = [("task", "task"), ("model", "model"), ("category", "category"), ("verdict", "verdict")]
        sections.append(("images", "Generated images and verdicts", _list_section("image-list", "images", filters, len(content.images))))
    if content.failures:
        filters = [("task", "task"), ("model", "model"), ("category", "category"), ("kind", "why")]
        sections.append(("failures", "Understanding answers scored wrong", _list_section("failure-list", "wrong answers", filters, len(content.failures))))
    sections.append(("cards", "Protocol cards and manifests", cards_html(content.runs)))
    payload = json.dumps({"images": content.images, "failures": content.failures, "thumbs": thumbs.uris}, ensure_ascii=False)
    payload = payload.replace("</", "<\\/")  # no "</script>" inside the data block
    nav = "".join(f'<a href="#{key}">{_e(title)}</a>' for key, title, _ in sections)
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in content.notes)
    body = "".join(f'<section id="{key}"><h2>{_e(title)}</h2>{inner}</section>' for key, title, inner in sections)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>janus-eval report: {_e(', '.join(models))}</title><style>{STYLE}</style></head><body>"
        f'<h1>janus-eval report</h1><p class="meta">{_e(results_dir)} · {len(models)} model(s): {_e(", ".join(models))} · '
        f"{len(results)} result(s) · generated {generated}</p><nav>{nav}</nav>{notes}{body}"
        f'<script type="application/json" id="report-data">{payload}</script><script>{SCRIPT}</script></body></html>\n'
    )


def build_report(results_dir: Path, options: ReportOptions) -> str:
    runs = find_runs(results_dir)
    content, thumbs = collect(runs, options)
    return render(content, thumbs, results_dir, options)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="janus-eval report",
        description="One self-contained HTML report of a results folder (or the papers' tables as Markdown).",
    )
    parser.add_argument("results", type=Path, help="a results folder (results/) or one model folder")
    parser.add_argument("--baseline", type=Path, help="model folder of the last release: compare verdicts with CIs")
    parser.add_argument("-o", "--output", type=Path, help="where to write (default: RESULTS/report.html)")
    parser.add_argument("--paper-tables", action="store_true", help="print the papers' tables with this run's rows as Markdown")
    parser.add_argument("--data-dir", type=Path, help="the runs' --data-dir, for the thumbnails of wrong answers")
    parser.add_argument(
        "--no-thumbnails", action="store_true", help="do not read the runs' data again for the wrong answers' images"
    )
    parser.add_argument("--max-failures", type=int, default=1000, help="wrong answers listed per result (default 1000)")
    parser.add_argument("--thumbnail-size", type=int, default=160, help="longest side of thumbnails in pixels (default 160)")
    parser.add_argument("--thumbnail-format", choices=["webp", "jpeg"], default="webp")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples against --baseline")
    parser.add_argument("--allow-protocol-mismatch", action="store_true", help="compare runs of different protocols")
    return parser


def main(argv: Sequence[str]) -> int:
    """`janus-eval report ...`; returns the exit code (UserError is handled by the caller)."""
    args = build_parser().parse_args(list(argv))
    if args.max_failures < 0 or args.thumbnail_size < 16 or args.resamples < 0:
        raise UserError("--max-failures and --resamples must be 0 or more, --thumbnail-size at least 16")
    if args.paper_tables:
        markdown = to_markdown([run.result for run in find_runs(args.results)])
        if args.output is None:
            print(markdown)
        else:
            write_output(args.output, markdown)
        return 0
    options = ReportOptions(
        baseline=args.baseline, data_dir=args.data_dir, max_failures=args.max_failures,
        thumbnail_size=args.thumbnail_size, thumbnail_format=args.thumbnail_format, resamples=args.resamples,
        allow_protocol_mismatch=args.allow_protocol_mismatch, thumbnails=not args.no_thumbnails,
    )  # fmt: skip
    page = build_report(args.results, options)
    output = args.output or args.results / "report.html"
    write_output(output, page)
    print(f"report: {output} ({len(page.encode('utf-8')) / 1e6:.1f} MB)")
    return 0
