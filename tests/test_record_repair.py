"""A demo run over a records file with bytes that are not UTF-8: one warning, a repaired file, a resumed run."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.helpers import read_jsonl, run_cli

ARGS = ["--model", "janus-tiny", "--tasks", "mme", "--data", "demo", "--limit", "6", "--no-progress",
        "--task-option", "mme.max_new_tokens=2"]  # fmt: skip


def _break(path: Path) -> None:
    """Foreign bytes in the second line, and a last line torn inside a multibyte character."""
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b"\x80\xff" + lines[1]
    path.write_bytes(b"".join(lines) + '{"id": "é'.encode()[:-1])


def _unreadable_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]


def test_foreign_bytes_are_skipped_once_the_file_repaired_and_the_run_resumed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*ARGS, "--output-dir", str(tmp_path)]
    assert run_cli(args, capsys)[0] == 0
    samples = tmp_path / "janus-tiny" / "mme.samples.jsonl"
    outputs = {r["id"]: r["output"] for r in read_jsonl(samples)}
    _break(samples)

    with caplog.at_level(logging.WARNING):
        code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "[6/6 scored, 0 failed, 5 reused]" in out  # the sample whose line was unreadable ran again
    (warning,) = _unreadable_warnings(caplog)
    assert "skipped 2 unreadable lines" in warning
    assert {r["id"]: r["output"] for r in read_jsonl(samples)} == outputs  # read_jsonl: strict UTF-8 JSON
    caplog.clear()

    with caplog.at_level(logging.WARNING):
        code, out, _ = run_cli(args, capsys)
    assert code == 0 and "[6/6 scored, 0 failed, 6 reused]" in out
    assert _unreadable_warnings(caplog) == []

    _break(samples)
    code, out, err = run_cli([*args, "--fresh"], capsys)
    assert code == 0, err
    assert "[6/6 scored, 0 failed, 0 reused]" in out
    assert {r["id"]: r["output"] for r in read_jsonl(samples)} == outputs


def test_a_replay_file_with_foreign_bytes_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The predictions adapter reads a user's file strictly: a line that is not UTF-8 is an error, not a traceback."""
    saved = tmp_path / "saved.jsonl"
    saved.write_bytes(b'{"row": 0, "output": "Yes"}\n\xff\xfe{"row": 1, "output": "No"}\n')
    args = ["--model", "predictions", "--model-args", f"path={saved}", "--tasks", "mme", "--data", "demo", "--limit", "2"]
    code, _, err = run_cli([*args, "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"janus-eval: error: {saved}:2: not UTF-8 text" in err
