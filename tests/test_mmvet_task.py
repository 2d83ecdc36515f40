"""MM-Vet end to end: janus-tiny answers, graded by the real `openai` client against a loopback judge server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from janus_eval.tasks.mmvet import MMVET_SYSTEM_PROMPT, MmvetOptions, MmvetTask

from janus_eval.api import ChatMessage, JudgeSettings, ModelSpec
from janus_eval.data.cache import cache_root
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate
from janus_eval.rules.mmvet import OFFICIAL_PROMPT, OFFICIAL_RETRY_SUFFIX
from tests.helpers import read_json, read_jsonl, run_cli
from tests.openai_server import OpenAIServer, Reply, openai_server

KEY = "sk-mmvet-test-key-5f3a9c1e7b2d4086"
DEMO = MmvetTask(demo=True)
QUESTIONS = [row["question"] for row in DEMO.demo_rows()]
# the grade the fake judge gives each demo question (by position)
GRADES = ["1.0", "0.0", "0.5", "0.8", "0.3", "0.6"]


@pytest.fixture(autouse=True)
def judge_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    for variable in ("OPENAI_BASE_URL", "JANUS_EVAL_JUDGE_MODEL"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="module")
def adapter() -> Any:
    return build_adapter(ModelSpec(name="janus-tiny"))


def grade_by_question(body: dict[str, Any]) -> Reply | str:
    prompt = body["messages"][-1]["content"]
    question = prompt.rsplit("\n", 1)[-1].split(" | ")[0]
    return GRADES[QUESTIONS.index(question)]


def _config(output_dir: Path, server: OpenAIServer | None, model: str = "judge-x", **extra: Any) -> RunConfig:
    judge = None
    if server is not None:
        judge = JudgeSettings(model=model, base_url=server.url, cache_dir=str(output_dir / "judge-cache"), **extra)
    return RunConfig(
        model=ModelSpec(name="janus-tiny"), tasks=["mmvet"], task_options={"mmvet": {"max_new_tokens": 4}},
        data_mode="demo", batch_size=4, output_dir=output_dir, show_progress=False, judge=judge,
    )  # fmt: skip


def _cli(output_dir: Path, server: OpenAIServer | None, *extra: str) -> list[str]:
    args = ["--model", "janus-tiny", "--tasks", "mmvet", "--data", "demo", "--output-dir", str(output_dir),
            "--no-progress", "--task-option", "mmvet.max_new_tokens=4"]  # fmt: skip
    if server is not None:
        args += ["--judge-base-url", server.url, "--judge-model", "judge-x"]
    return args + list(extra)


def _expected(records: list[dict[str, Any]]) -> dict[str, float]:
    """Total and per-capability scores computed directly from the demo rows and the fake judge's grades."""
    rows = {f"v1_{n}": (float(GRADES[n]), row["capability"].split(",")) for n, row in enumerate(DEMO.demo_rows())}
    expected = {"total": 100 * sum(g for g, _ in rows.values()) / len(rows)}
    for capability in ("rec", "ocr", "math", "spat", "gen", "know"):
        grades = [g for g, caps in rows.values() if capability in caps]
        expected[capability] = 100 * sum(grades) / len(grades)
    assert {r["id"] for r in records} == set(rows)
    return expected


def test_requests_follow_the_paper_prompt_and_the_lmms_eval_variant() -> None:
    sample = DEMO.samples(DEMO.demo_rows())[2]
    assert sample.target == "5<OR>five" and sample.meta == {"capabilities": ["ocr", "math"]}
    request = DEMO.build_request(sample)
    system, user = request.messages
    assert system == ChatMessage(role="system", content=[MMVET_SYSTEM_PROMPT])
    assert user.content[1] == "\n" + QUESTIONS[2] and len(user.images) == 1
    assert (request.max_new_tokens, request.temperature) == (512, 0.0)
    (only,) = MmvetTask(MmvetOptions(prompt="lmms_eval"), demo=True).build_request(sample).messages
    assert only.content[1] == (
        "\nFirst please perform reasoning, and think step by step to provide best answer to the following question: \n\n"
        + QUESTIONS[2]
    )


def test_graded_run_sends_the_official_prompt_records_cost_and_never_pays_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with openai_server(grade_by_question, api_key=KEY) as server:
        code, out, err = run_cli(_cli(tmp_path, server, "--judge-price", "0.5,1.5"), capsys)
        assert code == 0, err
        result = read_json(tmp_path / "janus-tiny" / "mmvet.json")
        records = {r["id"]: r for r in read_jsonl(tmp_path / "janus-tiny" / "mmvet.samples.jsonl")}

        # the exact grader prompt: official prompt + "\n" + "question | spaced ground truth | answer | "
        expected_prompts = sorted(
            OFFICIAL_PROMPT + "\n" + " | ".join([question, row["answer"].replace("<AND>", " <AND> ").replace(
                "<OR>", " <OR> "), records[f"v1_{n}"]["output"], ""])
            for n, (question, row) in enumerate(zip(QUESTIONS, DEMO.demo_rows()))
        )  # fmt: skip
        assert sorted(server.prompts()) == expected_prompts
        assert "circle <AND> red |" in "".join(expected_prompts) and "5 <OR> five |" in "".join(expected_prompts)
        bodies = [r["body"] for r in server.chat_requests]
        assert {(b["model"], b["temperature"], b["max_tokens"]) for b in bodies} == {("judge-x", 0.0, 3)}

        expected = _expected(list(records.values()))
        for key, value in expected.items():
            assert result["metrics"][key] == pytest.approx(value), key
        assert result["headline"] == {"metric": "total", "value": result["metrics"]["total"]}
        assert result["metrics"]["graded"] == 6 and result["metrics"]["failed"] == 0
        assert records["v1_3"]["score"]["grade"] == 0.8 and records["v1_3"]["score"]["status"] == "graded"
        assert f"total = {expected['total']:.2f}" in out

        # judge identity in the protocol card and the result, usage and cost in the manifest
        grading = result["protocol"]["grading"]
        assert (grading["judge_model"], grading["grader"], grading["judge_endpoint"]) == ("judge-x", "official", server.url)
        assert grading["grader_version"].startswith("yuweihao/MM-Vet@acde843")
        assert result["scorers"]["judge"] == {"api": "openai-chat-completions", "endpoint": server.url, "model": "judge-x"}
        usage = result["manifest"]["scoring_usage"]["judge"]
        prompt_tokens = sum(r["score"]["judge"]["prompt_tokens"] for r in records.values())
        assert (usage["requests_sent"], usage["cache_hits"], usage["served_models"]) == (6, 0, ["judge-x-served"])
        assert usage["completion_tokens"] == 12 and usage["prompt_tokens"] == prompt_tokens
        assert usage["cost_usd"] == pytest.approx((prompt_tokens * 0.5 + 12 * 1.5) / 1e6, abs=1e-6)
        assert usage["cost_usd_sent"] == usage["cost_usd"]

        # a rerun sends nothing at all (no model check either): every sample is resumed
        before = len(server.requests)
        code, _, err = run_cli(_cli(tmp_path, server), capsys)
        assert code == 0, err
        assert len(server.requests) == before
        again = read_json(tmp_path / "janus-tiny" / "mmvet.json")
        assert again["counts"]["reused"] == 6 and again["metrics"] == result["metrics"]

        # --fresh generates again; the identical grading requests come from the cache
        code, _, err = run_cli(_cli(tmp_path, server, "--fresh", "--judge-price", "judge-x=0.5,1.5"), capsys)
        assert code == 0, err
        fresh = read_json(tmp_path / "janus-tiny" / "mmvet.json")
        assert fresh["counts"]["generated"] == 6 and len(server.requests) == before
        assert fresh["manifest"]["scoring_usage"]["judge"]["cache_hits"] == 6
        assert fresh["manifest"]["scoring_usage"]["judge"]["cost_usd_sent"] == 0.0
        assert fresh["manifest"]["scoring_usage"]["judge"]["cost_usd"] == usage["cost_usd"]

    # the API key is written nowhere: not in the results, the records, the leaderboard, nor any cache
    for root in (tmp_path, cache_root()):
        leaked = [p for p in root.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
        assert not leaked, leaked
    assert os.environ["OPENAI_API_KEY"] == KEY


def test_without_a_judge_the_run_is_ungraded_then_a_judge_grades_the_saved_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(_cli(tmp_path, None), capsys)
    assert code == 0, err
    ungraded = read_json(tmp_path / "janus-tiny" / "mmvet.json")
    assert ungraded["headline"]["value"] is None and ungraded["metrics"]["ungraded"] == 6
    assert "total = n/a" in out and "ungraded: no judge was configured" in out
    assert ungraded["scorers"] == {"judge": None} and ungraded["manifest"]["scoring_usage"] == {"judge": None}
    outputs = {r["id"]: r["output"] for r in read_jsonl(tmp_path / "janus-tiny" / "mmvet.samples.jsonl")}

    with openai_server(grade_by_question, api_key=KEY) as server:
        code, out, err = run_cli(_cli(tmp_path, server), capsys)
        assert code == 0, err
        graded = read_json(tmp_path / "janus-tiny" / "mmvet.json")
        assert (graded["counts"]["generated"], graded["counts"]["rescored"]) == (0, 6)
        assert len(server.chat_requests) == 6
    records = read_jsonl(tmp_path / "janus-tiny" / "mmvet.samples.jsonl")
    assert {r["id"]: r["output"] for r in records} == outputs  # the saved answers, graded
    assert graded["metrics"]["total"] == pytest.approx(_expected(records)["total"])


def test_another_judge_model_regrades_without_generating(tmp_path: Path, adapter: Any) -> None:
    with openai_server(grade_by_question, api_key=KEY, models=("judge-x", "judge-y")) as server:
        (first,) = evaluate(_config(tmp_path, server), adapter=adapter)
        (second,) = evaluate(_config(tmp_path, server, model="judge-y"), adapter=adapter)
        assert (second.counts.generated, second.counts.rescored) == (0, 6)
        assert second.manifest.config_hash != first.manifest.config_hash
        assert [b["body"]["model"] for b in server.chat_requests] == ["judge-x"] * 6 + ["judge-y"] * 6
        assert second.protocol["grading"]["judge_model"] == "judge-y"
        assert any("judge 'judge-y'" in note and "move with the judge" in note for note in second.notes)


def test_unparsable_grades_retry_at_rising_temperature_then_count_zero_or_fail(tmp_path: Path, adapter: Any) -> None:
    def answer(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if QUESTIONS[0] in prompt:  # unparsable at first, then a grade on the retry prompt at temperature 0.5
            return "0.9" if prompt.endswith(OFFICIAL_RETRY_SUFFIX) and body["temperature"] == 0.5 else "Correct!"
        if QUESTIONS[1] in prompt:
            return "I cannot grade this"  # never parsable
        return "1.0"

    with openai_server(answer, api_key=KEY) as server:
        (result,) = evaluate(_config(tmp_path, server), adapter=adapter)
        records = {r["id"]: r for r in read_jsonl(tmp_path / "janus-tiny" / "mmvet.samples.jsonl")}
        first = records["v1_0"]["score"]
        assert (first["grade"], first["parsed"]) == (0.9, True)
        assert [(t["retry_prompt"], t["temperature"]) for t in first["tries"]] == [(False, 0.0), (True, 0.0), (True, 0.5)]
        second = records["v1_1"]["score"]
        assert (second["grade"], second["status"], len(second["tries"])) == (0.0, "unparsed", 5)
        assert result.metrics["unparsed"] == 1 and result.metrics["total"] == pytest.approx(100 * 4.9 / 6)
        assert any("no parsable grade" in note and "count 0.0" in note for note in result.notes)

        # unparsable=fail: the never-parsable answer fails (from the cache: no new request)
        sent = len(server.chat_requests)
        config = _config(tmp_path, server)
        config.task_options["mmvet"]["unparsable"] = "fail"
        (failing,) = evaluate(config, adapter=adapter)
        assert len(server.chat_requests) == sent
        assert (failing.counts.failed, failing.counts.scoring_failed, failing.metrics["graded"]) == (1, 1, 5)
        assert failing.metrics["total"] == pytest.approx(100 * 4.9 / 5)


def test_failed_grading_is_counted_exits_1_and_is_regraded_by_a_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = {"on": True}

    def answer(body: dict[str, Any]) -> Reply | str:
        if broken["on"] and QUESTIONS[4] in body["messages"][-1]["content"]:
            return Reply(status=503, error="overloaded")
        return grade_by_question(body)

    with openai_server(answer, api_key=KEY) as server:
        code, out, err = run_cli(_cli(tmp_path, server, "--judge-retries", "1"), capsys)
        assert code == 1 and "grading failed for some samples: mmvet (1)" in err and "--allow-judge-failures" in err
        result = read_json(tmp_path / "janus-tiny" / "mmvet.json")
        assert (result["counts"]["failed"], result["counts"]["scoring_failed"], result["metrics"]["graded"]) == (1, 1, 5)
        assert result["metrics"]["total"] == pytest.approx(100 * (1.0 + 0.0 + 0.5 + 0.8 + 0.6) / 5)
        failed = next(r for r in read_jsonl(tmp_path / "janus-tiny" / "mmvet.samples.jsonl") if r["failed"])
        assert failed["id"] == "v1_4" and isinstance(failed["output"], str)
        assert "HTTP 503" in failed["error"]["message"] and "after 2 attempt(s)" in failed["error"]["message"]
        attempts = [r for r in server.chat_requests if QUESTIONS[4] in r["body"]["messages"][-1]["content"]]
        assert len(attempts) == 2  # not asked again by the one-by-one scoring of its batch

        code, _, err = run_cli(_cli(tmp_path, server, "--judge-retries", "1", "--allow-judge-failures"), capsys)
        assert code == 0, err

        broken["on"] = False  # the endpoint recovers: the rerun grades the failed sample from its saved answer
        code, _, err = run_cli(_cli(tmp_path, server), capsys)
        assert code == 0, err
        fixed = read_json(tmp_path / "janus-tiny" / "mmvet.json")
        assert (fixed["counts"]["failed"], fixed["counts"]["generated"], fixed["counts"]["rescored"]) == (0, 0, 1)
        assert fixed["metrics"]["total"] == pytest.approx(_expected(read_jsonl(tmp_path / "janus-tiny" / "mmvet.samples.jsonl"))["total"])


def test_bad_judge_input_is_one_message_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with openai_server(grade_by_question, api_key=KEY) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-0000")
        code, _, err = run_cli(_cli(tmp_path, server), capsys)
        assert code == 2 and "refused the API key from $OPENAI_API_KEY (HTTP 401)" in err and "Traceback" not in err
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        code, _, err = run_cli(_cli(tmp_path, None, "--judge-base-url", server.url, "--judge-model", "gpt-nope"), capsys)
        assert code == 2 and "judge model 'gpt-nope' is not served by" in err
        assert not server.chat_requests
        url = server.url
    code, _, err = run_cli(_cli(tmp_path, None, "--judge-base-url", url, "--judge-model", "judge-x"), capsys)
    assert code == 2 and f"cannot reach the judge endpoint {url}" in err and "Traceback" not in err
    code, _, err = run_cli(_cli(tmp_path, None, "--judge-base-url", url), capsys)
    assert code == 2 and "--judge-base-url given without --judge-model" in err
    code, _, err = run_cli(_cli(tmp_path, None, "--judge-model", "gpt-4-0613", "--judge-price", "cheap"), capsys)
    assert code == 2 and "bad --judge-price 'cheap'" in err
    assert not (tmp_path / "janus-tiny" / "mmvet.samples.jsonl").exists()  # nothing was generated


def test_local_copy_in_the_hub_layout_loads(tmp_path: Path) -> None:
    from janus_eval.data.loading import load_task_data
    from tests.helpers import write_parquet

    write_parquet(DEMO.demo_rows(), tmp_path / "mmvet")
    task = MmvetTask()
    data = load_task_data(task, "hub", tmp_path)
    samples = task.samples(data.rows)
    assert [s.id for s in samples] == [f"v1_{n}" for n in range(6)] and data.origin == "local"
    assert samples[3].meta["capabilities"] == ["rec", "spat"] and samples[0].target == "circle<AND>red"
    assert task.build_request(samples[0]).images[0].size == (384, 384)
