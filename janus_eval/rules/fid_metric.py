"""The FID metric: per-group running feature sums of generated images, against reference statistics.

Sums are keyless (a sample added twice counts twice), so shards, resumed runs and bootstrap draws merge by
adding them. Feature rows are buffered and folded into the sums in blocks (one matrix product per block
instead of one outer product per image); memory stays constant in the number of images.

Two optional scores ride along: KID (clean-fid's `kernel_distance`), which needs every feature row, so the
rows also go to a disk-backed `RowStore`; and the CLIP score, a mean of per-image scores with a bootstrap
interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from janus_eval.api import Metric, Sample
from janus_eval.rules.frechet import FeatureStats, fid_from_stats
from janus_eval.rules.kernel_distance import ConcatRows, KidSettings, Rows, RowStore, kernel_distance
from janus_eval.rules.mean_interval import mean_interval

OVERALL = "all"
# feature rows kept before they are folded into the sums (512 x 2048 float32 = 4 MiB)
FLUSH_ROWS = 512


@dataclass
class ReferenceStatistics:
    """The real images' feature sums, per group (COCO: one group; MJHQ: its 10 categories), and for KID their
    feature rows per group (None when only the sums were loaded)."""

    groups: dict[str, FeatureStats]
    features: dict[str, Rows] | None = None
    _overall: FeatureStats | None = field(default=None, repr=False)

    def overall(self) -> FeatureStats:
        """The sums over every group (computed once)."""
        if self._overall is None:
            parts = list(self.groups.values())
            merged = parts[0].copy()
            for part in parts[1:]:
                merged.merge(part)
            self._overall = merged
        return self._overall

    @property
    def count(self) -> int:
        return sum(stats.count for stats in self.groups.values())

    def rows(self) -> Rows:
        """Every reference feature row, group after group in the groups' order (clean-fid's sorted file order)."""
        if self.features is None:
            raise ValueError("the reference statistics were loaded without their feature rows, which KID needs")
        return ConcatRows([self.features[group] for group in self.groups])


class FrechetMetric(Metric):
    """FID of the generated images against reference statistics, overall and per group.

    `update` takes a score whose "features" is the image's feature vector (None for a failed sample: left
    out); the group is `sample.meta[group_key]` (no key: one group). `compute` gives "fid" (all images),
    "fid_<group>" per group when there are groups, "num_images" and "num_reference"; a FID needs at least
    two images on each side (else None). `reference` is called only by `compute`, and only when there are
    images, so metrics of single samples (bootstrap units) and of failed runs never load the reference.

    With `kid` settings, "kid" is clean-fid's KID over all images (rows kept in arrival order, i.e. sample
    order); with `clip_score`, "clip_score" is the mean of the scores' "clip_score" values, with the 95%
    bootstrap interval "clip_score_ci_low" / "clip_score_ci_high".
    """

    def __init__(
        self,
        reference: Callable[[], ReferenceStatistics],
        group_key: str | None = None,
        kid: KidSettings | None = None,
        clip_score: bool = False,
    ) -> None:
        self.reference = reference
        self.group_key = group_key
        self.stats: dict[str, FeatureStats] = {}
        self.pending: dict[str, list[np.ndarray]] = {}
        self.kid = kid
        self.rows = RowStore() if kid is not None else None
        self.clip_score = clip_score
        self.clip_scores: list[float] = []

    def update(self, sample: Sample, score: Mapping[str, Any]) -> None:
        features = score.get("features")
        if features is None:
            return
        if not isinstance(features, np.ndarray):
            raise TypeError(f"sample {sample.id}: features must be an array (read the record's sidecar first)")
        group = str(sample.meta[self.group_key]) if self.group_key else OVERALL
        self._append(group, features.reshape(1, -1))
        if self.rows is not None:
            self.rows.append(features.reshape(1, -1))
        if self.clip_score and score.get("clip_score") is not None:
            self.clip_scores.append(float(score["clip_score"]))

    def _append(self, group: str, row: np.ndarray) -> None:
        rows = self.pending.setdefault(group, [])
        rows.append(row)
        if len(rows) >= FLUSH_ROWS:
            self._flush(group)

    def _flush(self, group: str) -> None:
        rows = self.pending.pop(group, [])
        if not rows:
            return
        block = np.concatenate(rows, axis=0)
        stats = self.stats.get(group)
        if stats is None:
            stats = self.stats[group] = FeatureStats.empty(block.shape[1])
        stats.add(block)

    def _flush_all(self) -> None:
        for group in list(self.pending):
            self._flush(group)

    def merge(self, other: Metric) -> None:
        if not isinstance(other, FrechetMetric):
            raise TypeError(f"cannot merge {type(other).__name__} into FrechetMetric")
        if (other.kid, other.clip_score) != (self.kid, self.clip_score):
            raise ValueError("cannot merge FID metrics of other optional scores (KID, CLIP score)")
        if other is self:
            self._flush_all()
        if self.rows is not None and other.rows is not None:
            self.rows.extend(other.rows)
        self.clip_scores.extend(list(other.clip_scores))
        # the other's pending rows are taken as rows (a one-sample unit of a bootstrap draw costs no D x D sum)
        for group, rows in [(g, list(r)) for g, r in other.pending.items()]:
            for row in rows:
                self._append(group, row)
        for group, stats in [(g, s.copy()) for g, s in other.stats.items()]:
            if group in self.stats:
                self.stats[group].merge(stats)
            else:
                self.stats[group] = stats

    def generated(self) -> dict[str, FeatureStats]:
        """The generated images' sums per group (pending rows folded in)."""
        self._flush_all()
        return self.stats

    def compute(self) -> dict[str, float | None]:
        groups = self.generated()
        if not groups:  # no image (every sample failed): no FID, and no reason to load the reference
            return {"fid": None, "num_images": 0.0, "num_reference": None, **self._optional(None)}
        reference = self.reference()
        overall = None
        for stats in groups.values():
            if overall is None:
                overall = stats.copy()
            else:
                overall.merge(stats)
        count = overall.count if overall is not None else 0
        metrics: dict[str, float | None] = {
            "fid": _fid(overall, reference.overall()),
            "num_images": float(count),
            "num_reference": float(reference.count),
        }
        if self.group_key:
            for group in sorted(reference.groups):
                metrics[f"fid_{group}"] = _fid(groups.get(group), reference.groups[group])
        metrics.update(self._optional(reference))
        return metrics

    def _optional(self, reference: ReferenceStatistics | None) -> dict[str, float | None]:
        """KID and the CLIP score (with its interval), when asked for; None where there is nothing to score."""
        metrics: dict[str, float | None] = {}
        if self.kid is not None and self.rows is not None:
            metrics["kid"] = None
            if reference is not None and len(self.rows) >= 2 and reference.count >= 2:
                metrics["kid"] = kernel_distance(reference.rows(), self.rows, self.kid)
        if self.clip_score:
            mean, low, high = mean_interval(self.clip_scores)
            metrics.update({"clip_score": mean, "clip_score_ci_low": low, "clip_score_ci_high": high})
        return metrics


def _fid(generated: FeatureStats | None, reference: FeatureStats) -> float | None:
    if generated is None or generated.count < 2 or reference.count < 2:
        return None
    return fid_from_stats(generated, reference)
