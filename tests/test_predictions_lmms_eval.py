"""The predictions adapter reads lmms-eval's `--log_samples` files: `doc_id` is the row, the answer is `resps` where
lmms-eval's filters changed it, else `filtered_resps` (files written by lmms-eval 0.7.3 have this form)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from janus_eval.api import ModelSpec, TextRequest
from janus_eval.errors import UserError
from janus_eval.registry import MODELS
from tests.helpers import read_json, run_cli


def _write(path: Path, lines: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _replay(path: str, task: str, rows: list[int]) -> list[str]:
    adapter = MODELS.get("predictions").from_spec(ModelSpec("predictions", args={"path": path}))
    return [output.text for output in adapter.generate_text([TextRequest(task, f"id{row}", row, [], 8) for row in rows])]


def test_lmms_eval_sample_lines_give_the_raw_answer_by_doc_id(tmp_path: Path) -> None:
    _write(
        tmp_path / "janus-tiny" / "20261201_120000_samples_mme.jsonl",
        [
            {"doc_id": 0, "target": "Yes", "filtered_resps": "Yes", "input": "Q0"},
            {"doc_id": 1, "target": "No", "resps": [["The answer is B"]], "filtered_resps": ["B"], "input": "Q1"},
            {"doc_id": 2, "target": "No", "filtered_resps": ["no"], "input": "Q2"},
        ],
    )
    assert _replay(str(tmp_path / "*" / "*_samples_{task}.jsonl"), "mme", [2, 0, 1]) == ["no", "Yes", "The answer is B"]


def test_patterns_must_name_one_file_and_answers_must_be_text(tmp_path: Path) -> None:
    for stamp in ("20261201_120000", "20261202_120000"):
        _write(tmp_path / f"{stamp}_samples_pope.jsonl", [{"doc_id": 0, "filtered_resps": "yes"}])
    with pytest.raises(UserError, match="exactly one file"):
        _replay(str(tmp_path / "*_samples_{task}.jsonl"), "pope", [0])
    _write(tmp_path / "odd.jsonl", [{"doc_id": 0, "filtered_resps": ["a", "b"]}])
    with pytest.raises(UserError, match="odd.jsonl:1: the lmms-eval answer is list"):
        _replay(str(tmp_path / "odd.jsonl"), "pope", [0])
    _write(tmp_path / "bare.jsonl", [{"doc_id": 0}])
    with pytest.raises(UserError, match="needs `resps` or `filtered_resps`"):
        _replay(str(tmp_path / "bare.jsonl"), "pope", [0])


def test_an_lmms_eval_run_is_scored_by_our_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the 12 POPE demo rows (4 per split, yes/no/yes/no), answered as lmms-eval would log them
    answers = ["yes", "no", "Yes.", "no", "yes", "yes", "no", "no", "maybe", "No", "yes", "no"]
    _write(tmp_path / "lmms" / "x_samples_pope.jsonl", [{"doc_id": i, "filtered_resps": a} for i, a in enumerate(answers)])
    code, _, err = run_cli(
        ["--model", "predictions", "--model-args", f"path={tmp_path}/lmms/*_samples_{{task}}.jsonl", "--tasks", "pope",
         "--data", "demo", "--task-option", "pope.extraction=lmms_eval", "--task-option", "pope.split=all",
         "--output-dir", str(tmp_path / "out")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    metrics = read_json(tmp_path / "out" / "predictions" / "pope.json")["metrics"]
    # exact match: "Yes." and "maybe" are neither yes nor no; right: rows 0, 1, 3, 4, 7, 9, 10, 11
    assert metrics["overall.accuracy"] == pytest.approx(100 * 8 / 12)
