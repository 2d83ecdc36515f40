"""Judge-based answer matching for MMBench, SEED-Bench and MMMU (off by default): VLMEvalKit's prompt and loop,
through the real `openai` client against a loopback judge server."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from janus_eval.tasks.mmbench import MmbenchOptions
from janus_eval.tasks.mmmu import MmmuOptions, MmmuTask
from janus_eval.tasks.seed_bench import SeedBenchOptions, SeedBenchTask
from pydantic import ValidationError

from janus_eval.api import JudgeSettings, ModelSpec, TextOutput
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate
from janus_eval.rules.option_judge import (
    MATCHING_PROMPT,
    MATCHING_PROMPT_CN,
    judge_option,
    matching_prompt,
    option_list_text,
)
from tests.helpers import read_jsonl, run_cli
from tests.openai_server import OpenAIServer, openai_server

KEY = "sk-answer-judge-test-71c0de"
# sha256 of build_prompt's and build_prompt_cn's templates in VLMEvalKit e8e78f05 vlmeval/dataset/utils/multiple_choice.py
SOURCE_SHA256 = {
    "en": "133b2beaa0ce149aab95c6d01d4629f034e8861c723fc302ab3853a41e690c86",
    "cn": "6cd5198da4ff3d4179a6db5bf17eeb181fa9e55caba876e632f7c583ac0eeb7c",
}


@pytest.fixture(autouse=True)
def judge_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _settings(server: OpenAIServer, tmp_path: Path) -> JudgeSettings:
    return JudgeSettings(model="judge-x", base_url=server.url, cache_dir=str(tmp_path / "judge-cache"))


def test_matching_prompts_are_vlmevalkits() -> None:
    assert hashlib.sha256(MATCHING_PROMPT.encode()).hexdigest() == SOURCE_SHA256["en"]
    assert hashlib.sha256(MATCHING_PROMPT_CN.encode()).hexdigest() == SOURCE_SHA256["cn"]
    choices = {"A": "a cat", "B": "a dog"}
    assert option_list_text(choices) == "There are several options: \nA. a cat\nB. a dog\n"
    assert matching_prompt("What is it", choices, "meow").endswith(
        "Example 3: \nQuestion: What is it?\nOptions: There are several options: \nA. a cat\nB. a dog\n\n"
        "Answer: meow\nYour output: "
    )
    assert matching_prompt("图中是什么", choices, "猫").startswith("你是一个帮助我匹配答案")


def test_judge_loop_reads_letters_and_z_and_falls_back_to_a_seeded_random_letter() -> None:
    asked: list[int] = []

    def ask(replies: list[str]) -> Any:
        def answer(messages: list[dict[str, Any]], temperature: float, max_tokens: int, draw: int) -> str:
            assert (temperature, max_tokens) == (0.0, 2048) and messages[0]["content"][0]["type"] == "text"
            asked.append(draw)
            return replies.pop(0)

        return answer

    choices = {"A": "red", "B": "green", "C": "blue"}
    assert judge_option("q", choices, "grass colour", ask(["The answer is B."]), key="s1").pred == "B"
    assert judge_option("q", choices, "purple", ask(["Z"]), key="s1").pred == "Z"
    asked.clear()
    fallback = judge_option("q", choices, "?", ask(["hmm", "not sure", "A or B"]), key="s1")
    assert fallback.random and fallback.pred in {"A", "B", "C", "Z"} and asked == [0, 1, 2]
    again = judge_option("q", choices, "?", ask(["x", "y", "z?"]), key="s1")
    assert again.pred == fallback.pred  # the fallback letter depends on the sample id only


def test_options_need_vlmevalkit_rules() -> None:
    for bad in (
        lambda: MmbenchOptions(judge_matching=True, extraction="lmms_eval"),
        lambda: MmbenchOptions(judge_matching=True, unmatched="random"),
        lambda: SeedBenchOptions(judge_matching=True, extraction="lmms_eval"),
        lambda: MmmuOptions(judge_matching=True),  # parsing=official
    ):
        with pytest.raises(ValidationError, match="judge_matching=true needs"):
            bad()
    assert MmmuOptions(judge_matching=True, parsing="vlmevalkit").judge_matching


def test_mmbench_unmatched_answers_go_to_the_judge(tmp_path: Path) -> None:
    adapter = build_adapter(ModelSpec(name="janus-tiny"))
    with openai_server(lambda body: "A", api_key=KEY) as server:
        config = RunConfig(
            model=ModelSpec(name="janus-tiny"), tasks=["mmbench"],
            task_options={"mmbench": {"max_new_tokens": 4, "judge_matching": True}}, data_mode="demo",
            batch_size=4, output_dir=tmp_path, show_progress=False, judge=_settings(server, tmp_path),
        )  # fmt: skip
        (result,) = evaluate(config, adapter=adapter)
        records = read_jsonl(tmp_path / "janus-tiny" / "mmbench.samples.jsonl")
        judged = [r for r in records if "answer_judge" in r["score"]]
        assert judged and len(server.chat_requests) == len(judged)  # one reply each: "A" is read at once
        for record in judged:
            assert record["score"]["pred"] == "A" and record["score"]["correct"] == (record["target"] == "A")
            assert not record["score"]["unmatched"]
        prompts = server.prompts()
        assert all(p.startswith("You are an AI assistant who will help me to match an answer") for p in prompts)
        assert any(f"Answer: {judged[0]['output']}\nYour output: " in p for p in prompts)
    usage = result.manifest.scoring_usage["answer_judge"]
    assert (usage["matched_by_judge"], usage["requests_sent"], usage["model"]) == (len(judged), len(judged), "judge-x")
    assert result.scorers["answer_judge"]["matching"] == "vlmevalkit"
    assert result.protocol["answer_judge"]["judge_model"] == "judge-x"
    assert any("mmbench.judge_matching" in note for note in result.notes)
    assert result.metrics["unmatched"] == 0


def test_seed_and_mmmu_judge_matching_without_a_model(tmp_path: Path) -> None:
    with openai_server(lambda body: "B", api_key=KEY) as server:
        seed = SeedBenchTask(SeedBenchOptions(judge_matching=True), demo=True)
        seed.judge_settings = _settings(server, tmp_path)
        samples = seed.samples(seed.demo_rows())[:2]
        scores = seed.score_batch(samples, [TextOutput("I cannot tell"), TextOutput(f"({samples[1].target})")])
        assert scores[0]["pred"] == "B" and "answer_judge" in scores[0] and "answer_judge" not in scores[1]
        assert len(server.chat_requests) == 1

        mmmu = MmmuTask(MmmuOptions(parsing="vlmevalkit", judge_matching=True), demo=True)
        mmmu.judge_settings = _settings(server, tmp_path)
        open_question = next(s for s in mmmu.samples(mmmu.demo_rows()) if s.meta["question_type"] == "open")
        (score,) = mmmu.score_batch([open_question], [TextOutput("no idea at all")])
        assert score["pred"] == "B" and score["correct"] is False  # B = "Other Answers" of the pseudo-MCQ
        assert f"A. {open_question.target}\nB. Other Answers\n" in server.prompts()[-1]


def test_judge_matching_without_a_judge_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "janus-tiny", "--tasks", "seed_bench", "--data", "demo", "--output-dir", str(tmp_path),
            "--no-progress", "--task-option", "seed_bench.judge_matching=true"]  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "seed_bench.judge_matching=true needs an LLM judge: pass --judge-model" in err
    code, _, err = run_cli([*args, "--task-option", "seed_bench.extraction=lmms_eval"], capsys)
    assert code == 2 and "judge_matching=true needs extraction=vlmevalkit" in err
