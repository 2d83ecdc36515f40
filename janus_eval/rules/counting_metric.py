"""The one `merge` of the built-in metrics: keyless sums, and units of samples closed into them.

A metric's state is a Counter of statistics (a tuple naming the statistic and its category) -> sum. Samples
that a metric scores together (the two questions of an MME image, the rotated copies of an MMBench question,
the images of a GenEval prompt) form a *unit*: their sums collect under the unit's key until `close()` folds
each unit into the keyless sums (`close_unit`). Merging adds the sums and joins open units by key, so a unit
split across shards or resumed parts is still one unit; a paired bootstrap merges *closed* units, so a unit
drawn twice counts twice, as a resample must (torchmetrics' `dist_reduce_fx="sum"` states behave the same).
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping
from typing import Any

from janus_eval.api import Metric, Sample

Statistic = tuple[str, ...]
Sums = Counter[Statistic]


class CountingMetric(Metric):
    """A metric over keyless sums; subclasses say what a sample adds and how a finished unit folds in.

    `settings` are the options that change what the sums mean (e.g. POPE's unknown-answer rule): metrics of
    other settings never merge.
    """

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.sums: Sums = Counter()
        # unit key -> the sums of that unit's samples so far (not yet closed)
        self.open: dict[str, Sums] = {}

    # ------------------------------------------------------------------------- what subclasses define

    def unit_key(self, sample: Sample) -> str | None:
        """The unit a sample is scored with; None when a sample is scored alone (its sums are final at once)."""
        return None

    @abstractmethod
    def sample_sums(self, sample: Sample, score: Mapping[str, Any]) -> Mapping[Statistic, float]:
        """What one scored sample adds (to its unit's open sums, or to the final sums)."""

    def close_unit(self, unit: Sums) -> Mapping[Statistic, float]:
        """The final sums of a finished unit, from its samples' sums (by default: those sums)."""
        return unit

    @abstractmethod
    def compute_from(self, sums: Sums) -> dict[str, float | None]:
        """Metric name -> value from the final sums."""

    # ------------------------------------------------------------------------- the Metric interface

    def update(self, sample: Sample, score: Mapping[str, Any]) -> None:
        added = self.sample_sums(sample, score)
        key = self.unit_key(sample)
        if key is None:
            self.sums.update(added)
        else:
            self.open.setdefault(key, Counter()).update(added)

    def merge(self, other: Metric) -> None:
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        assert isinstance(other, CountingMetric)
        if other.settings != self.settings:
            raise ValueError(f"cannot merge {type(self).__name__} metrics built under different options")
        self.sums.update(other.sums)
        for key, unit in other.open.items():
            self.open.setdefault(key, Counter()).update(unit)

    def close(self) -> CountingMetric:
        """Folds every open unit into the keyless sums (the unit is finished); returns self."""
        for unit in self.open.values():
            self.sums.update(self.close_unit(unit))
        self.open.clear()
        return self

    def final_sums(self) -> Sums:
        """The sums with every open unit closed, leaving this metric as it is."""
        total = Counter(self.sums)
        for unit in self.open.values():
            total.update(self.close_unit(unit))
        return total

    def compute(self) -> dict[str, float | None]:
        return self.compute_from(self.final_sums())


def labels(sums: Sums, name: str, position: int = 1) -> list[str]:
    """The sorted labels at `position` of the statistics called `name` with a non-zero sum (the categories seen)."""
    return sorted({key[position] for key, value in sums.items() if key[0] == name and len(key) > position and value})
