"""GenEval task: metadata file, requests, the official folder layout, batched scoring wiring, rescoring, import."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from janus_eval.tasks.geneval import METADATA_FILE, GenEvalOptions, GenEvalTask, parse_metadata_lines
from PIL import Image

from janus_eval.api import ImageOutput, image_seeds
from janus_eval.data.hashing import file_sha256
from janus_eval.data.loading import load_task_data
from janus_eval.errors import UserError
from janus_eval.rules.detections import Detection, Detections
from janus_eval.rules.geneval import GENEVAL_CLASSES, decide, objects_needing_color, select_objects
from tests.helpers import read_json, read_jsonl, run_cli

SHARED_GENEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "geneval"


# ----------------------------------------------------------------------------- data


def test_metadata_lines_are_parsed_and_checked() -> None:
    good = '{"tag": "counting", "include": [{"class": "clock", "count": 2}], "exclude": [{"class": "clock", "count": 3}], "prompt": "a photo of two clocks"}\n\n'
    (row,) = parse_metadata_lines(good, "m.jsonl")
    assert row["exclude"] == [{"class": "clock", "count": 3}]
    with pytest.raises(UserError, match=r"m.jsonl:3: not a JSON object"):
        parse_metadata_lines(good + "{oops\n", "m.jsonl")
    with pytest.raises(UserError, match=r"m.jsonl:1: a GenEval prompt needs"):
        parse_metadata_lines('{"tag": "counting"}', "m.jsonl")
    with pytest.raises(UserError, match="unknown tag 'count'"):
        parse_metadata_lines('{"tag": "count", "include": [], "prompt": "x"}', "m.jsonl")


@pytest.mark.skipif(not SHARED_GENEVAL.is_dir(), reason="../shared/data/geneval is not beside the checkout")
def test_local_copy_of_the_official_metadata_is_verified(tmp_path: Path) -> None:
    folder = tmp_path / "geneval"
    folder.mkdir()
    shutil.copy(SHARED_GENEVAL / METADATA_FILE.name, folder / METADATA_FILE.name)
    task = GenEvalTask()
    data = load_task_data(task, "hub", tmp_path)
    samples = task.samples(data.rows)
    assert len(samples) == 553
    tags = pd.Series([s.meta["tag"] for s in samples]).value_counts().to_dict()
    assert tags == {"position": 100, "color_attr": 100, "two_object": 99, "colors": 94, "single_object": 80, "counting": 80}
    # a local copy that differs from the canonical file is refused, not silently used
    with (folder / METADATA_FILE.name).open("a") as handle:
        handle.write('{"tag": "colors", "include": [{"class": "cat", "count": 1, "color": "red"}], "prompt": "x"}\n')
    with pytest.raises(UserError, match="sha256"):
        load_task_data(GenEvalTask(), "hub", tmp_path)


def test_requests_follow_the_generation_options() -> None:
    task = GenEvalTask(GenEvalOptions(images_per_prompt=2, cfg_weight=3.0, temperature=0.7), seed=5)
    sample = task.samples(task.demo_rows())[0]
    request = task.build_request(sample)
    assert request.prompt == "a photo of a cat" and sample.id == "a photo of a cat"
    assert request.seeds == image_seeds(5, "a photo of a cat", 2)
    assert (request.cfg_weight, request.temperature) == (3.0, 0.7)
    # the default is GenEval's 4 images per prompt, CFG 5 and temperature 1 (Janus' generation script)
    default = GenEvalTask().build_request(sample)
    assert (default.num_images, default.cfg_weight, default.temperature) == (4, None, 1.0)  # None: the model's own


def test_auto_scorers_are_tiny_only_on_demo_rows() -> None:
    assert (GenEvalTask(demo=True).detector_name, GenEvalTask(demo=True).clip_model) == ("tiny", "tiny")
    real = GenEvalTask()
    assert (real.detector_name, real.clip_model, real.clip_weights) == ("mask2former", "ViT-L-14", "openai")
    assert GenEvalTask(demo=True).published_numbers() == {}  # tiny scorers measure nothing


def test_published_delta_only_under_the_official_detector_stack() -> None:
    from janus_eval.reports.published import compare_with_paper

    default = GenEvalTask()  # transformers' Mask2Former: other weights, parity unmeasured
    assert default.published_numbers() == {}
    published, notes = compare_with_paper(default, "janus-pro-7b", 0.75, None, 0)
    assert published is None and any("0.8" in note and "task's notes" in note for note in notes)
    assert any("no published delta" in note and "detector=mmdet" in note for note in default.result_notes({}))
    official = GenEvalTask(GenEvalOptions(detector="mmdet"))
    published, notes = compare_with_paper(official, "janus-pro-7b", 0.75, None, 0)
    assert published is not None and published.value == 0.80 and published.delta == pytest.approx(-0.05)
    assert notes == [] and not any("no published delta" in note for note in official.result_notes({}))


# ----------------------------------------------------------------------------- scoring wiring


class ScriptedDetector:
    """Stands in for the detector model (not under test here): returns prepared detections in image order."""

    def __init__(self, per_image: Sequence[Detections]) -> None:
        self.per_image = list(per_image)
        self.calls: list[int] = []

    def detect(self, images: Sequence[Image.Image]) -> list[Detections]:
        self.calls.append(len(images))
        out = self.per_image[: len(images)]
        self.per_image = self.per_image[len(images) :]
        return [{name: [Detection(d.box, d.score) for d in found] for name, found in image.items()} for image in out]

    def describe(self) -> dict[str, Any]:
        return {"backend": "scripted"}


class ScriptedColors:
    """Stands in for CLIP: colours by class name; records what it was asked."""

    def __init__(self, colors: dict[str, str]) -> None:
        self.colors = colors
        self.asked: list[str] = []

    def classify(self, items: Sequence[tuple[Image.Image, Detection, str]]) -> list[str]:
        self.asked.extend(name for _, _, name in items)
        return [self.colors[name] for _, _, name in items]

    def describe(self) -> dict[str, Any]:
        return {"backend": "scripted"}


def _det(x1: float, y1: float, x2: float, y2: float, score: float) -> Detection:
    return Detection((x1, y1, x2, y2), score)


def test_score_batch_applies_the_rules_per_image_with_batched_scorers() -> None:
    task = GenEvalTask(GenEvalOptions(scorer_batch_size=3), demo=True)
    samples = {s.row["prompt"]: s for s in task.samples(task.demo_rows())}
    colors = samples["a photo of a red car"]
    position = samples["a photo of a bird left of a bench"]
    detections = [
        {"car": [_det(0, 0, 10, 10, 0.9)]},  # red car: right
        {"car": [_det(0, 0, 10, 10, 0.3)]},  # score exactly at the threshold: not found
        {"bird": [_det(0, 0, 10, 10, 0.8)], "bench": [_det(40, 0, 50, 10, 0.8)]},  # bird left of bench
        {"bird": [_det(40, 0, 50, 10, 0.8)], "bench": [_det(0, 0, 10, 10, 0.8)]},  # bird right of bench
    ]
    detector, classifier = ScriptedDetector(detections), ScriptedColors({"car": "red"})
    task._detector, task._classifier = detector, classifier
    image = Image.new("RGB", (64, 64))
    scores = task.score_batch([colors, position, colors], [ImageOutput([image, image]), ImageOutput([image, image]), None])

    assert detector.calls == [3, 1]  # four images in scorer batches of 3
    assert classifier.asked == ["car"]  # only the found object whose colour the prompt names
    assert [v["correct"] for v in scores[0]["images"]] == [True, False]
    assert scores[0]["images"][1]["reason"] == "expected car>=1, found 0"
    assert [v["correct"] for v in scores[1]["images"]] == [True, False]
    assert scores[1]["images"][1]["reason"].startswith("expected bird left of target")
    assert (scores[0]["correct"], scores[0]["total"]) == (1, 2)
    assert scores[2] == {"images": [], "correct": 0, "total": 0}  # a failed sample has no images
    # the same verdicts as the rules applied one image at a time
    rules = task.options.rules()
    for sample, found, verdict in zip([colors, colors, position, position], detections, [*scores[0]["images"], *scores[1]["images"]]):
        objects = select_objects({n: [Detection(d.box, d.score) for d in v] for n, v in found.items()}, sample.row["tag"], rules)
        for name, index in objects_needing_color(sample.row, objects):
            objects[name][index].color = "red"
        assert decide(sample.row, objects, rules).correct == verdict["correct"]


# ----------------------------------------------------------------------------- end to end


def test_demo_run_writes_the_official_layout_and_rescoring_reuses_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "janus-tiny", "--tasks", "geneval", "--data", "demo", "--output-dir", str(tmp_path), "--no-progress",
            "--limit", "6", "--task-option", "geneval.images_per_prompt=2"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    model_dir = tmp_path / "janus-tiny"
    result = read_json(model_dir / "geneval.json")
    assert set(result["metrics"]) >= {"single_object", "two_object", "counting", "overall", "correct_prompts"}
    assert result["scorers"]["detector"]["weights"].startswith("janus-eval tiny")
    assert result["protocol"]["scoring"]["detector"] == "tiny"

    images = model_dir / "geneval_images"
    task = GenEvalTask(demo=True)
    for index, row in enumerate(task.demo_rows()[:6]):
        folder = images / f"{index:05d}"
        assert json.loads((folder / "metadata.jsonl").read_text()) == row  # json.load, as the official reader
        names = sorted(p.name for p in (folder / "samples").iterdir())
        assert names == ["00000.png", "00001.png"] and all(re.match(r"\d+\.png", n) for n in names)
    records = read_jsonl(model_dir / "geneval.samples.jsonl")
    assert all(len(r["score"]["images"]) == 2 and "reason" in r["score"]["images"][0] for r in records)

    stamp = file_sha256(images / "00000" / "samples" / "00000.png")
    code, out, err = run_cli([*args, "--task-option", "geneval.threshold=0.5"], capsys)
    assert code == 0, err
    again = read_json(model_dir / "geneval.json")
    assert (again["counts"]["generated"], again["counts"]["rescored"]) == (0, 6)
    assert again["options"]["threshold"] == 0.5 and file_sha256(images / "00000" / "samples" / "00000.png") == stamp


def test_missing_detector_weights_fail_before_the_model_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "janus-tiny", "--tasks", "geneval", "--data", "demo", "--output-dir", str(tmp_path),
            "--no-progress", "--task-option", f"geneval.detector_weights={tmp_path / 'nowhere'}",
            "--task-option", "geneval.detector=mask2former"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "nowhere" in err and "Traceback" not in err
    # nothing was generated or recorded (at most the run's lock file was taken)
    assert not [p.name for p in (tmp_path / "janus-tiny").glob("*") if p.name != ".geneval.lock"]


# ----------------------------------------------------------------------------- import


def _official_results(path: Path, rows: list[dict[str, Any]]) -> None:
    """Writes a results file the way evaluate_images.py does (pandas records, one JSON object per line)."""
    frame = pd.DataFrame(rows)
    frame["metadata"] = frame["metadata"].map(json.dumps)
    frame["details"] = frame["details"].map(json.dumps)
    frame.to_json(path, orient="records", lines=True)


def test_geneval_import_summarises_an_official_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = GenEvalTask()
    rows = []
    # two images for each demo prompt; the first image of every prompt is right except for counting
    for index, metadata in enumerate(task.demo_rows()):
        for number in range(2):
            correct = number == 0 and metadata["tag"] != "counting"
            rows.append({"filename": f"imgs/{index:05d}/samples/{number:05d}.png", "tag": metadata["tag"],
                         "prompt": metadata["prompt"], "correct": correct, "reason": "" if correct else "expected x",
                         "metadata": metadata, "details": {GENEVAL_CLASSES[0]: [[1.0, 2.0, 3.0, 4.0, 0.5]]}})
    results = tmp_path / "results.jsonl"
    _official_results(results, rows)
    code, out, err = run_cli(["geneval-import", str(results), "--output", str(tmp_path / "summary.json")], capsys)
    assert code == 0, err
    summary = read_json(tmp_path / "summary.json")
    metrics = summary["metrics"]
    # per tag: 4 images, 2 right (0 for counting); overall = (5 * 0.5 + 0) / 6
    assert metrics["single_object"] == 0.5 and metrics["counting"] == 0.0
    assert metrics["overall"] == pytest.approx(2.5 / 6)
    assert metrics["correct_prompts"] == pytest.approx(10 / 12)
    assert summary["source"]["sha256"] == file_sha256(results)
    assert "Overall score (avg. over tasks): 0.41667" in out

    results.write_text("not json\n")
    code, _, err = run_cli(["geneval-import", str(results)], capsys)
    assert code == 2 and "results.jsonl:1" in err


def test_failed_generations_are_left_out_of_every_score() -> None:
    from janus_eval.rules.geneval_summary import GenEvalMetric

    task = GenEvalTask(demo=True)
    samples = task.samples(task.demo_rows())
    metric = GenEvalMetric()
    metric.update(samples[0], {"images": [{"correct": True}, {"correct": False}]})
    metric.update(samples[1], {"images": []})  # its generation failed
    result = metric.compute()
    assert result["single_object"] == 0.5 and result["correct_prompts"] == 1.0 and result["correct_images"] == 0.5


def test_result_notes_say_how_to_read_the_numbers() -> None:
    partial = {"single_object": 0.5, "two_object": 0.25, "counting": None, "colors": None, "position": None,
               "color_attr": None}
    notes = GenEvalTask().result_notes(partial)
    assert any("mean of 2 of the 6" in n and "counting, colors, position, color_attr" in n for n in notes)
    assert any("transformers' Mask2Former" in n for n in notes)  # the default detector is not the official one
    official = GenEvalTask(GenEvalOptions(detector="mmdet"))
    assert official.result_notes({tag: 0.5 for tag in partial}) == []
    other_clip = GenEvalTask(GenEvalOptions(detector="mmdet", clip_weights="laion2b_s32b_b82k"))
    assert any("CLIP weights 'laion2b_s32b_b82k'" in n for n in other_clip.result_notes({}))


def test_detector_weights_on_demo_rows_need_an_explicit_detector() -> None:
    task = GenEvalTask(GenEvalOptions(detector_weights="/somewhere"), demo=True)
    with pytest.raises(UserError, match="geneval.detector=mask2former"):
        task.scorers()


def test_a_scorer_device_this_machine_lacks_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "janus-tiny", "--tasks", "geneval", "--data", "demo", "--output-dir", str(tmp_path),
            "--no-progress", "--task-option", "geneval.scorer_device=cuda:7"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "cuda:7" in err and "Traceback" not in err
