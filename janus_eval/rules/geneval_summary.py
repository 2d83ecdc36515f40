"""GenEval scores from per-image verdicts, ours or those of the official evaluator's results file.

Aggregation follows djghosh13/geneval af4902f `evaluation/summary_scores.py`: a task's score is the
mean over its images; the overall score is the unweighted mean of the task scores; a prompt is correct
when any of its images is.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from janus_eval.api import Sample
from janus_eval.errors import UserError
from janus_eval.rules.counting_metric import CountingMetric, Statistic, Sums, labels
from janus_eval.rules.geneval import TASK_TAGS, Decision

OFFICIAL_KEYS: tuple[str, ...] = ("filename", "tag", "prompt", "correct", "reason", "metadata", "details")


@dataclass(frozen=True)
class ImageVerdict:
    """One scored image: a row of the official results file, with `metadata` and `details` decoded.

    `details` maps class -> [{"box": [x1, y1, x2, y2], "score": s, "color": c (when classified)}].
    """

    filename: str
    tag: str
    prompt: str
    correct: bool
    reason: str
    metadata: dict[str, Any]
    details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_decision(cls, filename: str, metadata: Mapping[str, Any], decision: Decision) -> ImageVerdict:
        """The verdict on one image from `decide`'s result and the prompt's metadata."""
        return cls(
            filename=filename,
            tag=metadata["tag"],
            prompt=metadata["prompt"],
            correct=decision.correct,
            reason=decision.reason,
            metadata=dict(metadata),
            details=decision.details,
        )

    @property
    def prompt_key(self) -> str:
        """What groups images into prompts: the metadata (officially its JSON string)."""
        return prompt_key(self.metadata)


def prompt_key(metadata: Mapping[str, Any]) -> str:
    """A prompt's identity for "% correct prompts": its metadata as canonical JSON.

    The official script groups by the `json.dumps(metadata)` string; sorting the keys only makes the
    grouping independent of key order.
    """
    return json.dumps(metadata, sort_keys=True)


class GenEvalMetric(CountingMetric):
    """Per-tag image counts, prompts and prompts with a correct image, as keyless sums; merges exactly.

    `update` takes a sample whose `meta` has "tag" and "prompt_key" and a score with "images", a list of
    {"correct": bool, ...}. A prompt's images are one unit (keyed by its prompt key until it closes), so
    a prompt whose images arrive in parts still counts once. A sample with no images (a failed generation)
    is left out, as a missing folder is by the official summary.
    `compute` gives every official tag (None without images), "overall" (the unweighted mean of the task
    scores present, None when none is), "correct_images" and "correct_prompts", all as fractions.
    """

    def unit_key(self, sample: Sample) -> str:
        return str(sample.meta["prompt_key"])

    def sample_sums(self, sample: Sample, score: Mapping[str, Any]) -> dict[Statistic, int]:
        return image_sums(sample.meta["tag"], [bool(image["correct"]) for image in score["images"]])

    def add(self, tag: str, key: str, corrects: Iterable[bool]) -> None:
        """Adds the images of one prompt (or part of them): tag, prompt key, per-image correctness."""
        self.open.setdefault(key, Counter()).update(image_sums(tag, corrects))

    def close_unit(self, unit: Sums) -> Sums:
        closed = Counter(unit)
        for tag in labels(unit, "images"):  # no images (a failed generation): absent, as for GenEval's summary
            closed[("prompts", tag)] += 1
            closed[("prompts_correct", tag)] += int(unit[("correct", tag)] > 0)
        return closed

    def compute_from(self, sums: Sums) -> dict[str, float | None]:
        result: dict[str, float | None] = {
            tag: sums[("correct", tag)] / sums[("images", tag)] if sums[("images", tag)] else None for tag in TASK_TAGS
        }
        task_scores = [value for value in result.values() if value is not None]
        total = sum(sums[("images", tag)] for tag in TASK_TAGS)
        prompts = sum(sums[("prompts", tag)] for tag in TASK_TAGS)
        result["overall"] = sum(task_scores) / len(task_scores) if task_scores else None
        result["correct_images"] = sum(sums[("correct", tag)] for tag in TASK_TAGS) / total if total else None
        result["correct_prompts"] = sum(sums[("prompts_correct", tag)] for tag in TASK_TAGS) / prompts if prompts else None
        return result


def image_sums(tag: str, corrects: Iterable[bool]) -> dict[Statistic, int]:
    """The sums of some images of one prompt of `tag` (ValueError for a tag that is not GenEval's)."""
    if tag not in TASK_TAGS:
        raise ValueError(f"unknown GenEval tag {tag!r} (expected one of {', '.join(TASK_TAGS)})")
    flags = list(corrects)
    return {("images", tag): len(flags), ("correct", tag): sum(flags)} if flags else {}


def summarise(verdicts: Iterable[ImageVerdict]) -> dict[str, float | None]:
    """GenEval scores of a set of images, as fractions (the keys of `GenEvalMetric.compute`).

    Each official tag is the mean of `correct` over its images (None without images); "overall" is the
    unweighted mean of the task scores present (the published number when all 6 are); "correct_images"
    is the mean over all images; "correct_prompts" the share of prompts (grouped by metadata) with at
    least one correct image.

    Raises:
        ValueError: a verdict's tag is not one of the 6 official tags.
    """
    metric = GenEvalMetric()
    for verdict in verdicts:
        metric.add(verdict.tag, verdict.prompt_key, [verdict.correct])
    return metric.compute()


def read_official_results(path: str | Path) -> list[ImageVerdict]:
    """The verdicts in a results file of the official `evaluate_images.py --outfile results.jsonl`.

    That file is `pandas.DataFrame.to_json(orient="records", lines=True)`: one JSON object per line with
    filename, tag, prompt, correct (bool), reason, and metadata and details as JSON strings; details map
    class -> [[x1, y1, x2, y2, score], ...] and become {"box": [...], "score": ...} records here.

    Raises:
        UserError: the file cannot be read, or a line is not such a record (the message names the line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read the GenEval results file {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise UserError(f"{path} is not a GenEval results file (not UTF-8 text)") from error
    verdicts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            verdicts.append(_official_row(line, f"{path}:{number}"))
    return verdicts


def _official_row(line: str, where: str) -> ImageVerdict:
    hint = "expected one JSON record per line as written by GenEval's evaluate_images.py"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(f"{where}: not valid JSON ({error.msg}); {hint}") from error
    if not isinstance(row, dict):
        raise UserError(f"{where}: {hint}, found a JSON {type(row).__name__}")
    missing = [key for key in OFFICIAL_KEYS if key not in row]
    if missing:
        raise UserError(f"{where}: missing {', '.join(missing)}; {hint}")
    for key in ("filename", "tag", "prompt", "reason"):
        if not isinstance(row[key], str):
            raise UserError(f"{where}: {key} should be a string, found {row[key]!r}")
    if not isinstance(row["correct"], bool):
        raise UserError(f"{where}: correct should be true or false, found {row['correct']!r}")
    metadata = _json_object(row["metadata"], "metadata", where)
    details = _official_details(_json_object(row["details"], "details", where), where)
    return ImageVerdict(
        filename=row["filename"],
        tag=row["tag"],
        prompt=row["prompt"],
        correct=row["correct"],
        reason=row["reason"],
        metadata=metadata,
        details=details,
    )


def _json_object(value: Any, key: str, where: str) -> dict[str, Any]:
    """A column the official writer stores as a JSON string (an already decoded object is accepted)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise UserError(f"{where}: {key} is not a JSON string ({error.msg})") from error
    if not isinstance(value, dict):
        raise UserError(f"{where}: {key} should encode a JSON object, found {value!r}")
    return value


def _official_details(raw: Mapping[str, Any], where: str) -> dict[str, list[dict[str, Any]]]:
    details: dict[str, list[dict[str, Any]]] = {}
    for name, boxes in raw.items():
        if not isinstance(boxes, list) or not all(_is_box_row(box) for box in boxes):
            raise UserError(f"{where}: details[{name!r}] should be a list of [x1, y1, x2, y2, score] rows")
        details[name] = [{"box": [float(v) for v in box[:4]], "score": float(box[4])} for box in boxes]
    return details


def _is_box_row(box: Any) -> bool:
    return (
        isinstance(box, list)
        and len(box) == 5
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
    )


def official_summary_table(verdicts: Iterable[ImageVerdict]) -> dict[str, Any]:
    """The numbers `summary_scores.py` prints, as fractions and counts.

    Keys: total_images, total_prompts, correct_images, correct_prompts, tasks (tag -> {"score",
    "correct", "images"}, in order of first appearance, any tag) and overall (the mean of the task
    scores). Empty input gives zero totals and None for the fractions.
    """
    verdicts = list(verdicts)
    tasks: dict[str, dict[str, Any]] = {}
    prompts: dict[str, bool] = {}
    for verdict in verdicts:
        task = tasks.setdefault(verdict.tag, {"correct": 0, "images": 0})
        task["images"] += 1
        task["correct"] += int(verdict.correct)
        key = verdict.prompt_key
        prompts[key] = prompts.get(key, False) or verdict.correct
    for task in tasks.values():
        task["score"] = task["correct"] / task["images"]
    scores = [task["score"] for task in tasks.values()]
    return {
        "total_images": len(verdicts),
        "total_prompts": len(prompts),
        "correct_images": sum(v.correct for v in verdicts) / len(verdicts) if verdicts else None,
        "correct_prompts": sum(prompts.values()) / len(prompts) if prompts else None,
        "tasks": {tag: {"score": t["score"], "correct": t["correct"], "images": t["images"]} for tag, t in tasks.items()},
        "overall": sum(scores) / len(scores) if scores else None,
    }


def render_official_summary(table: Mapping[str, Any]) -> str:
    """`official_summary_table`'s numbers in the layout `summary_scores.py` prints (for side-by-side diffs)."""

    def percent(value: float | None) -> str:
        return "nan%" if value is None else f"{value:.2%}"

    lines = [
        "Summary",
        "=======",
        f"Total images: {table['total_images']}",
        f"Total prompts: {table['total_prompts']}",
        f"% correct images: {percent(table['correct_images'])}",
        f"% correct prompts: {percent(table['correct_prompts'])}",
        "",
        "Task breakdown",
        "==============",
    ]
    for tag, task in table["tasks"].items():
        lines.append(f"{tag:<16} = {task['score']:.2%} ({task['correct']} / {task['images']})")
    overall = "nan" if table["overall"] is None else f"{table['overall']:.5f}"
    lines += ["", f"Overall score (avg. over tasks): {overall}"]
    return "\n".join(lines) + "\n"
