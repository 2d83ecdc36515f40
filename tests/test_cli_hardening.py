"""Paths stay inside --output-dir, an early Ctrl-C exits cleanly, and the leaderboard says what a row was run on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
DEMO = ["--model", "janus-tiny", "--tasks", "mme", "--data", "demo", "--no-progress", "--task-option", "mme.max_new_tokens=2"]


@pytest.mark.parametrize("label", ["../x", "a/b", "..", ".hidden"])
def test_a_label_is_one_plain_folder_name(label: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli([*DEMO, "--model-args", f"label={label}", "--output-dir", str(out)], capsys)
    assert code == 2 and "is not a plain folder name" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists() and not any(out.glob("*/*.json"))


def test_an_empty_output_dir_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli([*DEMO, "--output-dir", ""], capsys)
    assert code == 2 and "--output-dir is empty" in err
    assert list(tmp_path.iterdir()) == []


def test_the_leaderboard_names_demo_rows_and_limits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*DEMO, "--limit", "3", "--output-dir", str(tmp_path)], capsys)
    assert code == 0, err
    board = (tmp_path / "leaderboard.md").read_text()
    assert "mme data" in board and "demo rows, --limit 3" in board
    assert "demo rows, --limit 3" in (tmp_path / "leaderboard.csv").read_text()


def test_library_deprecation_warnings_stay_quiet(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "run_eval.py"), *DEMO, "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": ""},
    )
    assert run.returncode == 0, run.stderr
    assert "deprecated" not in run.stderr.lower() and "Loading weights" not in run.stderr


@pytest.mark.parametrize("delay", [0.2, 0.5, 1.0, 2.0])
def test_an_interrupt_in_the_first_seconds_exits_130_without_a_traceback(delay: float, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run_eval.py"), *DEMO, "--output-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted; finished samples are saved" in err
