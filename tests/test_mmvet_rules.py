"""MM-Vet grading rules: prompts byte-identical to their sources, parsing, retry schedules, aggregation."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from janus_eval.api import Sample
from janus_eval.rules.mmvet import (
    GRADERS,
    LMMS_EVAL_PROMPT,
    OFFICIAL_PROMPT,
    VLMEVALKIT_PROMPT,
    MmvetMetric,
    capabilities_of,
    grade_answer,
    integration_name,
    parse_grade_lmms_eval,
    parse_grade_official,
    parse_grade_whole,
)

# sha256 of the prompt strings as they stand in the sources (computed from the files at those commits):
# yuweihao/MM-Vet acde843 mm-vet_evaluator.py `prompt` (and mm-vet_evaluator.ipynb, identical),
# VLMEvalKit e8e78f05 vlmeval/dataset/utils/mmvet.py `prompt`, lmms-eval 75571cfe lmms_eval/tasks/mmvet/utils.py.
SOURCE_SHA256 = {
    "official": "d1b3e0a5b4e72c888b77164489d705bba4dd149934fff564dfba6443d81afe3f",
    "vlmevalkit": "f3e131e1d998e890676bda56a63e404f601cb5166293b1ab0c9fafd9d8567323",
    "lmms_eval": "4d9b806e960fcd3f25997104017744653443fb17f907aa0712b5efecea78438c",
}


def test_prompts_are_byte_identical_to_their_sources() -> None:
    for name, prompt in (("official", OFFICIAL_PROMPT), ("vlmevalkit", VLMEVALKIT_PROMPT), ("lmms_eval", LMMS_EVAL_PROMPT)):
        assert hashlib.sha256(prompt.encode()).hexdigest() == SOURCE_SHA256[name], name
        assert GRADERS[name].identity()["prompt_sha256"] == SOURCE_SHA256[name]


def test_full_prompts_space_the_ground_truth_and_end_as_their_sources() -> None:
    question, answer, prediction = "What is x?", "-1<AND>-5<OR>five", "x = -1"
    row = "What is x? | -1 <AND> -5 <OR> five | x = -1"
    assert GRADERS["official"].prompt(question, answer, prediction) == OFFICIAL_PROMPT + "\n" + row + " | "
    assert GRADERS["official"].prompt(question, answer, prediction, retry=True) == (
        OFFICIAL_PROMPT + "\n" + row + " | " + "\nPredict the correctness of the answer (digit): "
    )
    assert GRADERS["vlmevalkit"].prompt(question, answer, prediction) == VLMEVALKIT_PROMPT + "\n" + row + " | "
    assert GRADERS["lmms_eval"].prompt(question, answer, prediction) == LMMS_EVAL_PROMPT + "\n" + row + " |"
    assert GRADERS["vlmevalkit"].messages("p") == [{"role": "user", "content": [{"type": "text", "text": "p"}]}]
    assert GRADERS["official"].messages("p") == [{"role": "user", "content": "p"}]


@pytest.mark.parametrize(
    ("reply", "official", "lmms_eval", "whole"),
    [
        ("0.5", 0.5, 0.5, 0.5),
        ("1.0 (totally right)", 1.0, 1.0, None),
        (" 0.3", None, 0.3, 0.3),  # official: " 0.3".split(" ")[0] == ""
        ("0.3\n", 0.3, 0.3, 0.3),
        ("1.5", None, None, None),
        ("-0.1", None, None, None),
        ("nan", None, None, None),
        ("Correctness: 0.4", None, None, None),
        ("", None, None, None),
    ],
)
def test_grade_parsing(reply: str, official: float | None, lmms_eval: float | None, whole: float | None) -> None:
    assert parse_grade_official(reply) == official
    assert parse_grade_lmms_eval(reply) == lmms_eval
    assert parse_grade_whole(reply) == whole


def _scripted_ask(replies: list[str]) -> tuple[Any, list[tuple[bool, float, int]]]:
    asked: list[tuple[bool, float, int]] = []

    def ask(messages: list[dict[str, Any]], temperature: float, max_tokens: int, draw: int) -> str:
        content = messages[0]["content"]
        text = content if isinstance(content, str) else content[0]["text"]
        asked.append((text.endswith("(digit): "), temperature, draw))
        return replies.pop(0) if len(replies) > 1 else replies[0]

    return ask, asked


def test_official_schedule_retry_prompt_then_rising_temperature() -> None:
    ask, asked = _scripted_ask(["right", "0.x", "0.7"])
    outcome = grade_answer(GRADERS["official"], "q", "a", "p", ask)
    assert (outcome.grade, outcome.parsed) == (0.7, True)
    assert asked == [(False, 0.0, 0), (True, 0.0, 0), (True, 0.5, 0)]
    assert [t["reply"] for t in outcome.tries] == ["right", "0.x", "0.7"]

    ask, asked = _scripted_ask(["no idea"])
    outcome = grade_answer(GRADERS["official"], "q", "a", "p", ask)
    assert (outcome.grade, outcome.parsed) == (0.0, False)
    assert asked == [(False, 0.0, 0), (True, 0.0, 0), (True, 0.5, 0), (True, 1.0, 0), (True, 1.5, 0)]


def test_vlmevalkit_and_lmms_eval_schedules() -> None:
    ask, asked = _scripted_ask(["?"])
    assert grade_answer(GRADERS["vlmevalkit"], "q", "a", "p", ask).parsed is False
    assert [t for _, t, _ in asked] == [0.0, 0.5, 1.0, 1.5, 2.0]
    ask, asked = _scripted_ask(["?"])
    assert grade_answer(GRADERS["lmms_eval"], "q", "a", "p", ask).grade == 0.0
    assert [t for _, t, _ in asked] == [0.0, 0.5, 1.0, 1.5]
    assert GRADERS["lmms_eval"].max_tokens == 128 and GRADERS["official"].max_tokens == 3


def test_empty_replies_follow_each_source() -> None:
    # lmms-eval: get_chat_response asks 3 times while the reply is empty, then the score is 0.0 at once
    ask, asked = _scripted_ask([""])
    outcome = grade_answer(GRADERS["lmms_eval"], "q", "a", "p", ask)
    assert (outcome.grade, outcome.parsed, asked) == (0.0, False, [(False, 0.0, 0), (False, 0.0, 1), (False, 0.0, 2)])
    # VLMEvalKit: its API wrapper asks again (up to 5 times) while the answer is empty
    ask, asked = _scripted_ask(["", "", "0.6"])
    outcome = grade_answer(GRADERS["vlmevalkit"], "q", "a", "p", ask)
    assert (outcome.grade, asked) == (0.6, [(False, 0.0, 0), (False, 0.0, 1), (False, 0.0, 2)])
    # official: an empty reply is one unparsable try
    ask, asked = _scripted_ask(["", "0.2"])
    assert grade_answer(GRADERS["official"], "q", "a", "p", ask).grade == 0.2
    assert asked == [(False, 0.0, 0), (True, 0.0, 0)]


def _sample(number: int, capabilities: str) -> Sample:
    return Sample(id=f"v1_{number}", index=number, target="", meta={"capabilities": capabilities_of(capabilities)})


def test_capability_scores_count_a_question_once_per_capability() -> None:
    graded = [(_sample(0, "rec,ocr"), 1.0), (_sample(1, "ocr"), 0.5), (_sample(2, "know,rec"), 0.0), (_sample(3, "ocr,rec"), 0.5)]
    metric = MmvetMetric()
    for sample, grade in graded:
        metric.update(sample, {"grade": grade, "parsed": grade != 0.0, "status": "graded"})
    metric.update(_sample(4, "rec"), {"grade": None, "status": "ungraded"})
    metric.update(_sample(5, "math"), {"grade": None, "status": "failed"})
    result = metric.compute()
    assert result["total"] == pytest.approx(100 * 2.0 / 4)
    assert result["rec"] == pytest.approx(100 * 1.5 / 3)
    assert result["ocr"] == pytest.approx(100 * 2.0 / 3)
    assert result["know"] == 0.0 and result["math"] is None and result["gen"] is None
    assert result["integration.rec_ocr"] == pytest.approx(75.0)  # "rec,ocr" and "ocr,rec" are one set
    assert result["integration.rec_know"] == 0.0
    assert (result["graded"], result["unparsed"], result["ungraded"], result["failed"]) == (4, 1, 1, 1)

    halves = MmvetMetric(), MmvetMetric()
    for position, (sample, grade) in enumerate(graded):
        halves[position % 2].update(sample, {"grade": grade, "status": "graded"})
    halves[0].merge(halves[1])
    assert halves[0].compute()["total"] == result["total"] and halves[0].compute()["ocr"] == result["ocr"]
    assert MmvetMetric().compute()["total"] is None  # nothing graded: no score, not 0


def test_capabilities_and_integration_names() -> None:
    assert capabilities_of("rec, ocr,") == ["rec", "ocr"]
    assert capabilities_of(["spat", "math"]) == ["spat", "math"]
    assert capabilities_of(None) == []
    assert integration_name(["math", "spat", "ocr"]) == "ocr_spat_math"
