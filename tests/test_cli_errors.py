"""Every error a user can cause ends in one clear message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import demo_rows, run_cli, write_parquet

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--task-option", "mme.max_new_tokens=2", "--no-progress"]


def _error(args: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    code, _, err = run_cli([*args, "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("janus-eval: error:")]
    assert len(lines) == 1, err
    return err[err.index(lines[0]) :]  # the message, with the lines of a list of missing items


def test_unknown_model_lists_valid_models(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = _error(["--model", "janus-pro-8b", "--tasks", "mme", "--data", "demo"], capsys, tmp_path)
    assert "unknown model 'janus-pro-8b'" in message and "janus-pro-7b" in message and "janus-tiny" in message


def test_unknown_task_lists_valid_tasks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = _error(["--model", "janus-tiny", "--tasks", "mme,popee", "--data", "demo"], capsys, tmp_path)
    assert "unknown task 'popee'" in message and "pope" in message


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("pope.split=train", "bad option for task 'pope': split"),
        ("pope.colour=red", "bad option for task 'pope': colour"),
        ("mme.max_new_tokens=lots", "bad option for task 'mme': max_new_tokens"),
        ("pope", "expected TASK.KEY=VALUE"),
        ("gqa.split=x", "not in --tasks"),
    ],
)
def test_bad_task_option(option: str, expected: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = _error(["--model", "janus-tiny", "--tasks", "mme,pope", "--data", "demo", "--task-option", option], capsys, tmp_path)
    assert expected in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--dtype", "float8"], "dtype"),
        (["--device", "tpu"], "device"),
        (["--model-args", "novalue"], "expected KEY=VALUE"),
    ],
)
def test_bad_run_option(extra: list[str], expected: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = _error(["--model", "janus-tiny", "--tasks", "mme", "--data", "demo", *FAST, *extra], capsys, tmp_path)
    assert expected in message


def test_dataset_unreachable_offline_says_how_to_provide_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = _error(["--model", "janus-tiny", "--tasks", "mme", *FAST], capsys, tmp_path)
    assert "dataset lmms-lab/MME (config default, split test) is not in the datasets cache" in message
    assert "--data-dir" in message and "HF_HOME" in message and "janus-eval prefetch --model janus-tiny" in message


def test_data_is_checked_before_the_model_is_loaded(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = _error(["--model", "janus-pro-7b", "--tasks", "mme", *FAST], capsys, tmp_path)
    assert "dataset lmms-lab/MME" in message and "deepseek-community/Janus-Pro-7B" in message  # both, in one message


def test_model_unreachable_offline_names_id_and_remedy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = _error(["--model", "janus-pro-7b", "--tasks", "mme", "--data", "demo", *FAST], capsys, tmp_path)
    assert "deepseek-community/Janus-Pro-7B" in message and "--model-path" in message


def test_local_data_folder_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    message = _error(["--model", "janus-tiny", "--tasks", "mme", "--data-dir", str(tmp_path / "data"), *FAST], capsys, tmp_path)
    assert f"{tmp_path / 'data' / 'mme'} does not exist" in message and "parquet" in message


def test_local_data_with_missing_columns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "category"} for row in demo_rows("mme")]
    write_parquet(rows, tmp_path / "data" / "mme")
    message = _error(["--model", "janus-tiny", "--tasks", "mme", "--data-dir", str(tmp_path / "data"), *FAST], capsys, tmp_path)
    assert "lack the column(s) category" in message


def test_predictions_without_path_or_with_missing_sample(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = _error(["--model", "predictions", "--tasks", "mme", "--data", "demo"], capsys, tmp_path)
    assert "path=FILE.jsonl" in message
    saved = tmp_path / "saved.jsonl"
    saved.write_text('{"row": 0, "output": "Yes"}\n')
    message = _error(
        ["--model", "predictions", "--model-args", f"path={saved}", "--tasks", "mme", "--data", "demo", "--limit", "2"],
        capsys,
        tmp_path,
    )
    assert "no saved output for sample" in message and "(row 1)" in message


def test_entry_point_script_exits_cleanly_on_bad_input(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, str(ROOT / "run_eval.py"), "--model", "nope", "--tasks", "mme", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    assert "unknown model 'nope'" in process.stderr


def test_list_tasks_and_models(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--list-tasks", "--list-models"], capsys)
    assert code == 0
    assert "mme" in out and "pope" in out
    assert "split = 'random'  (one of: random, popular, adversarial, all)" in out
    assert "janus_hf" in out and "janus-pro-7b" in out and "predictions" in out


def test_output_dir_that_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    code, _, err = run_cli(
        ["--model", "janus-tiny", "--tasks", "mme", "--data", "demo", *FAST, "--output-dir", str(tmp_path / "afile")],
        capsys,
    )
    assert code == 2 and "cannot write to --output-dir" in err and "Traceback" not in err


def test_empty_task_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = _error(["--model", "janus-tiny", "--tasks", ",", "--data", "demo"], capsys, tmp_path)
    assert "no task given" in message


def test_predictions_row_must_be_an_integer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    saved = tmp_path / "saved.jsonl"
    saved.write_text('{"row": "abc", "output": "Yes"}\n')
    message = _error(["--model", "predictions", "--model-args", f"path={saved}", "--tasks", "mme", "--data", "demo"],
                     capsys, tmp_path)  # fmt: skip
    assert "saved.jsonl:1: `row` must be an integer" in message


def test_every_sample_failed_is_an_error_not_a_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = [{**row, "image": {"bytes": b"broken", "path": None}} for row in demo_rows("pope")]
    write_parquet(rows, tmp_path / "data" / "pope")
    code, out, err = run_cli(
        ["--model", "janus-tiny", "--tasks", "pope", "--data-dir", str(tmp_path / "data"), "--output-dir",
         str(tmp_path / "out"), "--no-progress"],
        capsys,
    )  # fmt: skip
    assert code == 1 and "every sample failed" in err and "unreadable image" in err
    assert "0/4 scored, 4 failed" in out


def test_two_checkpoints_never_share_a_result_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import shutil

    from janus_eval.model_adapters.janus_tiny import ensure_tiny_checkpoint

    for step in ("step1", "step2"):
        shutil.copytree(ensure_tiny_checkpoint(), tmp_path / step / "hf")
    args = ["--model", "janus_hf", "--tasks", "mme", "--data", "demo", "--limit", "2", *FAST]
    code, _, err = run_cli([*args, "--model-path", str(tmp_path / "step1" / "hf"), "--output-dir", str(tmp_path / "o")],
                           capsys)  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli([*args, "--model-path", str(tmp_path / "step2" / "hf"), "--output-dir", str(tmp_path / "o")],
                           capsys)  # fmt: skip
    assert code == 2 and "already holds results of another model" in err and "label=NAME" in err
