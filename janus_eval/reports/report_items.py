"""What the HTML report lists: every generated image with its verdict, and every understanding answer scored wrong.

Both are read from the records, generically: an image task's records hold the saved image paths in `output`
and per-image verdicts in `score["images"]` ({"image", "correct", "reason", "details"}: GenEval's, and the
convention for other generation tasks); a text task's wrong answers are the records whose typed score
(`Task.Score`) has the value 0, or that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from janus_eval.registry import TASKS
from janus_eval.reports.results import TaskResult
from janus_eval.reports.sample_records import SampleRecord
from janus_eval.reports.thumbnails import ThumbnailStore

Item = dict[str, Any]


def category_of(meta: Mapping[str, Any]) -> str:
    """The category a sample is filed under in the report (GenEval's tag, a benchmark's category, ...)."""
    for key in ("tag", "category", "dimension", "subject", "split", "l1_category"):
        if meta.get(key) not in (None, ""):
            return str(meta[key])
    return "all"


def detections_summary(details: Any) -> str:
    """`class x count (colours)` for GenEval-style details (class -> [{"box", "score", "color"}]), else compact text."""
    if isinstance(details, Mapping) and all(isinstance(v, list) for v in details.values()):
        parts = []
        for name, found in details.items():
            colours = sorted({str(d["color"]) for d in found if isinstance(d, Mapping) and d.get("color")})
            parts.append(f"{name} x{len(found)}" + (f" ({', '.join(colours)})" if colours else ""))
        return "detected: " + (", ".join(parts) if parts else "nothing")
    return "" if details in (None, {}, []) else str(details)[:300]


def image_items(result: TaskResult, records: Mapping[str, SampleRecord], model_dir: Path, thumbs: ThumbnailStore) -> list[Item]:
    """One item per saved image with a verdict, in sample order."""
    items = []
    for record in sorted(records.values(), key=lambda r: r.row):
        paths = record.output if isinstance(record.output, list) else []
        verdicts = record.score.get("images") if isinstance(record.score.get("images"), list) else []
        prompt = (record.request or {}).get("prompt") or record.id
        for verdict in verdicts:
            if not isinstance(verdict, Mapping) or not isinstance(verdict.get("image"), int):
                continue
            number = verdict["image"]
            thumb = thumbs.add_file(model_dir / paths[number]) if 0 <= number < len(paths) else None
            items.append(
                {
                    "model": result.model,
                    "task": result.task,
                    "sample": record.id,
                    "prompt": str(prompt),
                    "category": category_of(record.meta),
                    "image": number,
                    "correct": bool(verdict.get("correct")),
                    "verdict": "correct" if verdict.get("correct") else "wrong",
                    "reason": str(verdict.get("reason", "")),
                    "details": detections_summary(verdict.get("details")),
                    "thumb": thumb,
                }
            )
    return items


def no_images(record: SampleRecord) -> list[Image.Image]:
    """No thumbnails (--no-thumbnails)."""
    return []


def _question(record: SampleRecord) -> str:
    messages = (record.request or {}).get("messages") or []
    text = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    return text.replace("<image>", "").strip()


def why_wrong(record: SampleRecord) -> tuple[str, str]:
    """(kind, explanation) of a wrong answer: failed, unmatched (nothing could be read), wrong option or answer."""
    score, target = record.score, record.target
    if record.failed:
        return "failed", f"the sample failed: {record.error or 'no output'}"
    pred = score.get("pred")
    if score.get("unmatched") or pred == "unknown":
        what = "neither yes nor no" if pred == "unknown" else "no option or answer"
        drawn = score.get("random") or score.get("random_fallback")
        extra = f"; a random option was drawn ({pred})" if drawn and pred not in (None, "unknown") else ""
        return "unmatched", f"{what} could be read from the output{extra}"
    if pred is not None:
        kind = "wrong option" if isinstance(target, str) and len(target) == 1 and target.isalpha() else "wrong answer"
        return kind, f"answered {pred!r}, target {target!r}"
    return "wrong answer", f"the output does not match the target {target!r}"


def wrong_answers(result: TaskResult, records: Mapping[str, SampleRecord]) -> list[SampleRecord]:
    """The records of a text task scored wrong (typed score of value 0) or failed, in sample order."""
    task_cls = TASKS.get(result.task) if result.task in TASKS.names() else None
    wrong = []
    for record in sorted(records.values(), key=lambda r: r.row):
        value = task_cls.Score.model_validate(record.score).value if task_cls is not None else None
        if record.failed or value == 0 or (value is None and record.score.get("correct") is False):
            wrong.append(record)
    return wrong


def failure_items(
    result: TaskResult,
    wrong: Sequence[SampleRecord],
    images_of: Callable[[SampleRecord], list[Image.Image]],
    thumbs: ThumbnailStore,
) -> list[Item]:
    """One item per wrong answer: question, thumbnails of its input images, answer, target and why."""
    items = []
    for record in wrong:
        kind, why = why_wrong(record)
        items.append(
            {
                "model": result.model,
                "task": result.task,
                "sample": record.id,
                "category": category_of(record.meta),
                "question": _question(record),
                "answer": record.output if isinstance(record.output, str) else "",
                "target": record.target if isinstance(record.target, (str, int, float)) else str(record.target),
                "kind": kind,
                "why": why,
                "thumbs": [thumbs.add(image) for image in images_of(record)],
            }
        )
    return items
