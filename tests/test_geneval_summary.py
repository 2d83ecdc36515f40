"""GenEval aggregation: hand-worked means, exact merging, and import of the official results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from janus_eval.api import Sample
from janus_eval.errors import UserError
from janus_eval.rules.detections import Detection
from janus_eval.rules.geneval import GenEvalRules, decide
from janus_eval.rules.geneval_summary import (
    GenEvalMetric,
    ImageVerdict,
    official_summary_table,
    read_official_results,
    render_official_summary,
    summarise,
)


def meta(tag: str, name: str, count: int = 1) -> dict[str, Any]:
    return {"tag": tag, "include": [{"class": name, "count": count}], "prompt": f"a photo of {name}"}


# four prompts, four images each: (metadata, per-image correctness)
PROMPTS: list[tuple[dict[str, Any], list[bool]]] = [
    (meta("single_object", "bench"), [True, True, False, False]),
    (meta("single_object", "dog"), [False, False, False, False]),
    (meta("counting", "clock", 2), [True, True, True, False]),
    (meta("position", "cat"), [False, False, False, False]),
]
# single_object 2/8 = 0.25, counting 3/4 = 0.75, position 0/4 = 0
# overall = (0.25 + 0.75 + 0) / 3 = 1/3 (the image mean would be 5/16 = 0.3125)
# prompts with a correct image: bench and clock -> 2/4
EXPECTED = {
    "single_object": 0.25,
    "two_object": None,
    "counting": 0.75,
    "colors": None,
    "position": 0.0,
    "color_attr": None,
    "overall": 1 / 3,
    "correct_images": 5 / 16,
    "correct_prompts": 0.5,
}


def verdicts() -> list[ImageVerdict]:
    return [
        ImageVerdict(
            filename=f"out/{p:05}/samples/{i:05}.png",
            tag=metadata["tag"],
            prompt=metadata["prompt"],
            correct=correct,
            reason="" if correct else "wrong",
            metadata=metadata,
        )
        for p, (metadata, flags) in enumerate(PROMPTS)
        for i, correct in enumerate(flags)
    ]


def samples_and_scores() -> list[tuple[Sample, dict[str, Any]]]:
    return [
        (
            Sample(id=f"p{p}", index=p, target=None, meta={"tag": metadata["tag"], "prompt_key": f"p{p}"}),
            {"images": [{"correct": flag, "reason": ""} for flag in flags]},
        )
        for p, (metadata, flags) in enumerate(PROMPTS)
    ]


def assert_scores(actual: dict[str, float | None], expected: dict[str, float | None]) -> None:
    assert list(actual) == list(expected)
    for key, value in expected.items():
        assert actual[key] == (None if value is None else pytest.approx(value)), key


# ----------------------------------------------------------------------------- summarise and the metric


def test_summarise_hand_worked() -> None:
    assert_scores(summarise(verdicts()), EXPECTED)


def test_summarise_empty_and_unknown_tag() -> None:
    assert summarise([]) == dict.fromkeys(EXPECTED)
    odd = ImageVerdict("a.png", "spelling", "p", True, "", {"tag": "spelling"})
    with pytest.raises(ValueError, match="spelling"):
        summarise([odd])


def test_metric_matches_summarise_and_merges_exactly() -> None:
    pairs = samples_and_scores()
    whole = GenEvalMetric()
    for sample, score in pairs:
        whole.update(sample, score)
    assert_scores(whole.compute(), EXPECTED)

    first, second = GenEvalMetric(), GenEvalMetric()
    for sample, score in pairs[::2]:
        first.update(sample, score)
    for sample, score in pairs[1::2]:
        second.update(sample, score)
    first.merge(second)
    assert first.compute() == whole.compute()


def test_metric_merge_with_a_prompt_split_across_halves() -> None:
    sample = Sample(id="p0", index=0, target=None, meta={"tag": "counting", "prompt_key": "p0"})
    whole, left, right = GenEvalMetric(), GenEvalMetric(), GenEvalMetric()
    whole.update(sample, {"images": [{"correct": False}, {"correct": True}]})
    left.update(sample, {"images": [{"correct": False}]})
    right.update(sample, {"images": [{"correct": True}]})
    left.merge(right)
    # one prompt, correct through its second image; counting 1/2
    assert left.compute() == whole.compute()
    assert whole.compute()["correct_prompts"] == 1.0 and whole.compute()["counting"] == 0.5


def test_metric_empty_and_type_checks() -> None:
    assert GenEvalMetric().compute() == dict.fromkeys(EXPECTED)
    with pytest.raises(TypeError):
        GenEvalMetric().merge(object())  # type: ignore[arg-type]


def test_verdict_from_decision() -> None:
    metadata = meta("single_object", "bench")
    decision = decide(metadata, {"bench": [Detection(box=(0, 0, 9, 9), score=0.5)]}, GenEvalRules())
    verdict = ImageVerdict.from_decision("x/00000.png", metadata, decision)
    assert verdict.correct and verdict.tag == "single_object" and verdict.prompt == "a photo of bench"
    assert verdict.details == {"bench": [{"box": [0.0, 0.0, 9.0, 9.0], "score": 0.5}]}


# ----------------------------------------------------------------------------- official results file


def write_official(path: Path, items: list[ImageVerdict]) -> None:
    """Writes a results file the way evaluate_images.py does (pandas records, JSON-string columns)."""
    rows = [
        {
            "filename": v.filename,
            "tag": v.tag,
            "prompt": v.prompt,
            "correct": np.bool_(v.correct),
            "reason": v.reason,
            "metadata": json.dumps(v.metadata),
            "details": json.dumps({"bench": [np.array([1.5, 2, 30, 40, 0.75], dtype=np.float32).tolist()]}),
        }
        for v in items
    ]
    with path.open("w") as handle:
        pd.DataFrame(rows).to_json(handle, orient="records", lines=True)


def test_read_official_results(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    original = verdicts()
    write_official(path, original)
    assert "\\/" in path.read_text()  # pandas escapes slashes; still plain JSON
    imported = read_official_results(path)
    assert [(v.filename, v.tag, v.prompt, v.correct, v.reason, v.metadata) for v in imported] == [
        (v.filename, v.tag, v.prompt, v.correct, v.reason, v.metadata) for v in original
    ]
    assert imported[0].details == {"bench": [{"box": [1.5, 2.0, 30.0, 40.0], "score": 0.75}]}
    assert_scores(summarise(imported), EXPECTED)


def test_read_official_results_without_trailing_newline(tmp_path: Path) -> None:
    row = {
        "filename": "a.png",
        "tag": "colors",
        "prompt": "p",
        "correct": False,
        "reason": "expected blue cup>=1, found 0 blue; and 1 red",
        "metadata": json.dumps(meta("colors", "cup")),
        "details": "{}",
    }
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(row) + "\n\n" + json.dumps(row))
    imported = read_official_results(path)
    assert len(imported) == 2 and imported[1].reason == row["reason"] and imported[1].details == {}


@pytest.mark.parametrize(
    ("second_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "found a JSON list"),
        ('{"filename": "a.png"}', "missing tag, prompt, correct, reason, metadata, details"),
        ('{"filename": "a", "tag": "t", "prompt": "p", "correct": "True", "reason": "", '
         '"metadata": "{}", "details": "{}"}', "correct should be true or false"),
        ('{"filename": "a", "tag": "t", "prompt": "p", "correct": true, "reason": "", '
         '"metadata": "{oops", "details": "{}"}', "metadata is not a JSON string"),
        ('{"filename": "a", "tag": "t", "prompt": "p", "correct": true, "reason": "", '
         '"metadata": "{}", "details": "{\\"cup\\": [[1, 2]]}"}', "details"),
    ],
)  # fmt: skip
def test_broken_results_file_names_file_and_line(tmp_path: Path, second_line: str, message: str) -> None:
    path = tmp_path / "broken.jsonl"
    good = verdicts()[:1]
    write_official(path, good)
    path.write_text(path.read_text() + second_line + "\n")
    with pytest.raises(UserError, match=message) as caught:
        read_official_results(path)
    assert f"{path}:2:" in str(caught.value)


def test_missing_results_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read"):
        read_official_results(tmp_path / "nope.jsonl")


def test_official_summary_table_and_text() -> None:
    table = official_summary_table(verdicts())
    assert table["total_images"] == 16 and table["total_prompts"] == 4
    assert table["correct_images"] == pytest.approx(5 / 16) and table["correct_prompts"] == pytest.approx(0.5)
    # tasks in order of first appearance, any tag
    assert table["tasks"] == {
        "single_object": {"score": 0.25, "correct": 2, "images": 8},
        "counting": {"score": 0.75, "correct": 3, "images": 4},
        "position": {"score": 0.0, "correct": 0, "images": 4},
    }
    assert table["overall"] == pytest.approx(1 / 3)
    assert render_official_summary(table) == (
        "Summary\n=======\nTotal images: 16\nTotal prompts: 4\n% correct images: 31.25%\n% correct prompts: 50.00%\n"
        "\nTask breakdown\n==============\n"
        "single_object    = 25.00% (2 / 8)\ncounting         = 75.00% (3 / 4)\nposition         = 0.00% (0 / 4)\n"
        "\nOverall score (avg. over tasks): 0.33333\n"
    )
    assert official_summary_table([])["overall"] is None
