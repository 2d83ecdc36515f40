"""GenEval decision rules: selection (threshold, counting, cap, NMS), positions, colours, verdicts, reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from janus_eval.rules.detections import Detection, Detections
from janus_eval.rules.geneval import (
    COLORS,
    GENEVAL_CLASSES,
    GenEvalRules,
    compute_iou,
    decide,
    objects_needing_color,
    relative_position,
    same_reason,
    select_objects,
)

RULES = GenEvalRules()
LOCAL_NAMES = Path("/work/shared/data/geneval/object_names.txt")


def det(x1: float, y1: float, x2: float, y2: float, score: float = 0.95, color: str | None = None) -> Detection:
    return Detection(box=(x1, y1, x2, y2), score=score, color=color)


def scores(objects: Detections, name: str) -> list[float]:
    return [d.score for d in objects[name]]


# ----------------------------------------------------------------------------- constants and options


def test_class_names_and_colours() -> None:
    assert len(GENEVAL_CLASSES) == 80 and len(set(GENEVAL_CLASSES)) == 80
    assert GENEVAL_CLASSES[0] == "person" and GENEVAL_CLASSES[79] == "toothbrush"
    # the three names GenEval changed from mmdet's COCO list
    assert GENEVAL_CLASSES[64:67] == ("computer mouse", "tv remote", "computer keyboard")
    assert COLORS == ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
    if LOCAL_NAMES.exists():
        assert tuple(LOCAL_NAMES.read_text().splitlines()) == GENEVAL_CLASSES


def test_rules_defaults_and_validation() -> None:
    assert RULES.model_dump() == {
        "threshold": 0.3,
        "counting_threshold": 0.9,
        "max_objects": 16,
        "max_overlap": 1.0,
        "position_threshold": 0.1,
    }
    with pytest.raises(ValidationError):
        GenEvalRules(nms=0.5)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        GenEvalRules(max_objects=-1)
    with pytest.raises(ValidationError):
        RULES.threshold = 0.5  # type: ignore[misc]


# ----------------------------------------------------------------------------- selection


def test_threshold_is_strict_and_sorting_is_by_score() -> None:
    raw = {"dog": [det(0, 0, 9, 9, 0.3), det(0, 0, 9, 9, 0.5), det(0, 0, 9, 9, 0.31), det(0, 0, 9, 9, 0.2)]}
    assert scores(select_objects(raw, "two_object", RULES), "dog") == [0.5, 0.31]


def test_threshold_compares_in_float32_like_the_official_arrays() -> None:
    # mmdet's score 0.3 is float32(0.3) = 0.300000011920929; as a Python float it is > 0.3, but the official
    # `bbox[:, 4] > 0.3` casts 0.3 to float32 too, so the score equals the threshold and is dropped
    at_threshold = float(np.float32(0.3))
    assert at_threshold > 0.3
    raw = {"dog": [det(0, 0, 9, 9, at_threshold)], "cat": [det(0, 0, 9, 9, float(np.float32(0.9)))]}
    assert select_objects(raw, "single_object", RULES) == {"cat": raw["cat"]}
    assert select_objects(raw, "counting", RULES) == {}


def test_counting_uses_its_threshold_for_every_class() -> None:
    raw = {"dog": [det(0, 0, 9, 9, 0.95), det(0, 0, 9, 9, 0.85)], "cat": [det(0, 0, 9, 9, 0.88)]}
    counting = select_objects(raw, "counting", RULES)
    assert list(counting) == ["dog"] and scores(counting, "dog") == [0.95]  # cat (0.88 <= 0.9) dropped
    other = select_objects(raw, "position", RULES)
    assert scores(other, "dog") == [0.95, 0.85] and scores(other, "cat") == [0.88]


def test_max_objects_keeps_the_most_confident() -> None:
    raw = {"cup": [det(0, 0, 9, 9, 0.40 + i / 100) for i in range(20)]}  # 0.40 ... 0.59
    kept = scores(select_objects(raw, "two_object", RULES), "cup")
    assert len(kept) == 16 and kept[0] == pytest.approx(0.59) and kept[-1] == pytest.approx(0.44)
    three = select_objects(raw, "two_object", GenEvalRules(max_objects=3))
    assert scores(three, "cup") == pytest.approx([0.59, 0.58, 0.57])


def test_equal_scores_put_the_later_detection_first_like_the_official_argsort() -> None:
    # official: np.argsort([.5, .7, .5, .5]) = [0, 2, 3, 1] (ascending, stable on short arrays), reversed
    # = [1, 3, 2, 0]: among the three 0.5s the last comes first
    a, b, c, d = det(0, 0, 9, 9, 0.5), det(1, 1, 9, 9, 0.7), det(2, 2, 9, 9, 0.5), det(3, 3, 9, 9, 0.5)
    raw = {"dog": [a, b, c, d]}
    assert np.argsort(np.array([0.5, 0.7, 0.5, 0.5], dtype=np.float32), kind="stable")[::-1].tolist() == [1, 3, 2, 0]
    assert select_objects(raw, "two_object", RULES)["dog"] == [b, d, c, a]
    assert select_objects(raw, "two_object", GenEvalRules(max_objects=2))["dog"] == [b, d]
    # scores equal in float32 (as in mmdet's arrays) tie even when the Python floats differ
    e, f = det(0, 0, 9, 9, 0.6), det(5, 5, 9, 9, 0.6 + 1e-9)
    assert f.score > e.score and np.float32(f.score) == np.float32(e.score)
    assert select_objects({"cat": [f, e]}, "colors", RULES)["cat"] == [e, f]


def test_iou_uses_inclusive_pixel_corners() -> None:
    # (0,0,9,9) and (5,0,14,9): areas (9-0+1)*(9-0+1) = 100 each, overlap (9-5+1)*10 = 50, union 150 -> 1/3
    # (without the +1: 36 / (81 + 81 - 36) = 0.2857)
    assert compute_iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(1 / 3)
    # boxes sharing the column x=9 overlap by 1*10 = 10 pixels: 10 / (100 + 100 - 10)
    assert compute_iou((0, 0, 9, 9), (9, 0, 18, 9)) == pytest.approx(10 / 190)
    assert compute_iou((0, 0, 9, 9), (20, 20, 29, 29)) == 0


def test_nms_only_below_one_with_the_plus_one_iou() -> None:
    raw = {"dog": [det(0, 0, 9, 9, 0.9), det(5, 0, 14, 9, 0.8), det(0, 0, 9, 9, 0.7)]}
    # default max_overlap = 1: no NMS, even the identical box stays
    assert scores(select_objects(raw, "two_object", RULES), "dog") == [0.9, 0.8, 0.7]
    # IoU 1/3 >= 0.3 with the +1 convention (0.2857 without): the shifted box goes, and so does the copy
    assert scores(select_objects(raw, "two_object", GenEvalRules(max_overlap=0.3)), "dog") == [0.9]
    # IoU 1/3 < 0.4 keeps the shifted box; the copy (IoU 1) goes
    assert scores(select_objects(raw, "two_object", GenEvalRules(max_overlap=0.4)), "dog") == [0.9, 0.8]


def test_truncation_comes_before_nms() -> None:
    # official order: threshold -> first max_objects -> NMS; with max_objects=2 the far box (third) is cut
    # before NMS removes the copy, leaving one dog (NMS first would leave two)
    raw = {"dog": [det(0, 0, 9, 9, 0.9), det(0, 0, 9, 9, 0.8), det(50, 50, 59, 59, 0.7)]}
    rules = GenEvalRules(max_objects=2, max_overlap=0.5)
    assert scores(select_objects(raw, "two_object", rules), "dog") == [0.9]


# ----------------------------------------------------------------------------- relative position


def test_relative_position_axes_and_downward_y() -> None:
    a, b = det(0, 0, 10, 10), det(100, 0, 110, 10)
    # centres (5,5) and (105,5): offset (-100, 0); dead zone 0.1*(10+10) = 2 -> (-98, 0) / 100 -> dx = -0.98
    assert relative_position(a, b, 0.1) == {"left of"}
    assert relative_position(b, a, 0.1) == {"right of"}
    top, bottom = det(0, 0, 10, 10), det(0, 100, 10, 110)
    assert relative_position(top, bottom, 0.1) == {"above"}  # dy = -0.98: smaller y is higher up
    assert relative_position(bottom, top, 0.1) == {"below"}


def test_several_relations_at_once() -> None:
    # offset (-100, -100), revised (-98, -98), norm 141.42 -> dx = dy = -0.693: left of and above
    assert relative_position(det(0, 0, 10, 10), det(100, 100, 110, 110), 0.1) == {"left of", "above"}


def test_dead_zone_and_normalisation_by_the_raw_offset() -> None:
    a, b = det(0, 0, 100, 100), det(15, 0, 115, 100)
    # offset (-15, 0); dims 100+100 -> dead zone 0.1*200 = 20 > 15: nothing left, no relation
    assert relative_position(a, b, 0.1) == set()
    # c = 0.05: dead zone 10 -> revised -5, divided by the raw length 15 -> -0.333: still no relation
    assert relative_position(a, b, 0.05) == set()
    # c = 0: revised -15 / 15 = -1 -> left of
    assert relative_position(a, b, 0.0) == {"left of"}
    # (0,0,20,20) vs (6,0,26,20): offset (-6, 0), dead zone 0.1*40 = 4 -> (-2, 0) / 6 = -0.333: none
    # (dividing by the shrunk length would have given -1)
    assert relative_position(det(0, 0, 20, 20), det(6, 0, 26, 20), 0.1) == set()


# ----------------------------------------------------------------------------- verdicts per task

SINGLE = {"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"}
TWO = {
    "tag": "two_object",
    "include": [{"class": "bench", "count": 1}, {"class": "sports ball", "count": 1}],
    "prompt": "a photo of a bench and a sports ball",
}
COUNTING = {
    "tag": "counting",
    "include": [{"class": "clock", "count": 2}],
    "exclude": [{"class": "clock", "count": 3}],
    "prompt": "a photo of two clocks",
}
COLOR = {"tag": "colors", "include": [{"class": "fire hydrant", "count": 1, "color": "blue"}], "prompt": "x"}
COLOR_ATTR = {
    "tag": "color_attr",
    "include": [
        {"class": "wine glass", "count": 1, "color": "purple"},
        {"class": "apple", "count": 1, "color": "black"},
    ],
    "prompt": "a photo of a purple wine glass and a black apple",
}


def position(relation: str) -> dict[str, Any]:
    return {
        "tag": "position",
        "include": [{"class": "teddy bear", "count": 1}, {"class": "dog", "count": 1, "position": [relation, 0]}],
        "prompt": f"a photo of a dog {relation} a teddy bear",
    }


def test_single_and_two_object() -> None:
    assert decide(SINGLE, {}, RULES).reason == "expected bench>=1, found 0"
    good = decide(SINGLE, {"bench": [det(0, 0, 9, 9)]}, RULES)
    assert good.correct and good.reason == ""
    half = decide(TWO, {"bench": [det(0, 0, 9, 9)]}, RULES)
    assert not half.correct and half.reason == "expected sports ball>=1, found 0"
    both = decide(TWO, {}, RULES)
    assert both.reason == "expected bench>=1, found 0\nexpected sports ball>=1, found 0"


def test_counting_with_exclude() -> None:
    three = {"clock": [det(0, 0, 9, 9, 0.95), det(20, 0, 29, 9, 0.93), det(40, 0, 49, 9, 0.92)]}
    verdict = decide(COUNTING, select_objects(three, "counting", RULES), RULES)
    # two asked, three above 0.9: the include holds, the exclude (count 3) fires
    assert not verdict.correct and verdict.reason == "expected clock<3, found 3"
    # the third at 0.85 is below the counting threshold: ignored, two clocks, right
    three["clock"][2] = det(40, 0, 49, 9, 0.85)
    verdict = decide(COUNTING, select_objects(three, "counting", RULES), RULES)
    assert verdict.correct and verdict.reason == ""
    one = {"clock": [det(0, 0, 9, 9, 0.95), det(20, 0, 29, 9, 0.5)]}
    assert decide(COUNTING, select_objects(one, "counting", RULES), RULES).reason == "expected clock>=2, found 1"


def test_colors() -> None:
    objects = {"fire hydrant": [det(0, 0, 9, 9, color="blue")]}
    assert objects_needing_color(COLOR, objects) == [("fire hydrant", 0)]
    assert decide(COLOR, objects, RULES).correct
    objects["fire hydrant"][0].color = "red"
    verdict = decide(COLOR, objects, RULES)
    assert not verdict.correct and verdict.reason == "expected blue fire hydrant>=1, found 0 blue; and 1 red"


def test_color_attr_mismatch_on_one_of_two_objects() -> None:
    objects = {"wine glass": [det(0, 0, 9, 9, color="purple")], "apple": [det(20, 0, 29, 9, color="red")]}
    assert objects_needing_color(COLOR_ATTR, objects) == [("wine glass", 0), ("apple", 0)]
    verdict = decide(COLOR_ATTR, objects, RULES)
    assert not verdict.correct and verdict.reason == "expected black apple>=1, found 0 black; and 1 red"


def test_colour_count_two_reads_only_the_top_two() -> None:
    meta = {"tag": "colors", "include": [{"class": "cup", "count": 2, "color": "red"}], "prompt": "two red cups"}
    cups = {"cup": [det(0, 0, 9, 9, 0.9, "green"), det(20, 0, 29, 9, 0.8, "red"), det(40, 0, 49, 9, 0.7, "red")]}
    # only the two most confident are read (green, red): 1 red of 2 -> wrong; counts in COLORS order (red first)
    assert objects_needing_color(meta, cups) == [("cup", 0), ("cup", 1)]
    verdict = decide(meta, cups, RULES)
    assert verdict.reason == "expected red cup>=2, found 1 red; and 1 red, 1 green"
    cups["cup"][0].color = "red"
    assert decide(meta, cups, RULES).correct
    # too few cups: no colour is needed or read
    one = {"cup": [det(0, 0, 9, 9)]}
    assert objects_needing_color(meta, one) == []
    assert decide(meta, one, RULES).reason == "expected cup>=2, found 1"


def test_missing_or_unknown_colour_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs a colour"):
        decide(COLOR, {"fire hydrant": [det(0, 0, 9, 9)]}, RULES)
    with pytest.raises(ValueError, match="not one of"):
        decide(COLOR, {"fire hydrant": [det(0, 0, 9, 9, color="teal")]}, RULES)


def test_position() -> None:
    bear = det(0, 0, 10, 10, 0.9)
    right = {"teddy bear": [bear], "dog": [det(100, 0, 110, 10)]}
    assert decide(position("right of"), right, RULES).correct
    left = {"teddy bear": [bear], "dog": [det(-100, 0, -90, 10)]}
    assert decide(position("right of"), left, RULES).reason == "expected dog right of target, found left of target"
    # inside the dead zone: no relation at all (the official join of an empty set leaves two spaces)
    overlapping = {"teddy bear": [bear], "dog": [det(1, 0, 11, 10)]}
    assert decide(position("right of"), overlapping, RULES).reason == "expected dog right of target, found  target"


def test_position_with_several_relations() -> None:
    bear = det(0, 0, 10, 10, 0.9)
    objects = {"teddy bear": [bear], "dog": [det(100, 100, 110, 110)]}  # right of and below
    assert decide(position("right of"), objects, RULES).correct
    assert decide(position("below"), objects, RULES).correct
    verdict = decide(position("above"), objects, RULES)
    assert verdict.reason == "expected dog above target, found right of and below target"
    # the official order of the two relations is a Python set's: compare reasons with same_reason
    assert same_reason(verdict.reason, "expected dog above target, found below and right of target")
    assert not same_reason(verdict.reason, "expected dog above target, found below target")


def test_position_target_failed_or_only_top_target_counts() -> None:
    verdict = decide(position("right of"), {"dog": [det(100, 0, 110, 10)]}, RULES)
    assert verdict.reason == "expected teddy bear>=1, found 0\nno target for dog to be right of"
    # the target group is the top-1 bear; a second, less confident bear right of the dog is not consulted
    objects = {"teddy bear": [det(0, 0, 10, 10, 0.9), det(500, 0, 510, 10, 0.5)], "dog": [det(100, 0, 110, 10)]}
    assert decide(position("right of"), objects, RULES).correct
    with pytest.raises(ValueError, match="positioned against"):
        bad = {"tag": "position", "include": [{"class": "dog", "count": 1, "position": ["left of", 0]}], "prompt": "x"}
        decide(bad, {"dog": [det(0, 0, 9, 9)]}, RULES)


def test_position_is_not_checked_after_a_colour_failure() -> None:
    # officially the position check runs only while the requirement is still matched
    meta = {
        "tag": "position",
        "include": [
            {"class": "teddy bear", "count": 1},
            {"class": "dog", "count": 1, "color": "brown", "position": ["right of", 0]},
        ],
        "prompt": "x",
    }
    objects = {"teddy bear": [det(0, 0, 10, 10)], "dog": [det(-100, 0, -90, 10, color="white")]}
    assert decide(meta, objects, RULES).reason == "expected brown dog>=1, found 0 brown; and 1 white"


def test_details_are_json_records_of_every_kept_class() -> None:
    objects = {"fire hydrant": [det(0.5, 1, 9, 9.25, 0.75, "blue")], "cat": [det(1, 2, 3, 4, 0.5)]}
    details = decide(COLOR, objects, RULES).details
    assert json.loads(json.dumps(details)) == {
        "fire hydrant": [{"box": [0.5, 1.0, 9.0, 9.25], "score": 0.75, "color": "blue"}],
        "cat": [{"box": [1.0, 2.0, 3.0, 4.0], "score": 0.5}],
    }
