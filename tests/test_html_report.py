"""The HTML report of the demo runs of every task, opened in a real headless Chromium; the papers' tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from janus_eval.api import ModelSpec
from janus_eval.engine.runner import RunConfig, evaluate
from janus_eval.registry import TASKS
from janus_eval.reports.breakdowns import breakdowns
from janus_eval.reports.paper_tables import PAPER_TABLES
from tests.headless_browser import CHROMIUM, HeadlessChromium
from tests.helpers import read_jsonl, run_cli

ALL_TASKS = ["mme", "pope", "gqa", "seed_bench", "mmbench", "mmmu", "geneval"]
# short answers keep the tiny model fast; two images per GenEval prompt keep its tiny scorers fast
OPTIONS = {name: {"max_new_tokens": "8"} for name in ALL_TASKS if name != "geneval"} | {"geneval": {"images_per_prompt": "2"}}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo runs of every task with janus-tiny, and a 'release' whose MME answers were all right."""
    output = tmp_path_factory.mktemp("report") / "results"
    config = RunConfig(model=ModelSpec(name="janus-tiny"), tasks=ALL_TASKS, task_options=OPTIONS, data_mode="demo",
                       output_dir=output, show_progress=False)  # fmt: skip
    evaluate(config)
    replay = output.parent / "release.jsonl"
    records = read_jsonl(output / "janus-tiny" / "mme.samples.jsonl")
    replay.write_text("".join(json.dumps({"id": r["id"], "output": r["target"].capitalize()}) + "\n" for r in records))
    evaluate(
        RunConfig(model=ModelSpec(name="predictions", args={"path": str(replay), "label": "release"}), tasks=["mme"],
                  task_options={"mme": OPTIONS["mme"]}, data_mode="demo", output_dir=output, show_progress=False)
    )  # fmt: skip
    return output


@pytest.fixture(scope="module")
def report(results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from janus_eval.cli import main

    path = tmp_path_factory.mktemp("page") / "report.html"
    assert main(["report", str(results), "--baseline", str(results / "release"), "-o", str(path), "--resamples", "200"]) == 0
    return path


def test_the_report_holds_every_part(report: Path, results: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert page.count("<html") == 1 and "<script src" not in page and "<link rel=\"stylesheet\"" not in page
    for section in ("leaderboard", "plots", "compare", "papers", "breakdowns", "images", "failures", "cards"):
        assert f'<section id="{section}">' in page
    assert "janus-pro-7b (paper)" in page  # published numbers beside the runs
    assert ">nan<" not in page  # the release has no result of most tasks: empty cells, not NaN
    assert "Janus-Pro Tab. 3" in page and "Janus-Pro Tab. 5" in page and "COCO-30K" in page
    assert '<span class="regression">regression</span>' in page  # janus-tiny's MME against the all-right release
    data = json.loads(page.split('id="report-data">')[1].split("</script>")[0].replace("<\\/", "</"))
    geneval_records = read_jsonl(results / "janus-tiny" / "geneval.samples.jsonl")
    assert len(data["images"]) == sum(len(r["score"]["images"]) for r in geneval_records) == 24
    assert all(item["thumb"] in data["thumbs"] and item["reason"] for item in data["images"])
    assert {item["task"] for item in data["failures"]} >= {"mme", "pope", "gqa", "seed_bench", "mmbench", "mmmu"}
    assert all(item["thumbs"] and item["why"] for item in data["failures"])  # every wrong answer has its image
    assert all(uri.startswith(("data:image/webp;base64,", "data:image/jpeg;base64,")) for uri in data["thumbs"].values())


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_report_in_a_headless_browser(report: Path, tmp_path: Path) -> None:
    with HeadlessChromium() as browser:
        browser.open(report)
        assert browser.evaluate("document.body.dataset.ready") == "1"
        # every embedded picture decodes: the plots, and every thumbnail of every page of the lists
        broken = browser.evaluate(
            "Promise.all([...Array.from(document.images).map((i) => i.src), "
            "...Object.values(JSON.parse(document.getElementById('report-data').textContent).thumbs)]"
            ".map((src) => new Promise((done) => { const i = new Image(); i.onload = () => done(i.naturalWidth > 0 ? 0 : 1);"
            " i.onerror = () => done(1); i.src = src; }))).then((r) => [r.length, r.reduce((a, b) => a + b, 0)])"
        )
        assert broken[0] > 20 and broken[1] == 0
        shown = browser.evaluate("Array.from(document.images).filter((i) => !(i.complete && i.naturalWidth > 0)).length")
        assert shown == 0

        def select(list_id: str, field: str, value: str) -> list[Any]:
            return browser.evaluate(
                f"(() => {{ const root = document.getElementById('{list_id}');"
                f" const s = root.querySelector('select[data-field={field}]'); s.value = {json.dumps(value)};"
                " s.dispatchEvent(new Event('change'));"
                " return [Number(root.dataset.shown), root.querySelectorAll('.items > *').length,"
                " Array.from(root.querySelectorAll('.items .badge')).map((b) => b.textContent)]; })()"
            )

        everything = select("image-list", "category", "")
        counting = select("image-list", "category", "counting")
        assert everything[0] == 24 and everything[1] == 24  # one page of 24
        assert counting[0] == counting[1] == 4 and set(counting[2]) == {"counting"}
        gqa = select("failure-list", "task", "gqa")
        assert 0 < gqa[0] < select("failure-list", "task", "")[0]
        assert select("failure-list", "task", "gqa")[2][0] == "gqa"
        browser.evaluate("document.getElementById('images').scrollIntoView()")
        shot = browser.screenshot(tmp_path / "report.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        assert browser.console_errors() == []
        assert browser.requests() == [report.resolve().as_uri()]  # the page itself, nothing else


def test_paper_tables_as_markdown(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["report", str(results), "--paper-tables"], capsys)
    assert code == 0, err
    assert "| Janus-Pro-7B | Janus-Pro Tab. 3 | 87.4 | 1567.1 | 79.2 | 72.1 | 62.0 | 41.0 | 50.0 |" in out
    assert "| Janus-Pro-7B | Janus-Pro Tab. 4 | 0.99 | 0.89 | 0.59 | 0.90 | 0.79 | 0.66 | 0.80 |" in out
    assert "| **janus-tiny** | this run | 0.0† |" in out  # demo rows: not set against the paper
    assert "(no result of dpg_bench) | this run |" in out


def test_failures_are_capped_and_thumbnails_optional(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page_path = tmp_path / "small.html"
    code, _, err = run_cli(["report", str(results), "-o", str(page_path), "--max-failures", "1", "--no-thumbnails"], capsys)
    assert code == 0, err
    page = page_path.read_text(encoding="utf-8")
    data = json.loads(page.split('id="report-data">')[1].split("</script>")[0].replace("<\\/", "</"))
    assert len(data["failures"]) == 6 and all(item["thumbs"] == [] for item in data["failures"])  # one per text task
    assert "janus-tiny/mme: the first 1 of 28 wrong answers are listed" in page


def test_published_rows_match_the_tasks_published_numbers() -> None:
    for table in PAPER_TABLES:
        for position, column in enumerate(table.columns):
            if column.task not in TASKS.names():
                continue
            task_cls = TASKS.get(column.task)
            if column.metric not in (None, task_cls().headline):
                continue
            for row in table.rows:
                if row.key in task_cls.published:
                    assert row.values[position] == task_cls.published[row.key], (table.key, column.label, row.model)


def test_breakdowns_follow_the_metric_names() -> None:
    overall, tables = breakdowns(
        {"perception": 300.0, "existence": 150.0, "existence.acc": 75.0, "existence.acc_plus": 75.0,
         "count": 150.0, "count.acc": 100.0, "count.acc_plus": 50.0}
    )  # fmt: skip
    assert overall == {"perception": 300.0}
    (table,) = tables
    assert table.rows == ["existence", "count"] and table.columns == ["score", "acc", "acc_plus"]
    assert table.cells[("count", "acc_plus")] == 50.0
    _, tables = breakdowns({"accuracy": 50.0, "category.a": 1.0, "category.b": 2.0, "subject.Art.accuracy": 3.0,
                            "subject.Art.count": 4.0})  # fmt: skip
    assert [(t.title, t.rows, t.columns) for t in tables] == [
        ("subject", ["Art"], ["accuracy", "count"]), ("category", ["a", "b"], ["value"])
    ]


def test_report_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["report", str(tmp_path)], capsys)
    assert code == 2 and "holds no result files" in err
    code, _, err = run_cli(["report", str(tmp_path / "missing")], capsys)
    assert code == 2 and "is not a folder of results" in err
