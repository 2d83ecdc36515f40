"""SEED-Bench task: image filter, prompts, requests with image lists, scoring rules, per-dimension metric, demo."""

from __future__ import annotations

import json
from typing import Any

import pytest
from janus_eval.tasks.seed_bench import IMAGE_DIMENSIONS, SeedBenchMetric, SeedBenchOptions, SeedBenchTask
from PIL import Image
from pydantic import ValidationError

from janus_eval.api import SampleError, TextOutput
from janus_eval.data.image_io import decode_image, encode_png
from janus_eval.errors import UserError

SUFFIX = "\nAnswer with the option's letter from the given choices directly."


def make_row(
    question_id: str,
    answer: str = "A",
    type_id: int = 1,
    data_type: str = "image",
    images: int = 1,
    question: str = "How many dogs are there?",
) -> dict[str, Any]:
    return {
        "answer": answer,
        "choice_a": "One",
        "choice_b": "Two",
        "choice_c": "Three",
        "choice_d": "Four",
        "data_type": data_type,
        "question": question,
        "question_id": question_id,
        "question_type_id": type_id,
        "image": [encode_png(Image.new("RGB", (8 + n, 8), "blue")) for n in range(images)],
    }


def metric_for(task: SeedBenchTask, rows: list[dict[str, Any]], outputs: list[str]) -> SeedBenchMetric:
    metric = task.new_metric()
    for sample, text in zip(task.samples(rows), outputs):
        metric.update(sample, task.score(sample, TextOutput(text)))
    return metric


# ----------------------------------------------------------------------------- options


def test_default_options_are_the_paper_protocol() -> None:
    options = SeedBenchTask().options
    assert (options.prompt, options.extraction, options.max_new_tokens) == ("paper", "vlmevalkit", 512)


@pytest.mark.parametrize("bad", [{"prompt": "x"}, {"extraction": "lmms_eval_static"}, {"unmatched": "random"}])
def test_bad_options_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SeedBenchOptions(**bad)


# ----------------------------------------------------------------------------- samples


def test_only_image_rows_are_samples() -> None:
    rows = [make_row("1"), make_row("v5", type_id=10, data_type="video", images=8), make_row("2", "c", type_id=9)]
    samples = SeedBenchTask().samples(rows)
    assert [s.id for s in samples] == ["1", "2"]
    assert [s.index for s in samples] == [0, 2]  # positions in the loaded split
    assert [s.target for s in samples] == ["A", "C"]
    assert samples[1].meta == {"question_type_id": 9, "dimension": "Text Understanding"}
    json.dumps([(s.target, s.meta) for s in samples])


def test_rows_that_cannot_be_scored_are_errors() -> None:
    with pytest.raises(UserError, match="row 0 has answer"):
        SeedBenchTask().samples([make_row("1", answer="E")])
    with pytest.raises(UserError, match="question_type_id"):
        SeedBenchTask().samples([make_row("1", type_id="x")])  # type: ignore[arg-type]
    # a bad video row does not matter: it is not a sample
    assert SeedBenchTask().samples([make_row("v1", answer="?", data_type="video")]) == []


def test_dimension_names_follow_the_seed_bench_release() -> None:
    assert IMAGE_DIMENSIONS == {
        1: "Scene Understanding",
        2: "Instance Identity",
        3: "Instance Attributes",
        4: "Instance Location",
        5: "Instances Counting",
        6: "Spatial Relation",
        7: "Instance Interaction",
        8: "Visual Reasoning",
        9: "Text Understanding",
    }


# ----------------------------------------------------------------------------- prompts and requests


def test_paper_prompt() -> None:
    task = SeedBenchTask()
    request = task.build_request(task.samples([make_row("1")])[0])
    assert request.messages[0].content[-1] == (
        "\nHow many dogs are there?\nA. One\nB. Two\nC. Three\nD. Four\n\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_lmms_eval_prompt() -> None:
    task = SeedBenchTask(SeedBenchOptions(prompt="lmms_eval"))
    request = task.build_request(task.samples([make_row("1")])[0])
    assert request.messages[0].content[-1] == (
        "\nHow many dogs are there?\nA. One\nB. Two\nC. Three\nD. Four\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_every_image_of_the_list_comes_first() -> None:
    task = SeedBenchTask(SeedBenchOptions(max_new_tokens=8))
    request = task.build_request(task.samples([make_row("1", images=2)])[0])
    content = request.messages[0].content
    assert [m.role for m in request.messages] == ["user"]
    assert [part.size for part in content[:2]] == [(8, 8), (9, 8)]  # type: ignore[union-attr]
    assert isinstance(content[2], str)
    assert (request.max_new_tokens, request.temperature, request.sample_id) == (8, 0.0, "1")
    # a plain image column (not a list) is accepted too
    row = make_row("2")
    row["image"] = row["image"][0]
    assert len(task.build_request(task.samples([row])[0]).images) == 1


def test_bad_images_fail_only_that_sample() -> None:
    task = SeedBenchTask()
    empty = make_row("1", images=0)
    broken = make_row("2")
    broken["image"] = [{"bytes": b"not a png", "path": None}]
    for row in (empty, broken):
        with pytest.raises(SampleError):
            task.build_request(task.samples([row])[0])


# ----------------------------------------------------------------------------- scoring and metric


def test_vlmevalkit_matching_and_unmatched_outputs() -> None:
    task = SeedBenchTask()
    sample = task.samples([make_row("1", answer="C")])[0]
    assert task.score(sample, TextOutput("C. Three")) == {"pred": "C", "correct": True, "unmatched": False}
    assert task.score(sample, TextOutput("There are three.")) == {"pred": "C", "correct": True, "unmatched": False}
    assert task.score(sample, TextOutput("Hard to say.")) == {"pred": None, "correct": False, "unmatched": True}
    assert task.score(sample, None) == {"pred": None, "correct": False, "unmatched": False}


def test_lmms_eval_first_character_rule() -> None:
    task = SeedBenchTask(SeedBenchOptions(extraction="lmms_eval"))
    sample = task.samples([make_row("1", answer="C")])[0]
    assert task.score(sample, TextOutput(" c) three"))["correct"] is True
    assert task.score(sample, TextOutput("The answer is C")) == {"pred": None, "correct": False, "unmatched": True}
    assert SeedBenchTask().score(sample, TextOutput("The answer is C"))["correct"] is True


def hand_worked() -> tuple[list[dict[str, Any]], list[str]]:
    """Scene Understanding: 2 of 3 right; Instances Counting: 1 of 2 (one unmatched); a video row in between."""
    rows = [
        make_row("s1", "A", type_id=1),
        make_row("s2", "B", type_id=1),
        make_row("v1", "A", type_id=10, data_type="video"),
        make_row("s3", "D", type_id=1),
        make_row("c1", "B", type_id=5),
        make_row("c2", "C", type_id=5),
    ]
    # one output per sample (the video row has none)
    outputs = ["A", "B", "A", "(B)", "no idea"]
    return rows, outputs


def test_per_dimension_accuracy_by_hand() -> None:
    rows, outputs = hand_worked()
    result = metric_for(SeedBenchTask(), rows, outputs).compute()
    assert result["accuracy"] == pytest.approx(300 / 5)
    assert result["dimension.Scene Understanding"] == pytest.approx(200 / 3)
    assert result["dimension.Instances Counting"] == 50.0
    assert (result["unmatched"], result["num_samples"]) == (1.0, 5.0)
    assert "dimension.Text Understanding" not in result


def test_two_halves_merged_equal_the_whole() -> None:
    rows, outputs = hand_worked()
    task = SeedBenchTask()
    whole = metric_for(task, rows, outputs).compute()
    first, second = task.new_metric(), task.new_metric()
    for position, (sample, text) in enumerate(zip(task.samples(rows), outputs)):
        (first if position % 2 else second).update(sample, task.score(sample, TextOutput(text)))
    first.merge(second)
    assert first.compute() == pytest.approx(whole)


def test_empty_metric() -> None:
    assert SeedBenchMetric().compute() == {"accuracy": None, "unmatched": 0.0, "num_samples": 0.0}


def test_resampling_keeps_dimensions() -> None:
    task = SeedBenchTask()
    rows, _ = hand_worked()
    assert [task.resampling_stratum(s) for s in task.samples(rows)] == ["1", "1", "1", "5", "5"]


# ----------------------------------------------------------------------------- demo rows, card, published


def test_demo_rows_follow_the_schema_and_score_perfectly() -> None:
    task = SeedBenchTask()
    rows = task.demo_rows()
    assert rows == task.demo_rows()
    assert all(set(task.data_source().columns) <= set(row) for row in rows)
    assert [row["data_type"] for row in rows].count("video") == 1
    samples = task.samples(rows)
    assert len(samples) == 9 and {s.meta["question_type_id"] for s in samples} == set(IMAGE_DIMENSIONS)
    decode_image(rows[0]["image"][0])
    metric = task.new_metric()
    for sample in samples:
        metric.update(sample, task.score(sample, TextOutput(f"{sample.target}.")))
    result = metric.compute()
    assert result["accuracy"] == 100.0
    assert all(result[f"dimension.{name}"] == 100.0 for name in IMAGE_DIMENSIONS.values())


def test_protocol_card_and_published_numbers() -> None:
    card = SeedBenchTask(SeedBenchOptions(prompt="lmms_eval")).protocol_card()
    json.dumps(card)
    assert (card["dataset"]["hf_id"], card["dataset"]["split"]) == ("lmms-lab/SEED-Bench", "test")
    assert "video" in card["dataset"]["filter"]
    assert card["prompt"]["messages"][0]["content"][1] == (
        "\n{question}\nA. {choice_a}\nB. {choice_b}\nC. {choice_c}\nD. {choice_d}" + SUFFIX
    )
    assert any("newline" in deviation for deviation in card["deviations"])
    assert SeedBenchTask().published_numbers() == {
        "janus-1.3b": 63.7,
        "janusflow-1.3b": 70.5,
        "janus-pro-1b": 68.3,
        "janus-pro-7b": 72.1,
    }
    assert SeedBenchTask().headline == "accuracy"
