"""GenEval's decision rules: which detections count, where objects stand, and whether an image is correct.

A pure-Python reproduction of the rules in djghosh13/geneval af4902f `evaluation/evaluate_images.py`
(thresholding and NMS in `evaluate_image`, `compute_iou`, `relative_position`, `evaluate`), free of
mmdet and CLIP so that any detector backend, another harness or a re-scoring script can share it.
The caller supplies per-class detections and, for the objects `objects_needing_color` names, the colour
its classifier chose::

    rules = GenEvalRules()
    objects = select_objects(raw_detections, metadata["tag"], rules)
    for name, index in objects_needing_color(metadata, objects):
        objects[name][index].color = my_colour_classifier(image, objects[name][index])
    decision = decide(metadata, objects, rules)  # .correct, .reason, .details

Boxes and scores are compared in float32, as the official code does on mmdet's float32 arrays, so
values that sit exactly on a threshold fall the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from janus_eval.rules.detections import Detection, Detections

# evaluation/object_names.txt: detector class index -> name (mmdet's COCO classes, except that indices
# 64-66 read "computer mouse", "tv remote", "computer keyboard")
GENEVAL_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "computer mouse", "tv remote",
    "computer keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock",
    "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

# the colour classifier's labels, in the official order (which is also the order of the colour counts
# listed in a failure reason)
COLORS: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")

# the relations `relative_position` can report; reasons list them in this order (see `decide`)
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")

TASK_TAGS: tuple[str, ...] = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


class GenEvalRules(BaseModel):
    """The evaluator's `--options`, with the official names and defaults.

    Attributes:
        threshold: detection score cut (strict `>`) for every task but counting.
        counting_threshold: the cut for all classes when the prompt's tag is "counting".
        max_objects: detections kept per class, highest score first.
        max_overlap: greedy-NMS IoU bound; 1 (the default) means no NMS.
        position_threshold: the dead-zone factor `c` of `relative_position`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = Field(default=16, ge=0)
    max_overlap: float = Field(default=1.0, gt=0)
    position_threshold: float = Field(default=0.1, ge=0)


@dataclass(frozen=True)
class Decision:
    """The verdict on one image.

    Attributes:
        correct: whether the image satisfies every requirement of its prompt.
        reason: the official failure reasons, one per line ("" when correct).
        details: class -> detections kept (`Detection.to_json`: box, score, colour when classified).
    """

    correct: bool
    reason: str
    details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def compute_iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """IoU of two (x1, y1, x2, y2) boxes with the official `+1` pixel convention (inclusive corners)."""

    def area(box: Sequence[float]) -> float:
        return max(box[2] - box[0] + 1, 0) * max(box[3] - box[1] + 1, 0)

    intersection = area(
        (max(box_a[0], box_b[0]), max(box_a[1], box_b[1]), min(box_a[2], box_b[2]), min(box_a[3], box_b[3]))
    )
    union = area(box_a) + area(box_b) - intersection
    return intersection / union if union else 0.0


def select_objects(raw: Detections, tag: str, rules: GenEvalRules) -> Detections:
    """The detections GenEval's rules look at, per class, highest score first.

    Official order (`evaluate_image`): sort by score, keep `score > threshold` (the counting threshold
    for every class when `tag == "counting"`), keep the first `max_objects`, then greedy NMS when
    `max_overlap < 1`; classes left empty are dropped. The lists are new; the Detection objects are
    those of `raw`. Scores are compared in float32; equal scores put the later detection of `raw` first.
    """
    cut = np.float32(rules.counting_threshold if tag == "counting" else rules.threshold)
    selected: Detections = {}
    for name, detections in raw.items():
        # officially `np.argsort(scores)[::-1]`: ascending, then reversed, so equal scores come later index
        # first wherever the ascending sort is stable, as numpy 1.23's (GenEval's environment) insertion sort
        # is on arrays of up to 17 elements; longer arrays (and numpy 2's SIMD sorts) leave ties unspecified
        order = sorted(range(len(detections)), key=lambda i: (np.float32(detections[i].score), i), reverse=True)
        ranked = [detections[i] for i in order]
        kept = [d for d in ranked if np.float32(d.score) > cut][: rules.max_objects]
        if rules.max_overlap < 1:
            kept = _greedy_nms(kept, rules.max_overlap)
        if kept:
            selected[name] = kept
    return selected


def _greedy_nms(ranked: list[Detection], max_overlap: float) -> list[Detection]:
    """Keeps the best box, drops those overlapping it by IoU >= max_overlap, repeats (official loop)."""
    kept: list[Detection] = []
    pending = list(ranked)
    while pending:
        best = pending.pop(0)
        kept.append(best)
        pending = [d for d in pending if compute_iou(best.box, d.box) < max_overlap]
    return kept


def relative_position(a: Detection, b: Detection, c: float) -> set[str]:
    """Where A stands relative to B: a subset of RELATIONS (several may hold, or none).

    Centres and sizes (no +1) of the boxes; each axis of the centre offset is shrunk towards 0 by
    `c * (size_A + size_B)`; if nothing is left (< 1e-3 on both axes) there is no relation; otherwise the
    shrunk offset divided by the length of the raw offset must pass ±0.5. Image y grows downward, so a
    negative dy is "above".
    """
    boxes = np.array([a.box, b.box], dtype=np.float32)[:, :4].reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - np.float32(c) * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < np.float32(1e-3)):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


def objects_needing_color(metadata: Mapping[str, Any], objects: Detections) -> list[tuple[str, int]]:
    """(class, index) of every object whose colour `decide` will read, without repeats.

    Officially the colour of a requirement's `count` most confident objects is classified only when at
    least `count` were found, so the caller can classify exactly these (batched) before deciding.
    """
    needed: list[tuple[str, int]] = []
    for req in metadata.get("include", []):
        if "color" not in req:
            continue
        found = objects.get(req["class"], [])[: req["count"]]
        if len(found) < req["count"]:
            continue
        for index in range(len(found)):
            if (req["class"], index) not in needed:
                needed.append((req["class"], index))
    return needed


def decide(metadata: Mapping[str, Any], objects: Detections, rules: GenEvalRules) -> Decision:
    """The official `evaluate`: whether the selected objects satisfy the prompt's metadata.

    Include requirements are AND-ed, in order: the `count` most confident objects of the class must
    exist, have the colour asked for (`Detection.color`, which must be set), and stand in the relation
    asked for to every object of the target requirement (which must itself have been met). Exclude
    requirements are OR-ed: `count` or more objects of the class make the image wrong.

    Raises:
        ValueError: a colour the decision needs is missing or not one of COLORS, or a position refers
            to a requirement that does not come before it.
    """
    correct = True
    reasons: list[str] = []
    matched_groups: list[list[Detection] | None] = []
    for number, req in enumerate(metadata.get("include", [])):
        name, count = req["class"], req["count"]
        matched = True
        found = objects.get(name, [])[:count]
        if len(found) < count:
            correct = matched = False
            reasons.append(f"expected {name}>={count}, found {len(found)}")
        else:
            if "color" in req:
                colors = [_color_of(name, index, detection) for index, detection in enumerate(found)]
                wanted = req["color"]
                if colors.count(wanted) < count:
                    correct = matched = False
                    tally = ", ".join(f"{colors.count(c)} {c}" for c in COLORS if c in colors)
                    reasons.append(
                        f"expected {wanted} {name}>={count}, found {colors.count(wanted)} {wanted}; and {tally}"
                    )
            if "position" in req and matched:
                relation, target = req["position"]
                if not 0 <= target < number:
                    raise ValueError(f"include[{number}] ({name}) is positioned against include[{target}]")
                failure = _position_failure(name, relation, found, matched_groups[target], rules)
                if failure is not None:
                    correct = matched = False
                    reasons.append(failure)
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        name, count = req["class"], req["count"]
        if len(objects.get(name, [])) >= count:
            correct = False
            reasons.append(f"expected {name}<{count}, found {len(objects[name])}")
    details = {name: [d.to_json() for d in detections] for name, detections in objects.items()}
    return Decision(correct=correct, reason="\n".join(reasons), details=details)


def _color_of(name: str, index: int, detection: Detection) -> str:
    if detection.color is None:
        raise ValueError(f"{name}[{index}] needs a colour (see objects_needing_color) but has none")
    if detection.color not in COLORS:
        raise ValueError(f"{name}[{index}] has colour {detection.color!r}, not one of {', '.join(COLORS)}")
    return detection.color


def _position_failure(
    name: str, relation: str, found: Sequence[Detection], targets: Sequence[Detection] | None, rules: GenEvalRules
) -> str | None:
    """The official reason when a position requirement fails (only the first failing pair is reported)."""
    if targets is None:
        return f"no target for {name} to be {relation}"
    for detection in found:
        for target in targets:
            relations = relative_position(detection, target, rules.position_threshold)
            if relation not in relations:
                # officially `' and '.join(set)`: set order varies between Python processes; ours is fixed
                return f"expected {name} {relation} target, found {' and '.join(_ordered(relations))} target"
    return None


def _ordered(relations: Iterable[str]) -> list[str]:
    return sorted(relations, key=RELATIONS.index)


def same_reason(ours: str, official: str) -> bool:
    """Whether two reason strings agree, ignoring the order of relations in "found A and B target".

    The official evaluator joins a Python set there, whose order depends on the process's string hashing.
    """

    def canonical(reason: str) -> list[str]:
        lines = []
        for line in reason.split("\n"):
            head, sep, tail = line.partition(" target, found ")
            if sep and tail.endswith(" target"):
                found = tail[: -len(" target")]
                parts = found.split(" and ") if found else []
                if all(part in RELATIONS for part in parts):
                    line = f"{head}{sep}{' and '.join(_ordered(parts))} target"
            lines.append(line)
        return lines

    return canonical(ours) == canonical(official)
