"""POPE task: options, prompts, split filtering, ids, confusion metrics under both rules, merging, card."""

from __future__ import annotations

import json
from typing import Any

import pytest
from janus_eval.tasks.pope import PopeMetric, PopeOptions, PopeTask, confusion_metrics
from PIL import Image
from pydantic import ValidationError

from janus_eval.api import TextOutput
from janus_eval.data.image_io import decode_image, encode_png
from janus_eval.errors import UserError

SUFFIX = "\nAnswer the question using a single word or phrase."

# truth yes: 3 yes, 1 no, 1 unknown; truth no: 1 yes, 3 no, 1 unknown (same reading under both rules)
YES_OUTPUTS = ["yes", "Yes", "YES", "no", "maybe"]
NO_OUTPUTS = ["yes", "no", "No", " no ", "maybe"]
TABLE = {
    ("yes", "yes"): 3,
    ("yes", "no"): 1,
    ("yes", "unknown"): 1,
    ("no", "yes"): 1,
    ("no", "no"): 3,
    ("no", "unknown"): 1,
}


def make_row(
    split: str, question_id: str, answer: str, question: str = "Is there a dog in the image?"
) -> dict[str, Any]:
    return {
        "id": f"{split}-{question_id}",
        "question_id": question_id,
        "question": question,
        "answer": answer,
        "image_source": "COCO_val2014_000000000001",
        "image": encode_png(Image.new("RGB", (8, 8), "blue")),
        "category": split,
    }


def hand_rows(split: str = "random") -> tuple[list[dict[str, Any]], list[str]]:
    rows = [make_row(split, str(i), "yes") for i in range(5)] + [make_row(split, str(i), "no") for i in range(5, 10)]
    return rows, YES_OUTPUTS + NO_OUTPUTS


def score_all(task: PopeTask, rows: list[dict[str, Any]], outputs: list[str]) -> PopeMetric:
    metric = task.new_metric()
    for sample in task.samples(rows):
        metric.update(sample, task.score(sample, TextOutput(outputs[sample.index])))
    return metric


# ----------------------------------------------------------------------------- options and prompts


def test_default_options_are_the_paper_protocol() -> None:
    options = PopeTask().options
    assert (options.prompt, options.extraction, options.max_new_tokens, options.split) == (
        "paper",
        "word_level",
        512,
        "random",
    )


@pytest.mark.parametrize(
    "bad", [{"split": "train"}, {"split": "Random"}, {"max_new_tokens": -1}, {"prompt": "x"}, {"seed": 1}]
)
def test_bad_options_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PopeOptions(**bad)


def test_paper_prompt_drops_the_answer_hint() -> None:
    task = PopeTask()
    assert task.prompt_text("Is there a dog in the image? Please answer yes or no.") == (
        "\nIs there a dog in the image?\nAnswer the question using a single word or phrase."
    )
    assert task.prompt_text("Is there a dog in the image?") == "\nIs there a dog in the image?" + SUFFIX


def test_lmms_eval_prompt_strips_the_question() -> None:
    task = PopeTask(PopeOptions(prompt="lmms_eval"))
    assert task.prompt_text(" Is there a dog in the image? ") == (
        "\nIs there a dog in the image?\nAnswer the question using a single word or phrase."
    )


def test_request_is_one_user_turn_with_image_then_text() -> None:
    task = PopeTask()
    request = task.build_request(task.samples([make_row("random", "7", "yes")])[0])
    assert [m.role for m in request.messages] == ["user"]
    image, text = request.messages[0].content
    assert isinstance(image, Image.Image)
    assert text == "\nIs there a dog in the image?" + SUFFIX
    assert (request.sample_id, request.max_new_tokens, request.temperature) == ("random/7", 512, 0.0)


# ----------------------------------------------------------------------------- samples


def test_split_filtering_keeps_dataset_order_and_row_index() -> None:
    rows = PopeTask().demo_rows()
    samples = PopeTask(PopeOptions(split="popular")).samples(rows)
    assert [s.id for s in samples] == ["popular/1", "popular/2", "popular/3", "popular/4"]
    assert [s.index for s in samples] == [4, 5, 6, 7]
    assert {s.meta["split"] for s in samples} == {"popular"}
    assert len(PopeTask().samples(rows)) == 4
    assert len(PopeTask(PopeOptions(split="all")).samples(rows)) == 12


def test_ids_are_unique_when_question_ids_repeat() -> None:
    rows = [make_row("random", "1", "yes"), make_row("adversarial", "1", "no"), make_row("random", "1", "no")]
    ids = [s.id for s in PopeTask(PopeOptions(split="all")).samples(rows)]
    assert ids == ["random/1", "adversarial/1", "random/1#1"]
    # filtering does not change the ids
    assert [s.id for s in PopeTask().samples(rows)] == ["random/1", "random/1#1"]


def test_a_row_without_a_yes_no_answer_is_an_error() -> None:
    with pytest.raises(UserError):
        PopeTask().samples([make_row("random", "1", "unsure")])


def test_failed_sample_scores_unknown_and_wrong() -> None:
    task = PopeTask()
    sample = task.samples([make_row("random", "1", "no")])[0]
    assert task.score(sample, None) == {"pred": "unknown", "correct": False}


# ----------------------------------------------------------------------------- metrics


def test_confusion_metrics_by_hand_vlmevalkit_rule() -> None:
    # TP 3, FP 1, FN 1 (no) + 1 (unknown counts as negative) = 2
    result = confusion_metrics(TABLE, unknown_is_negative=True)
    assert result["precision"] == pytest.approx(75.0)
    assert result["recall"] == pytest.approx(60.0)
    assert result["f1"] == pytest.approx(2 * 75 * 60 / 135)
    assert result["accuracy"] == pytest.approx(60.0)
    assert result["yes_ratio"] == pytest.approx(40.0)
    assert result["unknown_ratio"] == pytest.approx(20.0)
    assert result["num_samples"] == 10


def test_confusion_metrics_by_hand_lmms_eval_rule() -> None:
    # TP 3, FP 1, FN 1: the unknown answer to a yes question is neither TP nor FN
    result = confusion_metrics(TABLE, unknown_is_negative=False)
    assert (result["precision"], result["recall"], result["f1"]) == pytest.approx((75.0, 75.0, 75.0))
    assert result["accuracy"] == pytest.approx(60.0)


def test_yes_ratio_counts_predictions_not_ground_truth() -> None:
    result = confusion_metrics({("yes", "no"): 4}, unknown_is_negative=True)
    assert result["yes_ratio"] == 0.0
    assert (result["precision"], result["recall"], result["f1"]) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(("extraction", "recall"), [("word_level", 60.0), ("lmms_eval", 75.0)])
def test_task_metric_follows_the_extraction_rule(extraction: str, recall: float) -> None:
    rows, outputs = hand_rows()
    result = score_all(PopeTask(PopeOptions(extraction=extraction)), rows, outputs).compute()
    assert result["recall"] == pytest.approx(recall)
    assert result["precision"] == pytest.approx(75.0)
    assert result["f1"] == result["random.f1"]
    assert "overall.f1" not in result and "popular.f1" not in result


def test_yes_with_a_period_is_yes_only_under_word_level() -> None:
    sample = PopeTask().samples([make_row("random", "1", "yes")])[0]
    assert PopeTask().score(sample, TextOutput("Yes."))["pred"] == "yes"
    assert PopeTask(PopeOptions(extraction="lmms_eval")).score(sample, TextOutput("Yes."))["pred"] == "unknown"


def test_split_all_reports_each_split_overall_and_random_unprefixed() -> None:
    rows, outputs = [], []
    for split in ("adversarial", "random", "popular"):
        split_rows, split_outputs = hand_rows(split)
        rows += split_rows
        outputs += split_outputs
    outputs[0] = "no"  # adversarial differs from random
    result = score_all(PopeTask(PopeOptions(split="all")), rows, outputs).compute()
    assert result["f1"] == result["random.f1"] != result["adversarial.f1"]
    assert result["overall.num_samples"] == 30
    assert result["overall.accuracy"] == pytest.approx(100 * (6 + 6 + 5) / 30)
    assert {"popular.f1", "random.yes_ratio", "adversarial.recall", "overall.f1"} <= set(result)


def test_a_single_other_split_is_reported_unprefixed() -> None:
    rows, outputs = hand_rows("adversarial")
    result = score_all(PopeTask(PopeOptions(split="adversarial")), rows, outputs).compute()
    assert result["f1"] == result["adversarial.f1"]
    assert "random.f1" not in result


def test_two_halves_merged_equal_the_whole() -> None:
    rows, outputs = hand_rows("random")
    rows += hand_rows("popular")[0]
    outputs += outputs
    task = PopeTask(PopeOptions(split="all"))
    samples = task.samples(rows)
    whole = score_all(task, rows, outputs).compute()
    first, second = task.new_metric(), task.new_metric()
    for k, sample in enumerate(samples):
        (first if k % 3 else second).update(sample, task.score(sample, TextOutput(outputs[sample.index])))
    first.merge(second)
    assert first.compute() == pytest.approx(whole)


def test_metrics_of_different_rules_do_not_merge() -> None:
    with pytest.raises(ValueError):
        PopeTask().new_metric().merge(PopeTask(PopeOptions(extraction="lmms_eval")).new_metric())


# ----------------------------------------------------------------------------- demo rows, card, published


def test_demo_rows_follow_the_real_schema() -> None:
    task = PopeTask()
    rows = task.demo_rows()
    assert len(rows) == 12
    assert all(set(row) == set(task.data_source().columns) for row in rows)
    assert [row["category"] for row in rows].count("random") == 4
    assert {row["category"] for row in rows} == {"random", "popular", "adversarial"}
    assert {row["answer"] for row in rows} == {"yes", "no"}
    assert len({row["image_source"] for row in rows}) == 3
    assert len({row["id"] for row in rows}) == 12
    assert rows == task.demo_rows()
    decode_image(rows[0]["image"])


def test_protocol_card_is_json_and_names_the_protocol() -> None:
    card = PopeTask(PopeOptions(split="all", extraction="lmms_eval")).protocol_card()
    json.dumps(card)
    assert card["dataset"]["hf_id"] == "lmms-lab/POPE" and card["dataset"]["split"] == "test"
    assert card["prompt"]["system_prompt"] == ""
    assert card["generation"]["decoding"] == "greedy"
    assert card["options"]["split"] == "all"
    assert card["extraction"]["rule"] == "lmms_eval"
    assert "UNVERIFIED" in card["metrics"]["headline"]
    assert any("yes_ratio" in note for note in card["deviations"])


def test_published_numbers_and_headline() -> None:
    assert PopeTask.published == {
        "janus-1.3b": 87.0,
        "janusflow-1.3b": 88.0,
        "janus-pro-1b": 86.2,
        "janus-pro-7b": 87.4,
    }
    assert PopeTask().headline == "f1"
    assert PopeTask.request_kind == "text"
