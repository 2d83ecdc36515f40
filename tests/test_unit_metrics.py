"""Metrics count a resampling unit drawn twice twice, and compare reads per-sample scores on their own scale."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from janus_eval.tasks.dpg_bench import DpgScore
from janus_eval.tasks.frechet_task import FeatureScore
from janus_eval.tasks.mmbench import MmbenchOptions, MmbenchTask
from janus_eval.tasks.mme import MmeTask

from janus_eval.api import ImagesScore, Metric, Sample, Task, TextOutput
from janus_eval.registry import TASKS
from janus_eval.reports.compare import UnitDraws, sample_flips
from janus_eval.reports.sample_records import SampleRecord
from janus_eval.rules.counting_metric import CountingMetric


def _renamed(task: Task, sample: Sample, tag: str) -> Sample:
    """The sample under a new id and a new unit: every meta text that names the unit (not its stratum) renamed."""
    meta = dict(sample.meta)
    for key, value in sample.meta.items():
        if isinstance(value, str):
            probe = replace(sample, meta={**sample.meta, key: value + tag})
            if task.resampling_unit(probe) != task.resampling_unit(sample) and (
                task.resampling_stratum(probe) == task.resampling_stratum(sample)
            ):
                meta[key] = value + tag
    return replace(sample, id=sample.id + tag, meta=meta)


def _scored(task: Task) -> list[tuple[Sample, dict[str, Any]]]:
    """Demo samples with real scores of right and wrong answers in turn (text tasks), or per-image verdicts in
    the declared shape (image tasks: their scorer models are too slow to build here)."""
    samples = task.samples(task.demo_rows())[:8]
    if task.request_kind == "text":
        outputs = [TextOutput(str(s.target) if n % 3 != 1 else "zzz") for n, s in enumerate(samples)]
        scores = task.score_batch(samples, outputs)
    elif issubclass(task.Score, DpgScore):  # DPG-Bench: image scores and category pairs, one image dropped
        scores = [
            {"item_id": s.id, "score": None if n == 3 else n / 8, "dropped": "first row" if n == 3 else None,
             "categories": [["entity - whole", (n % 2) * 1.0], ["attribute - color", 0.5]]}
            for n, s in enumerate(samples)
        ]  # fmt: skip
    elif issubclass(task.Score, FeatureScore):  # FID: feature vectors of the reference's dimension
        dim = task.reference().statistics.overall().dim
        rng = np.random.default_rng(0)
        scores = [{"features": rng.normal(size=dim)} for _ in samples]
    else:
        assert issubclass(task.Score, ImagesScore), f"{task.name}: build scores of its declared type here"
        scores = [
            {"images": [{"image": k, "correct": (n + k) % 3 == 0, "reason": "r"} for k in range(n % 3)]}
            for n in range(len(samples))
        ]
    for score in scores:
        task.Score.model_validate(score)  # the declared type holds for what the task writes
    return list(zip(samples, scores))


def _metric(task: Task, pairs: list[tuple[Sample, dict[str, Any]]]) -> Metric:
    metric = task.new_metric()
    for sample, score in pairs:
        metric.update(sample, score)
    return metric


@pytest.mark.parametrize("name", [name for name, _ in TASKS])
def test_a_unit_merged_with_itself_equals_its_samples_twice_under_new_ids(name: str) -> None:
    task = TASKS.get(name)(demo=True)
    pairs = _scored(task)
    grouped: dict[str, list[tuple[Sample, dict[str, Any]]]] = {}
    for sample, score in pairs:
        grouped.setdefault(task.resampling_unit(sample), []).append((sample, score))
    units = list(grouped.values())
    closed = []
    for unit in units:
        metric = _metric(task, unit)
        closed.append(metric.close() if isinstance(metric, CountingMetric) else metric)
    for position, unit in enumerate(units):
        # the draw (A, A, B): B is the next unit, so that A's double weight shows in every ratio
        other = [] if len(units) == 1 else [position - 1]
        drawn = task.new_metric()
        for part in [position, position, *other]:
            drawn.merge(closed[part])
        copies = [(_renamed(task, sample, "#copy"), score) for sample, score in unit]
        expected = _metric(task, unit + copies + [pair for part in other for pair in units[part]])
        assert drawn.compute() == pytest.approx(expected.compute()), unit[0][0].id
        if isinstance(drawn, CountingMetric):  # the sums themselves, not only the ratios they give
            assert isinstance(expected, CountingMetric)
            assert +drawn.final_sums() == +expected.final_sums(), unit[0][0].id


def _mme_pairs(rights: list[tuple[bool, bool]]) -> list[tuple[Sample, dict[str, Any]]]:
    """MME existence images, two questions each, with the given (first, second) question verdicts."""
    pairs = []
    for image, verdicts in enumerate(rights):
        for question, right in enumerate(verdicts):
            meta = {"category": "existence", "image_key": f"img{image}.png"}
            pairs.append((Sample(id=f"img{image}.png#{question}", index=2 * image + question, target="yes", meta=meta),
                          {"pred": "yes" if right else "no", "correct": right}))
    return pairs


def _records(pairs: list[tuple[Sample, dict[str, Any]]]) -> dict[str, SampleRecord]:
    return {
        sample.id: SampleRecord(config_hash="x", task="t", id=sample.id, row=sample.index, meta=sample.meta, score=score)
        for sample, score in pairs
    }


def test_a_draw_of_a_a_b_counts_image_a_twice() -> None:
    task = MmeTask()
    pairs = _mme_pairs([(True, True), (True, False)])  # A all right, B not
    units = [[pairs[0][0], pairs[1][0]], [pairs[2][0], pairs[3][0]]]
    draws = UnitDraws(task, units, _records(pairs))
    # acc = 5/6 right questions, acc+ = 2/3 images all right; keyed by image, (A, A, B) gave 50 for acc+
    assert draws.headline(np.array([2.0, 1.0])) == pytest.approx(100 * 5 / 6 + 100 * 2 / 3)
    assert draws.headline(np.array([1.0, 1.0])) == pytest.approx(75.0 + 50.0)


@pytest.mark.parametrize(
    "task", [MmeTask(), MmbenchTask(MmbenchOptions(circular=True)), MmbenchTask()], ids=["mme", "mmbench-circ", "mmbench"]
)
def test_a_weighted_draw_equals_the_drawn_units_renamed_apart(task: Task) -> None:
    rng = np.random.default_rng(3)
    if isinstance(task, MmeTask):
        pairs = _mme_pairs([(bool(a), bool(b)) for a, b in rng.integers(0, 2, size=(12, 2))])
    else:
        samples = task.samples(task.demo_rows())
        pairs = [(s, task.score(s, TextOutput(str(s.target) if rng.random() < 0.6 else "zzz"))) for s in samples]
    groups: dict[str, list[Sample]] = {}
    for sample, _ in pairs:
        groups.setdefault(task.resampling_unit(sample), []).append(sample)
    units = list(groups.values())
    scores = {sample.id: score for sample, score in pairs}
    draws = UnitDraws(task, units, _records(pairs))
    for _ in range(5):
        weights = np.bincount(rng.integers(0, len(units), size=len(units)), minlength=len(units))
        drawn = [
            (_renamed(task, sample, f"#{unit}.{copy}"), scores[sample.id])
            for unit, count in enumerate(weights)
            for copy in range(count)
            for sample in units[unit]
        ]
        expected = _metric(task, drawn).compute()[task.headline]
        assert draws.headline(weights.astype(float)) == pytest.approx(expected)


def test_flips_read_geneval_scores_on_their_own_scale() -> None:
    task = TASKS.get("geneval")()

    def prompt(right: int) -> dict[str, Any]:
        images = [{"image": n, "correct": n < right, "reason": "", "details": {}} for n in range(4)]
        return {"images": images, "correct": right, "total": 4}

    sample = Sample(id="a photo of a cat", index=0, target=None, meta={"tag": "single_object", "prompt_key": "k"})
    other = replace(sample, id="a photo of a dog", index=1)
    base = _records([(sample, prompt(4)), (other, prompt(1))])
    cand = _records([(sample, prompt(1)), (other, prompt(2))])
    # 4/4 -> 1/4 right images is a regression even though both prompts still have a right image
    assert sample_flips(task, [sample.id, other.id], base, cand) == (1, 1)
    failed = _records([(sample, {"images": [], "correct": 0, "total": 0}), (other, prompt(2))])
    assert sample_flips(task, [sample.id, other.id], base, failed) == (1, 0)  # no images: no value, no flip


def test_scores_of_another_shape_than_declared_are_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        MmeTask.Score.model_validate({"pred": "yes"})
    with pytest.raises(ValidationError):
        TASKS.get("geneval").Score.model_validate({"correct": 3})
