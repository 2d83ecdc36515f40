"""A sample's failure is data: batches that raise are halved, lone failures recorded with their error, out-of-memory
lowers the batch size, scoring failures keep the output, and --max-failed stops a run that fails too often."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pytest
import torch

from janus_eval.api import ModelSpec, TextOutput, TextRequest
from janus_eval.engine.failures import TooManyFailures
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate
from janus_eval.registry import TASKS
from tests.helpers import demo_rows, read_json, read_jsonl, run_cli, write_parquet

MME = {"mme": {"max_new_tokens": "4"}}


def _config(output_dir: Path, **overrides: Any) -> RunConfig:
    values: dict[str, Any] = dict(
        model=ModelSpec(name="janus-tiny"), tasks=["mme"], task_options=MME, data_mode="demo", batch_size=8,
        output_dir=output_dir, show_progress=False,
    )
    values.update(overrides)
    return RunConfig(**values)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("baseline")
    evaluate(_config(out))
    return {r["id"]: r["output"] for r in read_jsonl(out / "janus-tiny" / "mme.samples.jsonl")}


def _records(out: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in read_jsonl(out / "janus-tiny" / "mme.samples.jsonl")}


def test_a_request_that_always_fails_fails_alone(tmp_path: Path, baseline: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = build_adapter(ModelSpec(name="janus-tiny"))
    real, calls = adapter.generate_text, []
    bad = sorted(baseline)[5]

    def breaks_on_one_sample(requests: Sequence[TextRequest]) -> list[TextOutput]:
        calls.append(len(requests))
        if any(r.sample_id == bad for r in requests):
            raise ValueError("this prompt breaks the model")
        return real(requests)

    monkeypatch.setattr(adapter, "generate_text", breaks_on_one_sample)
    (result,) = evaluate(_config(tmp_path), adapter=adapter)
    records = _records(tmp_path)
    assert result.counts.failed == 1 and result.counts.scored == 27
    error = records[bad]["error"]
    assert records[bad]["failed"] and error["stage"] == "generation" and error["type"] == "ValueError"
    assert "this prompt breaks the model" in error["message"] and "Traceback" in error["traceback"]
    assert {i: r["output"] for i, r in records.items() if i != bad} == {i: o for i, o in baseline.items() if i != bad}
    assert 1 in calls and max(calls) == 8  # the batch of 8 with the bad sample was halved down to it alone
    assert any("1 of 28 samples failed (first error: ValueError: this prompt breaks the model)" in n for n in result.notes)

    monkeypatch.setattr(adapter, "generate_text", real)  # fixed: a rerun retries only the failed sample
    (again,) = evaluate(_config(tmp_path), adapter=adapter)
    assert again.counts.failed == 0 and again.counts.generated == 1 and _records(tmp_path)[bad]["output"] == baseline[bad]


def test_out_of_memory_lowers_the_batch_size_for_the_rest_of_the_run(
    tmp_path: Path, baseline: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = build_adapter(ModelSpec(name="janus-tiny"))
    real, sizes = adapter.generate_text, []

    def fits_three(requests: Sequence[TextRequest]) -> list[TextOutput]:
        sizes.append(len(requests))
        if len(requests) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(requests)

    monkeypatch.setattr(adapter, "generate_text", fits_three)
    (result,) = evaluate(_config(tmp_path), adapter=adapter)
    assert result.counts.failed == 0 and {i: r["output"] for i, r in _records(tmp_path).items()} == baseline
    assert result.manifest.effective_batch_size == 2 and result.manifest.out_of_memory_errors == 2
    assert sizes[:6] == [8, 4, 2, 2, 2, 2] and set(sizes[6:]) == {2}  # lowered to what fits, then kept


def test_a_failed_scoring_keeps_the_output_and_a_rerun_scores_it_again(
    tmp_path: Path, baseline: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    task_cls = TASKS.get("mme")
    real_score = task_cls.score
    bad = sorted(baseline)[2]

    def scorer_breaks(self: Any, sample: Any, output: Any) -> dict[str, Any]:
        if output is not None and sample.id == bad:
            raise RuntimeError("scorer crashed")
        return real_score(self, sample, output)

    monkeypatch.setattr(task_cls, "score", scorer_breaks)
    adapter = build_adapter(ModelSpec(name="janus-tiny"))
    (result,) = evaluate(_config(tmp_path), adapter=adapter)
    record = _records(tmp_path)[bad]
    assert result.counts.failed == 1 and record["failed"] and record["error"]["stage"] == "scoring"
    assert record["output"] == baseline[bad]  # kept

    monkeypatch.setattr(task_cls, "score", real_score)
    fresh = build_adapter(ModelSpec(name="janus-tiny"))
    (again,) = evaluate(_config(tmp_path), adapter=fresh)
    assert again.counts.failed == 0 and again.counts.rescored == 1 and again.counts.generated == 0
    assert fresh._model is None  # scoring the kept output again needed no model


def test_max_failed_stops_the_run_and_what_was_recorded_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = build_adapter(ModelSpec(name="janus-tiny"))

    def always_fails(requests: Sequence[TextRequest]) -> list[TextOutput]:
        raise ValueError("broken")

    monkeypatch.setattr(adapter, "generate_text", always_fails)
    with pytest.raises(TooManyFailures) as stopped:
        evaluate(_config(tmp_path, max_failed=2, batch_size=4), adapter=adapter)
    assert "3 of 28 samples failed, more than --max-failed 2" in str(stopped.value)
    assert stopped.value.exit_code == 1
    assert len(_records(tmp_path)) == 3
    with pytest.raises(TooManyFailures) as fraction:
        evaluate(_config(tmp_path, max_failed=0.05, batch_size=4), adapter=adapter)
    assert "more than --max-failed 0.05 of the samples" in str(fraction.value)


def test_max_failed_on_the_command_line_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = demo_rows("pope")
    for index in (0, 2):
        rows[index] = {**rows[index], "image": {"bytes": b"not an image", "path": None}}
    write_parquet(rows, tmp_path / "data" / "pope")
    args = ["--model", "janus-tiny", "--tasks", "pope", "--data-dir", str(tmp_path / "data"), "--no-progress",
            "--task-option", "pope.max_new_tokens=2", "--output-dir", str(tmp_path / "out")]
    code, _, err = run_cli([*args, "--max-failed", "1"], capsys)
    assert code == 1 and "Traceback" not in err and "more than --max-failed 1" in err
    code, _, err = run_cli([*args, "--max-failed", "2"], capsys)
    assert code == 0, err
    assert read_json(tmp_path / "out" / "janus-tiny" / "pope.json")["counts"]["failed"] == 2
    code, _, err = run_cli([*args, "--max-failed", "-1"], capsys)
    assert code == 2 and "--max-failed must be 0 or more" in err
