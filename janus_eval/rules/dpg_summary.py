"""DPG-Bench's columns from scored grids, as the official `compute_dpg_bench.py` aggregates them.

Overall ("DPG-Bench score") = mean of the image scores x 100; an L2 category = mean of its pooled
(image, question) scores x 100; an L1 category pools the scores of its L2 categories. Images the official
script drops and failed generations count in no mean; both are counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from janus_eval.api import Metric, Sample
from janus_eval.rules.dpg_bench import L1_CATEGORIES, category_l1


class DpgMetric(Metric):
    """Sums and counts per image and per L2 category (keyless, so a unit drawn twice counts twice); merges exactly.

    `update` takes a score with "score" (the image score, None when dropped or failed), "categories" (a list of
    [L2 category, score] pairs), "dropped" (a reason or None) and "failed" (the generation failed).
    """

    def __init__(self) -> None:
        self.image_sum = 0.0
        self.images = 0
        self.category_sum: Counter[str] = Counter()
        self.category_count: Counter[str] = Counter()
        self.dropped = 0
        self.failed = 0

    def update(self, sample: Sample, score: Mapping[str, Any]) -> None:
        self.add(score)

    def add(self, score: Mapping[str, Any]) -> None:
        """Adds one grid's score (see the class docstring)."""
        if score.get("failed"):
            self.failed += 1
            return
        if score.get("score") is None:
            self.dropped += 1
            return
        self.add_pairs(float(score["score"]), score["categories"])

    def add_pairs(self, image_score: float, pairs: Iterable[tuple[str, float] | list[Any]]) -> None:
        """Adds a scored image: its score and its (L2 category, question score) pairs."""
        self.image_sum += image_score
        self.images += 1
        for category, value in pairs:
            self.category_sum[str(category)] += float(value)
            self.category_count[str(category)] += 1

    def merge(self, other: Metric) -> None:
        if not isinstance(other, DpgMetric):
            raise TypeError(f"cannot merge {type(other).__name__} into DpgMetric")
        self.image_sum += other.image_sum
        self.images += other.images
        self.category_sum.update(other.category_sum)
        self.category_count.update(other.category_count)
        self.dropped += other.dropped
        self.failed += other.failed

    def compute(self) -> dict[str, float | None]:
        """The five L1 columns and `overall` (percent, None without images), `l2/<category>` for every L2
        category seen, and the counts `scored_images`, `dropped_images`, `failed_generations`."""
        l1_sum: Counter[str] = Counter()
        l1_count: Counter[str] = Counter()
        for category, count in self.category_count.items():
            l1_sum[category_l1(category)] += self.category_sum[category]
            l1_count[category_l1(category)] += count
        result: dict[str, float | None] = {
            l1: 100.0 * l1_sum[l1] / l1_count[l1] if l1_count[l1] else None
            for l1 in (*L1_CATEGORIES, *sorted(set(l1_count) - set(L1_CATEGORIES)))
        }
        result["overall"] = 100.0 * self.image_sum / self.images if self.images else None
        for category in sorted(self.category_count):
            result[f"l2/{category}"] = 100.0 * self.category_sum[category] / self.category_count[category]
        result["scored_images"] = float(self.images)
        result["dropped_images"] = float(self.dropped)
        result["failed_generations"] = float(self.failed)
        return result
