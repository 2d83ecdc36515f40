"""GQA: the two-config join, prompt, both matching rules, metric, and a local copy in the hub layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from janus_eval.tasks.gqa import GqaMetric, GqaOptions, GqaTask, match_ignore_case_punctuation, match_strip_lower
from PIL import Image

from janus_eval.api import SampleError, TextOutput
from janus_eval.data.image_io import encode_png
from janus_eval.data.loading import load_task_data
from tests.helpers import read_json, read_jsonl, run_cli, write_parquet


@pytest.mark.parametrize(
    ("prediction", "answer", "strip_lower", "lmms_eval"),
    [
        ("Red", "red", True, True),
        ("  red\n", "red", True, True),  # lmms-eval strips generated text before its metric
        ("red.", "red", False, True),  # VLMEvalKit keeps punctuation
        ("t-shirt", "t-shirt", True, True),
        ("tshirt", "t-shirt", False, True),  # punctuation deleted on both sides
        ("the red one", "red", False, False),
        ("", "red", False, False),
    ],
)
def test_matching_rules(prediction: str, answer: str, strip_lower: bool, lmms_eval: bool) -> None:
    assert match_strip_lower(prediction, answer) is strip_lower
    assert match_ignore_case_punctuation(prediction, answer) is lmms_eval


def test_prompt_has_no_leading_newline_and_the_short_answer_suffix() -> None:
    task = GqaTask()
    data = load_task_data(task, "demo")
    sample = task.samples(data.rows)[0]
    request = task.build_request(sample)
    image, text = request.messages[0].content
    assert isinstance(image, Image.Image)
    assert text == "What color is the circle?\nAnswer the question using a single word or phrase."
    assert request.max_new_tokens == 512 and request.temperature == 0.0


def test_demo_join_gives_every_question_its_image() -> None:
    task = GqaTask()
    data = load_task_data(task, "demo")
    samples = task.samples(data.rows)
    assert len(samples) == 6
    # questions about the same image id get the same picture, different ids different pictures
    images = [task.build_request(s).messages[0].content[0].tobytes() for s in samples]
    assert images[0] == images[1] and images[2] == images[3] and images[0] != images[2]
    assert samples[0].meta == {"image_id": "n1", "structural": "query", "semantic": "attr"}


def test_score_uses_the_chosen_rule() -> None:
    rows = GqaTask().demo_rows()
    for match, expected in (("vlmevalkit", False), ("lmms_eval", True)):
        task = GqaTask(GqaOptions(match=match))
        sample = task.samples(rows)[0]  # answer "red"
        assert task.score(sample, TextOutput("Red.")) == {"correct": expected}
        assert task.score(sample, None) == {"correct": False}


def test_metric_overall_per_type_and_merge() -> None:
    task = GqaTask()
    samples = task.samples(task.demo_rows())
    verdicts = [True, False, True, True, False, True]
    whole, first, second = GqaMetric(), GqaMetric(), GqaMetric()
    for position, (sample, right) in enumerate(zip(samples, verdicts)):
        whole.update(sample, {"correct": right})
        (first if position < 3 else second).update(sample, {"correct": right})
    first.merge(second)
    result = whole.compute()
    assert first.compute() == result
    assert result["accuracy"] == pytest.approx(400 / 6)
    # attr questions: rows 0 (right), 3 (right), 5 (right) -> 100; query: rows 0, 3, 4 -> 2 of 3
    assert result["semantic.attr.accuracy"] == 100.0
    assert result["structural.query.accuracy"] == pytest.approx(200 / 3)
    assert GqaMetric().compute() == {"accuracy": None}


def _write_local_copy(root: Path, drop_image: str | None = None) -> None:
    task = GqaTask()
    questions = [{k: v for k, v in row.items() if k != "types"} for row in task.demo_rows()]
    images = [row for row in task.demo_join_rows(task.data_source().joins[0]) if row["id"] != drop_image]
    write_parquet(questions, root / "gqa" / "testdev_balanced_instructions", split="testdev")
    write_parquet(images, root / "gqa" / "testdev_balanced_images", split="testdev")


def test_local_copy_in_the_hub_layout(tmp_path: Path) -> None:
    _write_local_copy(tmp_path)
    data = load_task_data(GqaTask(), "hub", tmp_path)
    assert data.origin == "local" and len(data.rows) == 6
    assert "testdev_balanced_images" in data.location
    row = data.rows[2]
    assert row["imageId"] == "n2" and row["image"]["bytes"]


def test_images_table_is_required_in_its_own_folder(tmp_path: Path) -> None:
    task = GqaTask()
    question = {k: v for k, v in task.demo_rows()[0].items() if k != "types"}
    write_parquet([question], tmp_path / "gqa" / "testdev_balanced_instructions", split="testdev")
    from janus_eval.errors import UserError

    with pytest.raises(UserError, match="testdev_balanced_images"):
        load_task_data(task, "hub", tmp_path)


def test_question_without_its_image_fails_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_local_copy(tmp_path / "data", drop_image="n3")
    args = ["--model", "janus-tiny", "--tasks", "gqa", "--data-dir", str(tmp_path / "data"), "--output-dir",
            str(tmp_path / "out"), "--no-progress", "--task-option", "gqa.max_new_tokens=3"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    result = read_json(tmp_path / "out" / "janus-tiny" / "gqa.json")
    assert result["counts"]["failed"] == 2 and result["counts"]["scored"] == 4
    failed = [r for r in read_jsonl(tmp_path / "out" / "janus-tiny" / "gqa.samples.jsonl") if r["failed"]]
    assert {r["meta"]["image_id"] for r in failed} == {"n3"}
    assert "not in the images table" in failed[0]["error"]["message"]


def test_missing_question_is_a_sample_error() -> None:
    task = GqaTask()
    row: dict[str, Any] = {"id": "q", "imageId": "x", "question": " ", "answer": "a",
                           "image": encode_png(Image.new("RGB", (4, 4)))}
    with pytest.raises(SampleError, match="no question"):
        task.build_request(task.samples([row])[0])
