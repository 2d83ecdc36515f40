"""janus-tiny through the whole pipeline: results, leaderboard, resume, configuration changes, replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from janus_eval.api import ModelSpec
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate
from tests.helpers import demo_rows, read_json, read_jsonl, run_cli, write_parquet

TINY_OPTIONS = {"mme": {"max_new_tokens": "6"}, "pope": {"max_new_tokens": "6", "split": "all"}}


def _config(output_dir: Path, **overrides: Any) -> RunConfig:
    values: dict[str, Any] = dict(
        model=ModelSpec(name="janus-tiny"),
        tasks=["mme", "pope"],
        task_options={k: dict(v) for k, v in TINY_OPTIONS.items()},
        data_mode="demo",
        batch_size=4,
        output_dir=output_dir,
        show_progress=False,
    )
    values.update(overrides)
    values["task_options"] = {k: v for k, v in values["task_options"].items() if k in values["tasks"]}
    return RunConfig(**values)


@pytest.fixture(scope="module")
def adapter() -> Any:
    return build_adapter(ModelSpec(name="janus-tiny"))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, adapter: Any) -> Path:
    """One uninterrupted run of mme and pope on the demo rows."""
    output_dir = tmp_path_factory.mktemp("baseline")
    evaluate(_config(output_dir), adapter=adapter)
    return output_dir


def test_cli_demo_run_writes_results_samples_and_leaderboard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "janus-tiny", "--tasks", "mme,pope", "--data", "demo", "--output-dir", str(tmp_path), "--no-progress"]
    for task, options in TINY_OPTIONS.items():
        args += [arg for key, value in options.items() for arg in ("--task-option", f"{task}.{key}={value}")]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "perception" in out and "leaderboard" in out

    mme = read_json(tmp_path / "janus-tiny" / "mme.json")
    assert mme["schema_version"] == "janus-eval.result/1"
    assert mme["headline"]["metric"] == "perception"
    assert mme["headline"]["value"] == mme["metrics"]["perception"]
    assert mme["counts"] == {"total": 28, "scored": 28, "failed": 0, "generated": 28, "reused": 0, "rescored": 0, "scoring_failed": 0}
    assert mme["protocol"]["prompt"]["system_prompt"] == ""
    manifest = mme["manifest"]
    assert manifest["packages"]["torch"] and manifest["packages"]["transformers"]
    assert manifest["dtype"] == "float32" and manifest["device"] == "cpu"
    assert manifest["samples_per_second"] > 0 and manifest["peak_rss_bytes"] > 0
    assert len(manifest["config_hash"]) == 64
    assert mme["model_identity"]["adapter"] == "janus_hf"

    records = read_jsonl(tmp_path / "janus-tiny" / "mme.samples.jsonl")
    assert len(records) == 28 and {r["config_hash"] for r in records} == {manifest["config_hash"]}
    assert all(isinstance(r["output"], str) and "pred" in r["score"] for r in records)
    assert records[0]["request"]["messages"][0]["content"].startswith("<image>\n")

    pope = read_json(tmp_path / "janus-tiny" / "pope.json")
    assert {"random.f1", "popular.f1", "adversarial.f1", "overall.f1", "f1", "yes_ratio"} <= set(pope["metrics"])
    assert pope["headline"] == {"metric": "f1", "value": pope["metrics"]["random.f1"]}

    leaderboard = (tmp_path / "leaderboard.md").read_text()
    assert "janus-tiny" in leaderboard and "mme (perception)" in leaderboard and "pope (f1)" in leaderboard
    assert "janus-tiny" in (tmp_path / "leaderboard.csv").read_text()


def test_interrupted_run_resumes_and_matches_uninterrupted(
    tmp_path: Path, adapter: Any, baseline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = adapter.generate_text
    calls = {"n": 0}

    def dies_on_third_batch(requests: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(requests)

    monkeypatch.setattr(adapter, "generate_text", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        evaluate(_config(tmp_path), adapter=adapter)
    assert len(read_jsonl(tmp_path / "janus-tiny" / "mme.samples.jsonl")) == 8  # two batches of 4
    monkeypatch.setattr(adapter, "generate_text", real)

    results = {r.task: r for r in evaluate(_config(tmp_path), adapter=adapter)}
    assert results["mme"].counts.reused == 8 and results["mme"].counts.generated == 20
    for task in ("mme", "pope"):
        assert results[task].metrics == read_json(baseline / "janus-tiny" / f"{task}.json")["metrics"]
    outputs = {r["id"]: r["output"] for r in read_jsonl(tmp_path / "janus-tiny" / "mme.samples.jsonl")}
    assert len(outputs) == 28
    assert outputs == {r["id"]: r["output"] for r in read_jsonl(baseline / "janus-tiny" / "mme.samples.jsonl")}

    again = {r.task: r for r in evaluate(_config(tmp_path), adapter=adapter)}
    assert again["mme"].counts.generated == 0 and again["mme"].counts.reused == 28


def test_changed_configuration_never_reuses_records(tmp_path: Path, adapter: Any, baseline: Path) -> None:
    model_dir = tmp_path / "janus-tiny"
    model_dir.mkdir(parents=True)
    (model_dir / "mme.samples.jsonl").write_bytes((baseline / "janus-tiny" / "mme.samples.jsonl").read_bytes())
    options = {"mme": {"max_new_tokens": "3"}}
    (result,) = evaluate(_config(tmp_path, tasks=["mme"], task_options=options), adapter=adapter)
    assert result.counts.reused == 0 and result.counts.generated == 28
    assert len(list(model_dir.glob("mme.samples.*.jsonl"))) == 1  # the old records, moved aside

    (prompt_variant,) = evaluate(
        _config(tmp_path, tasks=["mme"], task_options={"mme": {"max_new_tokens": "3", "prompt": "lmms_eval"}}),
        adapter=adapter,
    )
    assert prompt_variant.counts.reused == 0
    assert prompt_variant.manifest.config_hash != result.manifest.config_hash


def test_predictions_replay_reproduces_metrics(tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = baseline / "janus-tiny" / "{task}.samples.jsonl"
    args = ["--model", "predictions", "--model-args", f"path={path}", "--tasks", "mme,pope", "--data", "demo"]
    args += ["--output-dir", str(tmp_path), "--no-progress", "--task-option", "pope.split=all"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    for task in ("mme", "pope"):
        replayed = read_json(tmp_path / "predictions" / f"{task}.json")
        assert replayed["metrics"] == read_json(baseline / "janus-tiny" / f"{task}.json")["metrics"]

    # a file keyed by row instead of id
    by_row = tmp_path / "by_row.jsonl"
    records = read_jsonl(baseline / "janus-tiny" / "mme.samples.jsonl")
    by_row.write_text("".join(json.dumps({"row": r["row"], "output": r["output"]}) + "\n" for r in records))
    code, _, err = run_cli(
        ["--model", "predictions", "--model-args", f"path={by_row},label=rows", "--tasks", "mme", "--data", "demo",
         "--output-dir", str(tmp_path), "--no-progress"],
        capsys,
    )
    assert code == 0, err
    assert read_json(tmp_path / "rows" / "mme.json")["metrics"] == read_json(baseline / "janus-tiny" / "mme.json")["metrics"]


def test_replay_of_mixed_answers_scores_them_and_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hand-made outputs give non-trivial metrics, and replaying the replay's own records reproduces them."""
    answers = ["Yes.", "No, there is not.", "yes and no", ""]
    saved = tmp_path / "answers.jsonl"
    saved.write_text("".join(json.dumps({"row": row, "output": answers[row % 4]}) + "\n" for row in range(28)))
    first = ["--model", "predictions", "--model-args", f"path={saved},label=first", "--tasks", "mme", "--data", "demo"]
    code, _, err = run_cli([*first, "--output-dir", str(tmp_path), "--no-progress"], capsys)
    assert code == 0, err
    metrics = read_json(tmp_path / "first" / "mme.json")["metrics"]
    assert 0 < metrics["perception"] < 2000 and metrics["perception_categories"] == 10
    records = read_jsonl(tmp_path / "first" / "mme.samples.jsonl")
    assert [r["score"]["pred"] for r in sorted(records, key=lambda r: r["row"])][:4] == ["yes", "no", "unknown", "unknown"]

    second = ["--model", "predictions", "--model-args", f"path={tmp_path / 'first' / 'mme.samples.jsonl'},label=second"]
    code, _, err = run_cli([*second, "--tasks", "mme", "--data", "demo", "--output-dir", str(tmp_path), "--no-progress"], capsys)
    assert code == 0, err
    assert read_json(tmp_path / "second" / "mme.json")["metrics"] == metrics

    # replaying a run's records into the same output folder (the file is moved aside as the run starts)
    same = ["--model", "predictions", "--model-args", f"path={tmp_path / 'second' / 'mme.samples.jsonl'},label=second"]
    code, _, err = run_cli([*same, "--tasks", "mme", "--data", "demo", "--output-dir", str(tmp_path), "--no-progress"], capsys)
    assert code == 0, err
    assert read_json(tmp_path / "second" / "mme.json")["metrics"] == metrics


def test_unreadable_image_is_a_failed_sample_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = demo_rows("pope")
    rows[1] = {**rows[1], "image": {"bytes": b"not an image", "path": None}}
    write_parquet(rows, tmp_path / "data" / "pope")
    code, _, err = run_cli(
        ["--model", "janus-tiny", "--tasks", "pope", "--data-dir", str(tmp_path / "data"), "--output-dir",
         str(tmp_path / "out"), "--no-progress", "--task-option", "pope.max_new_tokens=4"],
        capsys,
    )
    assert code == 0, err
    result = read_json(tmp_path / "out" / "janus-tiny" / "pope.json")
    assert result["counts"]["failed"] == 1 and result["counts"]["total"] == 4
    assert result["data"]["origin"] == "local"
    failed = [r for r in read_jsonl(tmp_path / "out" / "janus-tiny" / "pope.samples.jsonl") if r["failed"]]
    assert len(failed) == 1 and "unreadable image" in failed[0]["error"]["message"]
    assert failed[0]["score"]["correct"] is False


def test_published_number_and_delta_only_for_comparable_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "perfect.jsonl"  # the demo rows alternate a true and a false question per image
    saved.write_text("".join(json.dumps({"row": row, "output": ["Yes", "No"][row % 2]}) + "\n" for row in range(28)))
    # the demo rows as a local copy of the benchmark (the built-in demo rows themselves are never compared)
    write_parquet(demo_rows("mme"), tmp_path / "data" / "mme")
    base = ["--model", "predictions", "--published-as", "janus-pro-7b", "--tasks", "mme", "--data-dir",
            str(tmp_path / "data"), "--output-dir", str(tmp_path), "--no-progress"]  # fmt: skip
    code, out, err = run_cli([*base, "--model-args", f"path={saved},label=full"], capsys)
    assert code == 0, err
    result = read_json(tmp_path / "full" / "mme.json")
    assert result["headline"]["value"] == 2000.0
    assert result["published"] == {"model": "janus-pro-7b", "value": 1567.1, "delta": pytest.approx(432.9),
                                   "source": result["published"]["source"]}  # fmt: skip
    assert "published 1567.1" in out and result["notes"] == []

    code, out, err = run_cli([*base, "--model-args", f"path={saved},label=subset", "--limit", "4"], capsys)
    assert code == 0, err
    subset = read_json(tmp_path / "subset" / "mme.json")
    assert subset["published"] is None and any("--limit 4" in note for note in subset["notes"])
    code, out, err = run_cli(
        [*base, "--model-args", f"path={saved},label=variant", "--task-option", "mme.extraction=lmms_eval"], capsys
    )
    assert code == 0, err
    assert any("extraction=lmms_eval" in note for note in read_json(tmp_path / "variant" / "mme.json")["notes"])
    leaderboard = (tmp_path / "leaderboard.md").read_text()
    assert "mme published" in leaderboard and "mme notes" in leaderboard and "--limit 4" in leaderboard

    code, _, err = run_cli([*base[:3], "janus-pro7b", *base[4:], "--model-args", f"path={saved}"], capsys)
    assert code == 2 and "has no published numbers; known: janus-1.3b" in err

    demo = [*base[:6], "--data", "demo", "--output-dir", str(tmp_path / "demo"), "--no-progress"]
    code, _, err = run_cli([*demo, "--model-args", f"path={saved}"], capsys)
    assert code == 0, err
    on_demo = read_json(tmp_path / "demo" / "predictions" / "mme.json")
    assert on_demo["published"] is None and any("--data demo" in note for note in on_demo["notes"])


def test_results_do_not_depend_on_batch_size(tmp_path: Path, adapter: Any) -> None:
    outputs = {}
    for batch_size in (1, 8):
        out = tmp_path / f"b{batch_size}"
        evaluate(_config(out, tasks=["pope"], batch_size=batch_size), adapter=adapter)
        outputs[batch_size] = {r["id"]: r["output"] for r in read_jsonl(out / "janus-tiny" / "pope.samples.jsonl")}
    assert outputs[1] == outputs[8]
