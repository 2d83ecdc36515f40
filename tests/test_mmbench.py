"""MMBench task: options, prompts, samples and groups, scoring (unmatched, random), circular vs not, card, demo."""

from __future__ import annotations

import json
from typing import Any

import pytest
from janus_eval.tasks.mmbench import (
    LMMS_EVAL_RANDOM_LETTERS,
    MmbenchMetric,
    MmbenchOptions,
    MmbenchTask,
)
from PIL import Image
from pydantic import ValidationError

from janus_eval.api import SampleError, TextOutput
from janus_eval.data.image_io import decode_image, encode_png
from janus_eval.errors import UserError
from janus_eval.rules.option_matching import random_option

SUFFIX = "\nAnswer with the option's letter from the given choices directly."
COLOURS = ("red", "blue", "green", "yellow")


def make_row(
    index: int | str,
    answer: str = "A",
    options: tuple[str, ...] = COLOURS,
    hint: Any = None,
    question: str = "What colour is the circle?",
    category: str = "attribute_recognition",
    l2: str = "finegrained_perception (instance-level)",
) -> dict[str, Any]:
    letters = "ABCD"
    return {
        "index": index,
        "question": question,
        "hint": hint,
        "answer": answer,
        **{letter: (options[i] if i < len(options) else None) for i, letter in enumerate(letters)},
        "category": category,
        "image": encode_png(Image.new("RGB", (8, 8), "red")),
        "source": "test",
        "L2-category": l2,
        "comment": None,
        "split": "dev",
    }


def rotated_group(question: int, right_option: int = 0, options: tuple[str, ...] = COLOURS) -> list[dict[str, Any]]:
    """The original row of `question` and its rotated copies (index k * 1e6 + question), answers rotated too."""
    rows = []
    for k in range(len(options)):
        rotated = options[k:] + options[:k]
        answer = "ABCD"[(right_option - k) % len(options)]
        rows.append(make_row(k * 1_000_000 + question, answer, rotated))
    return rows


def scores_for(task: MmbenchTask, rows: list[dict[str, Any]], outputs: list[str]) -> list[dict[str, Any]]:
    return [task.score(sample, TextOutput(text)) for sample, text in zip(task.samples(rows), outputs)]


def metric_for(task: MmbenchTask, rows: list[dict[str, Any]], outputs: list[str]) -> MmbenchMetric:
    metric = task.new_metric()
    for sample, text in zip(task.samples(rows), outputs):
        metric.update(sample, task.score(sample, TextOutput(text)))
    return metric


# ----------------------------------------------------------------------------- options


def test_default_options_are_the_paper_protocol() -> None:
    options = MmbenchTask().options
    assert (options.circular, options.prompt, options.extraction, options.unmatched, options.max_new_tokens) == (
        False,
        "paper",
        "vlmevalkit",
        "wrong",
        512,
    )


@pytest.mark.parametrize(
    "bad",
    [{"prompt": "vlmevalkit"}, {"extraction": "judge"}, {"unmatched": "skip"}, {"max_new_tokens": 0}, {"split": "x"}],
)
def test_bad_options_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MmbenchOptions(**bad)


def test_circular_accepts_cli_strings() -> None:
    assert MmbenchOptions.model_validate({"circular": "true"}).circular is True


# ----------------------------------------------------------------------------- prompts and requests


def test_paper_prompt_with_hint() -> None:
    task = MmbenchTask()
    text = task.prompt_text("Which one?", {"A": "cat", "B": "dog"}, "Look closely.")
    assert text == "\nHint: Look closely.\nWhich one?\nA. cat\nB. dog\n" + SUFFIX
    assert text == (
        "\nHint: Look closely.\nWhich one?\nA. cat\nB. dog\n\n"
        "Answer with the option's letter from the given choices directly."
    )


@pytest.mark.parametrize("missing", [None, float("nan"), "nan", ""])
def test_paper_prompt_without_hint(missing: Any) -> None:
    task = MmbenchTask()
    row = make_row(0, options=("cat", "dog", "fish"), hint=missing, question="Which one?")
    request = task.build_request(task.samples([row])[0])
    assert request.messages[0].content[1] == "\nWhich one?\nA. cat\nB. dog\nC. fish\n" + SUFFIX


def test_lmms_eval_prompt_with_and_without_hint() -> None:
    task = MmbenchTask(MmbenchOptions(prompt="lmms_eval"))
    options = {"A": "cat", "B": "dog"}
    assert task.prompt_text("Which one?", options, "Look closely.") == (
        "\nLook closely. Which one? There are several options:\nA. cat\nB. dog\n\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert task.prompt_text("Which one?", options, None) == (
        "\nWhich one? There are several options:\nA. cat\nB. dog\n\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_request_is_one_user_turn_with_image_then_text() -> None:
    task = MmbenchTask(MmbenchOptions(max_new_tokens=16))
    request = task.build_request(task.samples([make_row(7, hint="A hint.")])[0])
    assert [m.role for m in request.messages] == ["user"]
    image, text = request.messages[0].content
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    assert text.startswith("\nHint: A hint.\nWhat colour is the circle?\nA. red\n")
    assert (request.task, request.sample_id, request.index, request.max_new_tokens, request.temperature) == (
        "mmbench",
        "7",
        0,
        16,
        0.0,
    )


def test_bad_sample_data_fails_only_that_sample() -> None:
    task = MmbenchTask()
    unreadable = make_row(0)
    unreadable["image"] = {"bytes": b"not a png", "path": None}
    no_question = make_row(1, question=" ")
    no_options = make_row(2, options=())
    for row in (unreadable, no_question, no_options):
        with pytest.raises(SampleError):
            task.build_request(task.samples([row])[0])


# ----------------------------------------------------------------------------- samples


def test_samples_keep_every_row_with_its_group() -> None:
    rows = rotated_group(5, options=("cat", "dog")) + [make_row("12")]
    samples = MmbenchTask().samples(rows)
    assert [s.id for s in samples] == ["5", "1000005", "12"]
    assert [s.meta["group"] for s in samples] == ["5", "5", "12"]
    assert [s.meta["original"] for s in samples] == [True, False, True]
    assert [s.target for s in samples] == ["A", "B", "A"]
    assert samples[0].meta["category"] == "attribute_recognition"
    assert samples[0].meta["l2_category"] == "finegrained_perception (instance-level)"
    json.dumps([(s.target, s.meta) for s in samples])
    # the same samples under circular scoring
    assert [s.id for s in MmbenchTask(MmbenchOptions(circular=True)).samples(rows)] == ["5", "1000005", "12"]


def test_rows_that_cannot_be_scored_are_errors() -> None:
    with pytest.raises(UserError, match="row 1 has answer"):
        MmbenchTask().samples([make_row(0), make_row(1, answer="cat")])
    for bad_index in ("x1", -3, 2.5, None):
        with pytest.raises(UserError, match="row 0 has index"):
            MmbenchTask().samples([make_row(bad_index)])  # type: ignore[arg-type]


def test_rotated_copies_are_resampled_together() -> None:
    """The copies share image and question, so the bootstrap draws whole groups, circular or not."""
    rows = rotated_group(3, options=("cat", "dog")) + rotated_group(4, options=("red", "blue"))
    for task in (MmbenchTask(), MmbenchTask(MmbenchOptions(circular=True))):
        assert [task.resampling_unit(s) for s in task.samples(rows)] == ["group/3", "group/3", "group/4", "group/4"]


# ----------------------------------------------------------------------------- scoring


def test_row_verdicts_and_unmatched_outputs() -> None:
    task = MmbenchTask()
    sample = task.samples([make_row(0, answer="B")])[0]
    matched = {"unmatched": False, "random": False}
    assert task.score(sample, TextOutput("(B) blue")) == {"pred": "B", "correct": True, **matched}
    assert task.score(sample, TextOutput("green")) == {"pred": "C", "correct": False, **matched}
    unmatched = task.score(sample, TextOutput("I cannot tell."))
    assert unmatched == {"pred": None, "correct": False, "unmatched": True, "random": False}
    assert task.score(sample, None) == {"pred": None, "correct": False, "unmatched": False, "random": False}
    metric = task.new_metric()
    metric.update(sample, unmatched)
    metric.update(sample, task.score(sample, TextOutput("B")))
    result = metric.compute()
    assert (result["unmatched"], result["accuracy"], result["num_samples"]) == (1.0, 50.0, 2.0)


def test_unmatched_random_is_deterministic_and_recorded() -> None:
    task = MmbenchTask(MmbenchOptions(unmatched="random"))
    samples = task.samples([make_row(n, answer="A") for n in range(40)])
    scores = [task.score(s, TextOutput("no idea")) for s in samples]
    assert scores == [task.score(s, TextOutput("no idea")) for s in samples]
    assert all(score["unmatched"] and score["random"] for score in scores)
    assert [score["pred"] for score in scores] == [random_option(s.id, LMMS_EVAL_RANDOM_LETTERS) for s in samples]
    assert {score["pred"] for score in scores} <= set("ABCDE")
    assert all(score["correct"] == (score["pred"] == "A") for score in scores)
    # a matched answer is never replaced
    matched = {"pred": "C", "correct": False, "unmatched": False, "random": False}
    assert task.score(samples[0], TextOutput("C")) == matched
    # a failed sample gets no draw
    assert task.score(samples[0], None)["random"] is False


def test_extraction_option_changes_the_rule() -> None:
    sample = MmbenchTask().samples([make_row(0, answer="B")])[0]
    answer = "A dog is shown, so B."
    assert MmbenchTask().score(sample, TextOutput(answer))["unmatched"] is True
    assert MmbenchTask(MmbenchOptions(extraction="lmms_eval")).score(sample, TextOutput(answer))["correct"] is True
    static = MmbenchTask(MmbenchOptions(extraction="lmms_eval_static"))
    assert static.score(sample, TextOutput("(A) or (B)? I choose (B)"))["pred"] == "B"


# ----------------------------------------------------------------------------- circular vs non-circular


def hand_worked() -> tuple[list[dict[str, Any]], list[str]]:
    """Question 0: 3 of its 4 rotations right (the 3rd copy wrong); question 1: 4 of 4 right."""
    rows = rotated_group(0, right_option=1) + rotated_group(1, right_option=2)
    outputs = [row["answer"] for row in rows]
    outputs[2] = "I do not know."  # index 2000000: no option inferred -> unmatched and wrong
    return rows, outputs


def test_circular_needs_every_rotation_right() -> None:
    rows, outputs = hand_worked()
    result = metric_for(MmbenchTask(MmbenchOptions(circular=True)), rows, outputs).compute()
    assert (result["accuracy"], result["num_questions"], result["num_samples"], result["unmatched"]) == (
        50.0,
        2.0,
        8.0,
        1.0,
    )
    only_group_one = metric_for(MmbenchTask(MmbenchOptions(circular=True)), rows[4:], outputs[4:]).compute()
    assert only_group_one["accuracy"] == 100.0


def test_non_circular_scores_every_row() -> None:
    rows, outputs = hand_worked()
    result = metric_for(MmbenchTask(), rows, outputs).compute()
    assert result["accuracy"] == pytest.approx(7 / 8 * 100)
    assert result["accuracy_circ0"] == 100.0  # both original rows are right
    assert (result["num_samples"], result["unmatched"]) == (8.0, 1.0)
    assert "num_questions" not in result


def test_circular_groups_without_their_original_row_are_not_counted() -> None:
    rows = rotated_group(4)
    result = metric_for(MmbenchTask(MmbenchOptions(circular=True)), rows[1:], ["A", "A", "A"]).compute()
    assert (result["accuracy"], result["num_questions"], result["num_samples"]) == (None, 0.0, 3.0)


def test_category_and_l2_category_accuracy() -> None:
    rows = [
        make_row(0, "A", category="OCR", l2="finegrained_perception (instance-level)"),
        make_row(1, "A", category="OCR", l2="finegrained_perception (instance-level)"),
        make_row(2, "A", category="image_scene", l2="coarse_perception"),
        make_row(3, "A", category="attribute_recognition", l2="finegrained_perception (instance-level)"),
    ]
    result = metric_for(MmbenchTask(), rows, ["A", "B", "A", "A"]).compute()
    assert result["category.OCR"] == 50.0
    assert result["category.image_scene"] == 100.0
    assert result["l2_category.finegrained_perception (instance-level)"] == pytest.approx(200 / 3)
    assert result["l2_category.coarse_perception"] == 100.0
    assert result["accuracy"] == 75.0


@pytest.mark.parametrize("circular", [False, True])
def test_two_halves_merged_equal_the_whole(circular: bool) -> None:
    rows, outputs = hand_worked()
    task = MmbenchTask(MmbenchOptions(circular=circular))
    whole = metric_for(task, rows, outputs).compute()
    samples = task.samples(rows)
    # the cut at 3 splits the rows of question 0 between the halves
    first, second = task.new_metric(), task.new_metric()
    for position, (sample, text) in enumerate(zip(samples, outputs)):
        (first if position < 3 else second).update(sample, task.score(sample, TextOutput(text)))
    first.merge(second)
    assert first.compute() == pytest.approx(whole)
    with pytest.raises(ValueError):
        first.merge(MmbenchMetric(circular=not circular))


# ----------------------------------------------------------------------------- published numbers, card, demo


def test_published_numbers_apply_only_without_circular() -> None:
    assert MmbenchTask().published_numbers() == {
        "janus-1.3b": 69.4,
        "janusflow-1.3b": 74.9,
        "janus-pro-1b": 75.5,
        "janus-pro-7b": 79.2,
    }
    assert MmbenchTask(MmbenchOptions(circular=True)).published_numbers() == {}
    assert MmbenchTask().headline == "accuracy"


def test_protocol_card_is_json_and_names_the_protocol() -> None:
    card = MmbenchTask().protocol_card()
    json.dumps(card)
    assert (card["dataset"]["hf_id"], card["dataset"]["config"], card["dataset"]["split"]) == (
        "lmms-lab/MMBench",
        "en",
        "dev",
    )
    assert card["prompt"]["messages_without_hint"][0]["content"] == [
        "<image>",
        "\n{question}\nA. {A}\nB. {B}\n" + SUFFIX,
    ]
    assert card["extraction"]["rule"] == "vlmevalkit" and card["unmatched"]["rule"] == "wrong"
    assert any("judge" in deviation for deviation in card["deviations"])
    circular = MmbenchTask(MmbenchOptions(circular=True, unmatched="random")).protocol_card()
    assert "num_questions" in circular["metrics"]
    assert any("2680" in deviation for deviation in circular["deviations"])


def test_demo_rows_follow_the_schema_and_score_perfectly() -> None:
    task = MmbenchTask()
    rows = task.demo_rows()
    assert rows == task.demo_rows()  # deterministic, PNG bytes included
    assert all(set(task.data_source().columns) <= set(row) for row in rows)
    indices = [row["index"] for row in rows]
    assert len(rows) == 13 and len(set(indices)) == 13
    assert any(index >= 1_000_000 for index in indices)
    assert any(row["hint"] is None for row in rows) and any(row["hint"] == "nan" for row in rows)
    assert any(isinstance(row["hint"], str) and row["hint"] != "nan" for row in rows)
    assert any(row["D"] is None for row in rows)
    decode_image(rows[0]["image"])
    # rotated copies: each copy's right option text is the original's
    by_index = {row["index"]: row for row in rows}
    for row in rows:
        original = by_index[row["index"] % 1_000_000]
        assert row[row["answer"]] == original[original["answer"]]
    for circular in (False, True):
        circular_task = MmbenchTask(MmbenchOptions(circular=circular))
        result = metric_for(circular_task, rows, [f"{row['answer']}." for row in rows]).compute()
        assert result["accuracy"] == 100.0 and result["unmatched"] == 0.0
    refused = metric_for(task, rows, ["Z"] * len(rows)).compute()
    assert (refused["accuracy"], refused["unmatched"]) == (0.0, 13.0)
