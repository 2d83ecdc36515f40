"""DPG-Bench's `judge` VQA backend: the real `openai` client against a loopback OpenAI-compatible vision server."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from janus_eval.tasks.dpg_bench import DpgBenchOptions, DpgBenchTask
from PIL import Image

from janus_eval.api import ImageOutput, JudgeSettings, SampleError, image_digest
from janus_eval.data.cache import cache_root
from janus_eval.data.image_grid import crop_tiles
from janus_eval.scorers.judge_vqa import first_word
from janus_eval.scorers.vqa import build_vqa
from tests.helpers import read_json, read_jsonl, run_cli
from tests.openai_server import OpenAIServer, PeakInFlight, Reply, openai_server

KEY = "sk-dpg-judge-test-key-8c41d2e07a9b"
DEMO = DpgBenchTask(demo=True)
QUESTIONS = {q["question"] for row in DEMO.demo_rows() for q in row["questions"]}
# the scripted vision model: a sentence starting with yes, except these
REPLIES = {"Is there a table?": "No, there is none.", "Does the sign read 'MAIN ST'?": "Yeah, it does."}


@pytest.fixture(autouse=True)
def judge_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    for variable in ("OPENAI_BASE_URL", "JANUS_EVAL_JUDGE_MODEL"):
        monkeypatch.delenv(variable, raising=False)


def by_question(body: dict[str, Any]) -> str:
    question = body["messages"][-1]["content"][-1]["text"]
    return REPLIES.get(question, "**Yes**, it is.")


def _args(output_dir: Path, server: OpenAIServer, *extra: str, model: str = "judge-x") -> list[str]:
    return ["--model", "janus-tiny", "--tasks", "dpg_bench", "--data", "demo", "--output-dir", str(output_dir),
            "--no-progress", "--task-option", "dpg_bench.vqa_model=judge", "--judge-base-url", server.url,
            "--judge-model", model, *extra]  # fmt: skip


def _decoded(url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))


def test_first_word_reduces_a_reply_to_a_one_word_answer() -> None:
    cases = {"Yes.": "yes", "**Yes**, there is a cat.": "yes", "  no\n": "no", "YES!": "yes", "Yes,there": "yes",
             "'yes'": "yes", "Yeah": "yeah", "I think yes": "i", "": "", "...": "", "Nein": "nein"}  # fmt: skip
    assert {reply: first_word(reply) for reply in cases} == cases


def test_the_demo_asks_each_tile_and_question_scores_by_the_official_rule_and_never_asks_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with openai_server(by_question, api_key=KEY, models=("judge-x", "judge-y")) as server:
        code, out, err = run_cli(_args(tmp_path, server, "--judge-price", "1,2"), capsys)
        assert code == 0, err
        model_dir = tmp_path / "janus-tiny"
        result = read_json(model_dir / "dpg_bench.json")
        records = {r["id"]: r for r in read_jsonl(model_dir / "dpg_bench.samples.jsonl")}

        # the request: one user message, the tile as a PNG data URL, then the question exactly as in the CSV
        tiles = {image_digest(t) for item in records for t in crop_tiles(
            Image.open(model_dir / "dpg_bench_images" / f"{item}.png").convert("RGB"), 4)}  # fmt: skip
        asked = set()
        for request in server.chat_requests:
            body = request["body"]
            (message,) = body["messages"]
            image, text = message["content"]
            assert message["role"] == "user" and image["type"] == "image_url" and text["type"] == "text"
            assert (body["model"], body["temperature"], body["max_tokens"]) == ("judge-x", 0.0, 16)
            assert text["text"] in QUESTIONS
            asked.add((image_digest(_decoded(image["image_url"]["url"]).convert("RGB")), text["text"]))
        # every (tile, question) once: 4 tiles of 4 items, each item's questions (the first CSV row skipped)
        questions = sum(len(r["target"]["questions"]) for r in records.values())
        assert len(server.chat_requests) == len(asked) == 4 * questions
        assert {tile for tile, _ in asked} == tiles

        # the raw replies are recorded, their first words scored by the official rules
        cat = records["demo_cat"]["score"]
        assert cat["tiles"][0]["replies"]["2"] == "No, there is none." and cat["tiles"][0]["answers"]["2"] == "no"
        assert cat["tiles"][0]["answers"]["1"] == "yes" and cat["tiles"][0]["replies"]["1"] == "**Yes**, it is."
        # demo_cat: no table (2) zeroes the cat on the table (5): 4 of 6 on every tile; demo_sign: "yeah" is not
        # the exact 'yes' (2 of 3); demo_garden: all yes; demo_street: dropped (its parent row is skipped)
        assert cat["score"] == pytest.approx(4 / 6)
        assert records["demo_sign"]["score"]["score"] == pytest.approx(2 / 3)
        assert records["demo_garden"]["score"]["score"] == 1.0
        assert records["demo_street"]["score"]["score"] is None
        assert result["metrics"]["overall"] == pytest.approx(100 * (4 / 6 + 2 / 3 + 1) / 3)
        # the official categories read the last tile's raw answers: "on the table" counts there, not in overall
        assert result["metrics"]["relation"] == 100.0
        assert result["published"] is None
        assert any("'judge-x' at " + server.url in n and "not comparable" in n for n in result["notes"])

        # identity and protocol: endpoint, model, request and reduction
        vqa = result["scorers"]["vqa"]
        assert (vqa["backend"], vqa["endpoint"], vqa["model"], vqa["reduction"]) == ("judge-vqa", server.url, "judge-x", "first_word")
        assert "batch_size" not in vqa  # a batch's questions go at once, --judge-concurrency in flight
        card = result["protocol"]["scoring"]["vqa_endpoint"]
        assert card["answer_reduction"] == "first_word" and "lower-cased" in card["notes"]
        assert any("vqa_model=judge" in d for d in result["protocol"]["deviations"])

        # cost accounting: every request and its tokens, priced
        usage = result["manifest"]["scoring_usage"]["judge"]
        prompt_tokens = sum(r["score"]["judge"]["prompt_tokens"] for r in records.values())
        sent = len(server.chat_requests)
        assert (usage["requests_sent"], usage["cache_hits"], usage["completion_tokens"]) == (sent, 0, 2 * sent)
        assert usage["prompt_tokens"] == prompt_tokens > 0
        assert usage["cost_usd"] == usage["cost_usd_sent"] == pytest.approx((prompt_tokens * 1 + 2 * sent * 2) / 1e6, abs=1e-6)

        # a rerun sends nothing (no model check either); rescoring answers from the answer cache
        before = len(server.requests)
        code, _, err = run_cli(_args(tmp_path, server, "--judge-price", "1,2"), capsys)
        assert code == 0, err
        assert read_json(model_dir / "dpg_bench.json")["counts"]["reused"] == 4 and len(server.requests) == before
        code, _, err = run_cli(_args(tmp_path, server, "--judge-price", "1,2", "--task-option",
                                     "dpg_bench.dependency_rule=dsg"), capsys)  # fmt: skip
        assert code == 0, err
        rescored = read_json(model_dir / "dpg_bench.json")
        assert rescored["counts"]["rescored"] == 4 and len(server.requests) == before
        again = rescored["manifest"]["scoring_usage"]["judge"]
        assert (again["requests_sent"], again["cache_hits"], again["cost_usd_sent"]) == (0, sent, 0.0)
        assert again["cost_usd"] == usage["cost_usd"]

        # without the answer cache, the judge's own cache answers; it keeps no copy of the images
        (answers,) = [f for f in (cache_root() / "vqa-answers").iterdir() if server.url in (f / "identity.json").read_text()]
        shutil.rmtree(answers)
        code, _, err = run_cli(_args(tmp_path, server, "--task-option", "dpg_bench.categories=all_tiles"), capsys)
        assert code == 0, err
        assert len(server.requests) == before
        assert read_json(model_dir / "dpg_bench.json")["manifest"]["scoring_usage"]["judge"]["cache_hits"] == sent
        files = [p for p in (cache_root() / "judge").rglob("*.json") if server.url.encode() in p.read_bytes()]
        assert len(files) >= sent and not [p for p in files if b";base64," in p.read_bytes()]

        # another model at the endpoint is another scorer: its answers are asked, never reused
        code, _, err = run_cli(_args(tmp_path, server, model="judge-y"), capsys)
        assert code == 0, err
        other = read_json(model_dir / "dpg_bench.json")
        assert (other["counts"]["generated"], other["counts"]["rescored"]) == (0, 4)
        assert [r["body"]["model"] for r in server.chat_requests] == ["judge-x"] * sent + ["judge-y"] * sent
    assert not [p for root in (tmp_path, cache_root()) for p in root.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]


def test_a_bad_key_or_no_judge_is_one_message_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    with openai_server(by_question, api_key=KEY) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-1111")
        code, _, err = run_cli(_args(tmp_path, server), capsys)
        assert code == 2 and "refused the API key from $OPENAI_API_KEY (HTTP 401)" in err and "Traceback" not in err
        assert err.count("janus-eval: error:") == 1 and "1111" not in err
        assert not server.chat_requests
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        code, _, err = run_cli(_args(tmp_path, server, "--task-option", "dpg_bench.vqa_weights=/x"), capsys)
        assert code == 2 and "do not pass VQA weights" in err
    code, _, err = run_cli(_args(tmp_path, server)[:-4], capsys)  # no --judge-base-url nor --judge-model
    assert code == 2 and "dpg_bench.vqa_model=judge asks the run's LLM judge: pass --judge-model" in err
    assert not (tmp_path / "janus-tiny" / "dpg_bench.samples.jsonl").exists()  # nothing was generated


def _grids(count: int) -> list[ImageOutput]:
    rng = np.random.default_rng(5)
    return [ImageOutput([Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for _ in range(4)])
            for _ in range(count)]  # fmt: skip


def test_the_questions_of_a_batch_go_concurrently_and_a_failed_one_fails_its_sample_once(tmp_path: Path) -> None:
    broken = {"on": True}

    def reply(body: dict[str, Any]) -> Reply | str:
        if broken["on"] and body["messages"][0]["content"][1]["text"] == "Is the cat sleeping?":
            return Reply(status=503, error="overloaded")
        return "yes"

    answer = PeakInFlight(reply, hold=0.05)
    with openai_server(answer, api_key=KEY) as server:
        settings = JudgeSettings(model="judge-x", base_url=server.url, concurrency=3, max_retries=1,
                                 cache_dir=str(tmp_path / "judge"))  # fmt: skip
        task = DpgBenchTask(DpgBenchOptions(vqa_model="judge", vqa_batch_size=2), demo=True)  # not chunked
        task.judge_settings = settings
        samples = {s.id: s for s in task.samples(task.demo_rows())}
        garden, sign = task.score_batch([samples["demo_garden"], samples["demo_sign"]], _grids(2))
        assert answer.peak == 3 and len(server.chat_requests) == 4 * (4 + 3)  # every tile's questions, 3 at a time
        assert garden["score"] == sign["score"] == 1.0 and garden["judge"]["requests"] == 16

        cat = samples["demo_cat"]
        sent = len(server.chat_requests)
        with pytest.raises(SampleError, match=r"VQA answer of question 'Is the cat sleeping\?' on tile .* HTTP 503"):
            task.score_batch([cat], _grids(1))
        assert len(server.chat_requests) == sent + 4 * 5 + 4 * 2  # 5 questions answered, the failing one tried twice
        with pytest.raises(SampleError, match="HTTP 503"):  # the engine's second pass: fails at once
            task.score_batch([cat], _grids(1))
        assert len(server.chat_requests) == sent + 28
        broken["on"] = False  # recovered: only the failed question is asked again, the rest is in the judge cache
        (score,) = task.score_batch([cat], _grids(1))
        assert len(server.chat_requests) == sent + 28 + 4 and score["score"] == 1.0
        assert (score["judge"]["requests"], score["judge"]["cached"]) == (4, 20)


def test_the_judge_backend_needs_a_judge_and_no_weights() -> None:
    from janus_eval.errors import UserError

    with pytest.raises(UserError, match="pass --judge-model"):
        build_vqa("judge")
    with pytest.raises(UserError, match="do not pass VQA weights"):
        build_vqa("judge", weights="/somewhere", judge=JudgeSettings(model="m", base_url="http://127.0.0.1:9/v1"))
