"""The release gate: exit 0 when everything holds, 1 on a regression or a paper breach, 2 on unusable input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import demo_rows, run_cli, write_parquet
from tests.test_compare import PERFECT, _replay

BROKEN = ["Yes", "Yes"] * 14  # every false question answered wrong


def _gate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(["gate", *map(str, args), "--resamples", "200"], capsys)


def _tolerances(tmp_path: Path, data: object) -> Path:
    path = tmp_path / f"tolerances-{len(list(tmp_path.glob('tolerances-*')))}.json"
    path.write_text(json.dumps(data))
    return path


def test_a_known_regression_fails_and_an_equal_candidate_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _replay(tmp_path, "base", PERFECT, capsys)
    same = _replay(tmp_path, "same", PERFECT, capsys)
    broken = _replay(tmp_path, "broken", BROKEN, capsys)

    code, out, err = _gate(capsys, broken, "--baseline", base, "--output", tmp_path / "gate.md")
    assert code == 1, err
    assert out.startswith("## janus-eval gate: FAIL") and "| mme | perception | baseline |" in out
    assert "**FAIL**" in out and "0 improved / 14 regressed" in out
    assert (tmp_path / "gate.md").read_text() == out.rstrip("\n") + "\n"

    code, out, err = _gate(capsys, same, "--baseline", base)
    assert code == 0, err
    assert out.startswith("## janus-eval gate: PASS") and "1 of 1 checks passed" in out

    # the drop (1500 points, interval far below 0) is beyond any small allowance, within a huge one
    assert _gate(capsys, broken, "--baseline", base, "--tolerances", _tolerances(tmp_path, {"tasks": {"mme": {"max_drop": 100}}}))[0] == 1
    assert _gate(capsys, broken, "--baseline", base, "--tolerances", _tolerances(tmp_path, {"tasks": {"mme": {"max_drop": 5000}}}))[0] == 0


def _comparable_replay(tmp_path: Path, label: str, answers: list[str], capsys: pytest.CaptureFixture[str]) -> Path:
    """MME on a local copy of the demo rows (a full local dataset, so the run is set against the paper)."""
    data_dir = tmp_path / "data"
    if not (data_dir / "mme").is_dir():
        write_parquet(demo_rows("mme"), data_dir / "mme")
    saved = tmp_path / f"{label}.jsonl"
    saved.write_text("".join(json.dumps({"row": row, "output": text}) + "\n" for row, text in enumerate(answers)))
    code, _, err = run_cli(
        ["--model", "predictions", "--model-args", f"path={saved},label={label}", "--published-as", "janus-pro-7b",
         "--tasks", "mme", "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "results"), "--no-progress"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    return tmp_path / "results" / label


def test_a_paper_tolerance_breach_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _comparable_replay(tmp_path, "cand", PERFECT, capsys)  # 2000 points against the paper's 1567.1
    code, out, err = _gate(capsys, run, "--tolerances", _tolerances(tmp_path, {"tasks": {"mme": {"max_paper_distance": 100}}}))
    assert code == 1, err
    assert "paper (janus-pro-7b)" in out and "| 2000.00 | 1567.10 | 432.90 |" in out and "**FAIL**" in out
    code, out, _ = _gate(capsys, run, "--tolerances", _tolerances(tmp_path, {"default": {"max_paper_distance": 500}}))
    assert code == 0 and "PASS" in out


def test_unusable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _replay(tmp_path, "base", PERFECT, capsys)
    other = _replay(tmp_path, "other", PERFECT, capsys, "--task-option", "mme.prompt=lmms_eval")
    disjoint = _replay(tmp_path, "disjoint", PERFECT, capsys)
    samples = disjoint / "mme.samples.jsonl"
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    samples.write_text("".join(json.dumps({**r, "id": r["id"] + "-other"}) + "\n" for r in lines))
    cases = {
        "differ in their options": [other, "--baseline", base],
        "share no sample ids": [disjoint, "--baseline", base],
        "no result of task(s) geneval": [base, "--baseline", base, "--tasks", "geneval"],
        "is not a model result folder": [tmp_path / "nowhere", "--baseline", base],
        "nothing to check": [base],
        "not comparable with the paper": [base, "--tolerances", _tolerances(tmp_path, {"tasks": {"mme": {"max_paper_distance": 1}}})],
        "bad tolerance file": [base, "--baseline", base, "--tolerances", _tolerances(tmp_path, {"tasks": {"mme": {"max_dorp": 1}}})],
    }
    for message, args in cases.items():
        code, _, err = _gate(capsys, *args)
        assert code == 2 and message in err and "Traceback" not in err, (message, err)
