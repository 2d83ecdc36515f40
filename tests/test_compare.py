"""Regression checks: paired comparison of two runs with a bootstrap interval and a gating exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from janus_eval.errors import UserError
from janus_eval.reports.compare import compare_task
from tests.helpers import read_json, run_cli


def _replay(tmp_path: Path, label: str, answers: list[str], capsys: pytest.CaptureFixture[str], *extra: str) -> Path:
    """A run of MME on the demo rows whose outputs are `answers` (by row), through the predictions adapter."""
    saved = tmp_path / f"{label}.jsonl"
    saved.write_text("".join(json.dumps({"row": row, "output": text}) + "\n" for row, text in enumerate(answers)))
    code, _, err = run_cli(
        ["--model", "predictions", "--model-args", f"path={saved},label={label}", "--tasks", "mme", "--data", "demo",
         "--output-dir", str(tmp_path / "results"), "--no-progress", *extra],
        capsys,
    )
    assert code == 0, err
    return tmp_path / "results" / label


# the demo rows alternate a true ("Yes") and a false ("No") question per image
PERFECT = ["Yes", "No"] * 14


def test_identical_runs_have_zero_delta(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _replay(tmp_path, "base", PERFECT, capsys)
    same = _replay(tmp_path, "same", PERFECT, capsys)
    result = compare_task("mme", base, same, resamples=200)
    assert result.base == result.candidate == read_json(base / "mme.json")["metrics"]["perception"] == 2000.0
    assert result.delta == 0 and result.ci_low == result.ci_high == 0
    assert result.verdict == "no significant change" and (result.improved, result.regressed) == (0, 0)
    assert result.paired_samples == 28 and result.resampling_units == 14  # MME resamples whole images


def test_a_broken_candidate_is_a_regression_and_fails_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _replay(tmp_path, "base", PERFECT, capsys)
    broken = _replay(tmp_path, "broken", ["Yes", "Yes"] * 14, capsys)  # every false question answered wrong
    result = compare_task("mme", base, broken, resamples=300)
    assert result.candidate == 500.0 and result.delta == -1500.0  # 10 categories x (acc 50 + acc+ 0), was 10 x 200
    assert result.ci_low is not None and result.ci_high is not None and result.ci_high < 0
    assert result.ci_low <= result.delta <= result.ci_high  # strata (categories) keep every draw comparable
    assert result.verdict == "regression" and result.regressed == 14 and result.improved == 0
    assert compare_task("mme", broken, base, resamples=300).verdict == "improvement"

    code, out, _ = run_cli(["compare", str(base), str(broken), "--fail-on-regression", "--resamples", "100",
                            "--output", str(tmp_path / "cmp.json")], capsys)
    assert code == 1 and "regression" in out
    assert read_json(tmp_path / "cmp.json")["tasks"][0]["delta"] == -1500.0
    code, _, _ = run_cli(["compare", str(base), str(broken), "--resamples", "100"], capsys)
    assert code == 0  # without the gate flag a regression is reported, not an error


def test_different_protocols_are_refused_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _replay(tmp_path, "base", PERFECT, capsys)
    other = _replay(tmp_path, "other", PERFECT, capsys, "--task-option", "mme.prompt=lmms_eval")
    with pytest.raises(UserError, match="differ in their options"):
        compare_task("mme", base, other, resamples=10)
    assert compare_task("mme", base, other, resamples=10, allow_protocol_mismatch=True).warnings
    code, _, err = run_cli(["compare", str(base), str(other)], capsys)
    assert code == 2 and "--allow-protocol-mismatch" in err and "Traceback" not in err


def test_compare_of_missing_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "b")], capsys)
    assert code == 2 and "is not a model result folder" in err


def test_compare_uses_the_samples_of_the_result_not_older_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _replay(tmp_path, "base", PERFECT, capsys, "--limit", "4")
    cand = _replay(tmp_path, "cand", ["Yes", "Yes"] * 14, capsys)  # all 28 samples recorded ...
    cand = _replay(tmp_path, "cand", ["Yes", "Yes"] * 14, capsys, "--limit", "4")  # ... the result covers 4
    result = compare_task("mme", base, cand, resamples=50, allow_protocol_mismatch=False)
    assert result.paired_samples == 4
    assert result.candidate == read_json(cand / "mme.json")["headline"]["value"]


def _set_model_card(folder: Path, card: dict) -> None:
    path = folder / "mme.json"
    result = json.loads(path.read_text())
    result["protocol"]["model"] = card
    path.write_text(json.dumps(result))


def test_other_model_settings_are_named_and_the_checkpoint_provenance_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _replay(tmp_path, "base", PERFECT, capsys)
    cand = _replay(tmp_path, "cand", PERFECT, capsys)
    _set_model_card(base, {"image_do_normalize": False, "provenance": {"checkpoint": "deepseek-ai/Janus-1.3B"}})
    _set_model_card(cand, {"image_do_normalize": False, "provenance": {"checkpoint": "/ckpt/step-1000"}})
    assert not compare_task("mme", base, cand, resamples=10).warnings
    _set_model_card(cand, {"image_do_normalize": True, "provenance": {"checkpoint": "/ckpt/step-1000"}})
    (warning,) = compare_task("mme", base, cand, resamples=10).warnings  # checkpoints may differ in settings
    assert "other settings (image_do_normalize)" in warning
    _set_model_card(cand, {})  # a replay of saved outputs has no model settings: compared all the same
    assert not compare_task("mme", base, cand, resamples=10).warnings
