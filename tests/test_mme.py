"""MME task: options, prompts, samples, scoring, acc + acc+ arithmetic, merging, card, demo rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from janus_eval.tasks.mme import COGNITION_CATEGORIES, PERCEPTION_CATEGORIES, MmeMetric, MmeOptions, MmeTask
from PIL import Image
from pydantic import ValidationError

from janus_eval.api import SampleError, TextOutput
from janus_eval.data.image_io import decode_image, encode_png
from janus_eval.errors import UserError

QUESTION = "Is there a dog in this image? Please answer yes or no."
SUFFIX = "\nAnswer the question using a single word or phrase."


def make_row(question_id: str, category: str, answer: str, question: str = QUESTION) -> dict[str, Any]:
    return {
        "question_id": question_id,
        "image": encode_png(Image.new("RGB", (8, 8), "red")),
        "question": question,
        "answer": answer,
        "category": category,
    }


def score_all(task: MmeTask, rows: list[dict[str, Any]], outputs: list[str]) -> MmeMetric:
    metric = task.new_metric()
    for sample, text in zip(task.samples(rows), outputs):
        metric.update(sample, task.score(sample, TextOutput(text)))
    return metric


# ----------------------------------------------------------------------------- options


def test_default_options_are_the_paper_protocol() -> None:
    options = MmeTask().options
    assert (options.prompt, options.extraction, options.max_new_tokens) == ("paper", "word_level", 512)


@pytest.mark.parametrize(
    "bad",
    [{"prompt": "PAPER"}, {"extraction": "exact"}, {"max_new_tokens": 0}, {"split": "random"}, {"temperature": 1}],
)
def test_bad_options_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MmeOptions(**bad)


def test_task_rejects_options_of_another_task() -> None:
    from janus_eval.tasks.pope import PopeOptions

    with pytest.raises(TypeError):
        MmeTask(PopeOptions())


# ----------------------------------------------------------------------------- prompts and requests


def test_paper_prompt_keeps_the_answer_hint() -> None:
    assert MmeTask().prompt_text(QUESTION) == "\n" + QUESTION + SUFFIX
    assert MmeTask().prompt_text(QUESTION) == (
        "\nIs there a dog in this image? Please answer yes or no.\nAnswer the question using a single word or phrase."
    )


def test_lmms_eval_prompt_drops_the_answer_hint() -> None:
    task = MmeTask(MmeOptions(prompt="lmms_eval"))
    assert task.prompt_text(QUESTION + " ") == (
        "\nIs there a dog in this image?\nAnswer the question using a single word or phrase."
    )


def test_request_is_one_user_turn_with_image_then_text() -> None:
    task = MmeTask(MmeOptions(max_new_tokens=16))
    sample = task.samples([make_row("count/1.png", "count", "Yes")])[0]
    request = task.build_request(sample)
    assert [m.role for m in request.messages] == ["user"]
    image, text = request.messages[0].content
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    assert text == "\n" + QUESTION + SUFFIX
    assert (request.max_new_tokens, request.temperature) == (16, 0.0)
    assert (request.task, request.sample_id, request.index) == ("mme", "count/1.png#0", 0)


def test_unreadable_image_fails_only_that_sample() -> None:
    task = MmeTask()
    row = make_row("count/1.png", "count", "Yes")
    row["image"] = {"bytes": b"not a png", "path": None}
    with pytest.raises(SampleError):
        task.build_request(task.samples([row])[0])


# ----------------------------------------------------------------------------- samples


def test_samples_have_unique_stable_ids_and_scoring_meta() -> None:
    rows = [
        make_row("OCR/a.png", "OCR", "Yes"),
        make_row("OCR/a.png", "OCR", "No"),
        make_row("OCR/b.png", "OCR", " yes. "),
        make_row("OCR/b.png", "OCR", "NO"),
    ]
    samples = MmeTask().samples(rows)
    assert [s.id for s in samples] == ["OCR/a.png#0", "OCR/a.png#1", "OCR/b.png#0", "OCR/b.png#1"]
    assert [s.target for s in samples] == ["yes", "no", "yes", "no"]
    assert [s.index for s in samples] == [0, 1, 2, 3]
    assert samples[2].meta == {"category": "OCR", "image_key": "OCR/b.png"}
    json.dumps([(s.target, s.meta) for s in samples])
    assert [s.id for s in MmeTask().samples(rows)] == [s.id for s in samples]


def test_a_row_without_a_yes_no_answer_is_an_error() -> None:
    with pytest.raises(UserError, match="row 1"):
        MmeTask().samples([make_row("x/a.png", "count", "Yes"), make_row("x/a.png", "count", "maybe")])


# ----------------------------------------------------------------------------- scoring


def test_score_uses_the_chosen_extraction() -> None:
    sample = MmeTask().samples([make_row("x/a.png", "count", "No")])[0]
    output = TextOutput("No, there is not.")
    assert MmeTask().score(sample, output) == {"pred": "no", "correct": True}
    assert MmeTask(MmeOptions(extraction="lmms_eval")).score(sample, TextOutput("Nope")) == {
        "pred": "no",
        "correct": True,
    }
    assert MmeTask().score(sample, TextOutput("Nope")) == {"pred": "unknown", "correct": False}


def test_failed_sample_scores_unknown_and_wrong() -> None:
    task = MmeTask()
    sample = task.samples([make_row("x/a.png", "count", "No")])[0]
    score = task.score(sample, None)
    assert score == {"pred": "unknown", "correct": False}
    metric = task.new_metric()
    metric.update(sample, score)
    assert metric.compute()["count.acc"] == 0.0


# ----------------------------------------------------------------------------- metric arithmetic


def hand_worked_rows() -> tuple[list[dict[str, Any]], list[str]]:
    """existence: images both right / one right / none right; count: both right; code_reasoning: one right."""
    rows, outputs = [], []
    plan = [
        ("existence", "e1.png", [True, True]),
        ("existence", "e2.png", [True, False]),
        ("existence", "e3.png", [False, False]),
        ("count", "c1.png", [True, True]),
        ("code_reasoning", "r1.png", [False, True]),
    ]
    for category, image, right in plan:
        for answer, is_right in zip(("Yes", "No"), right):
            rows.append(make_row(f"{category}/{image}", category, answer))
            outputs.append(answer if is_right else {"Yes": "No", "No": "Yes"}[answer])
    return rows, outputs


def test_acc_plus_arithmetic_by_hand() -> None:
    rows, outputs = hand_worked_rows()
    result = score_all(MmeTask(), rows, outputs).compute()
    assert result["existence.acc"] == pytest.approx(50.0)
    assert result["existence.acc_plus"] == pytest.approx(100 / 3)
    assert result["existence"] == pytest.approx(83.3333, abs=1e-3)
    assert result["count"] == pytest.approx(200.0)
    assert (result["code_reasoning.acc"], result["code_reasoning.acc_plus"]) == (50.0, 0.0)
    assert result["perception"] == pytest.approx(283.3333, abs=1e-3)
    assert result["cognition"] == pytest.approx(50.0)
    assert (result["perception_categories"], result["cognition_categories"]) == (2, 1)
    assert "color" not in result


def test_two_halves_merged_equal_the_whole() -> None:
    rows, outputs = hand_worked_rows()
    task = MmeTask()
    whole = score_all(task, rows, outputs).compute()
    # the cut at 3 splits the questions of e2.png between the halves
    first, second = score_all(task, rows[:3], outputs[:3]), task.new_metric()
    for sample, text in list(zip(task.samples(rows), outputs))[3:]:
        second.update(sample, task.score(sample, TextOutput(text)))
    first.merge(second)
    assert first.compute() == pytest.approx(whole)


def test_empty_metric() -> None:
    assert MmeMetric().compute() == {
        "perception": None,
        "cognition": None,
        "perception_categories": 0.0,
        "cognition_categories": 0.0,
    }


# ----------------------------------------------------------------------------- demo rows, card, published


def test_demo_rows_follow_the_real_schema_and_score_perfectly() -> None:
    task = MmeTask()
    rows = task.demo_rows()
    assert len(rows) == 28
    assert all(set(row) == set(task.data_source().columns) for row in rows)
    assert {row["category"] for row in rows} == set(PERCEPTION_CATEGORIES + COGNITION_CATEGORIES)
    assert all(row["question"].endswith(" Please answer yes or no.") for row in rows)
    assert rows == task.demo_rows()  # deterministic, PNG bytes included
    samples = task.samples(rows)
    assert len({s.id for s in samples}) == 28
    decode_image(rows[0]["image"])
    metric = task.new_metric()
    for sample in samples:
        metric.update(sample, task.score(sample, TextOutput(sample.target.capitalize() + ".")))
    result = metric.compute()
    assert (result["perception"], result["cognition"]) == (2000.0, 800.0)
    assert (result["perception_categories"], result["cognition_categories"]) == (10, 4)


def test_protocol_card_is_json_and_names_the_protocol() -> None:
    card = MmeTask(MmeOptions(prompt="lmms_eval", max_new_tokens=16)).protocol_card()
    json.dumps(card)
    assert card["dataset"]["hf_id"] == "lmms-lab/MME" and card["dataset"]["split"] == "test"
    assert card["prompt"]["system_prompt"] == ""
    assert card["prompt"]["messages"][0]["content"] == ["<image>", "\n{question}" + SUFFIX]
    assert "remove" in card["prompt"]["question_rewrite"]
    assert card["generation"] == {"decoding": "greedy", "temperature": 0.0, "max_new_tokens": 16}
    assert card["options"] == {"prompt": "lmms_eval", "extraction": "word_level", "max_new_tokens": 16}
    assert card["extraction"]["rule"] == "word_level"


def test_published_numbers_and_headline() -> None:
    assert MmeTask.published == {
        "janus-1.3b": 1338.0,
        "janusflow-1.3b": 1333.1,
        "janus-pro-1b": 1444.0,
        "janus-pro-7b": 1567.1,
    }
    assert MmeTask().headline == "perception"
    assert MmeTask.request_kind == "text"
