"""The Fréchet distance and its streaming statistics: clean-fid's numbers, exact merges, the FID metric."""

from __future__ import annotations

import numpy as np
import pytest
from cleanfid import fid as cleanfid

from janus_eval.api import Sample
from janus_eval.rules.fid_metric import FLUSH_ROWS, FrechetMetric, ReferenceStatistics
from janus_eval.rules.frechet import FeatureStats, fid_from_stats, frechet_distance


def _features(rng: np.random.Generator, n: int, dim: int, shift: float = 0.0) -> np.ndarray:
    mixing = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    return (rng.normal(size=(n, dim)) @ mixing + shift).astype(np.float32)


def test_sums_give_numpys_mean_and_covariance() -> None:
    feats = _features(np.random.default_rng(0), 300, 16, shift=0.5)
    stats = FeatureStats.of(feats)
    assert stats.count == 300
    np.testing.assert_allclose(stats.mean(), feats.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        stats.covariance(), np.cov(feats.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-14
    )
    with pytest.raises(ValueError, match="at least 2"):
        FeatureStats.of(feats[:1]).covariance()


@pytest.mark.parametrize(("n_gen", "n_ref", "dim"), [(400, 300, 32), (20, 25, 64), (6, 9, 32)])
def test_distance_matches_clean_fid(n_gen: int, n_ref: int, dim: int) -> None:
    """Full rank, and fewer images than dimensions (singular covariances): clean-fid's own function."""
    rng = np.random.default_rng(n_gen)
    generated, reference = _features(rng, n_gen, dim), _features(rng, n_ref, dim, shift=0.3)
    expected = cleanfid.fid_from_feats(generated.astype(np.float64), reference.astype(np.float64))
    ours = fid_from_stats(FeatureStats.of(generated), FeatureStats.of(reference))
    assert ours == pytest.approx(expected, rel=1e-6)
    assert ours > 0


def test_distance_of_a_set_to_itself_is_zero_and_shapes_are_checked() -> None:
    stats = FeatureStats.of(_features(np.random.default_rng(1), 200, 8))
    assert abs(fid_from_stats(stats, stats)) < 1e-9
    with pytest.raises(ValueError, match="mismatched shapes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_two_shards_merged_equal_one_pass() -> None:
    feats = _features(np.random.default_rng(2), 500, 24)
    whole = FeatureStats.of(feats)
    first, second = FeatureStats.of(feats[:180]), FeatureStats.of(feats[180:])
    first.merge(second)
    assert first.count == whole.count
    np.testing.assert_allclose(first.total, whole.total, rtol=1e-13)
    np.testing.assert_allclose(first.outer, whole.outer, rtol=1e-13)
    reference = FeatureStats.of(_features(np.random.default_rng(3), 400, 24, shift=0.2))
    assert fid_from_stats(first, reference) == pytest.approx(fid_from_stats(whole, reference), rel=1e-12)


def test_saved_sums_read_back_exactly() -> None:
    stats = FeatureStats.of(_features(np.random.default_rng(4), 50, 8))
    again = FeatureStats.from_arrays(stats.to_arrays())
    assert (
        again.count == stats.count
        and np.array_equal(again.outer, stats.outer)
        and np.array_equal(again.total, stats.total)
    )
    arrays = {**stats.to_arrays(), "format": np.array(99)}
    with pytest.raises(ValueError, match="format 99"):
        FeatureStats.from_arrays(arrays)


# ----------------------------------------------------------------------------- the metric


def _samples(feats: np.ndarray, groups: list[str]) -> list[tuple[Sample, dict]]:
    return [
        (Sample(id=str(i), index=i, target=None, meta={"category": groups[i % len(groups)]}), {"features": row})
        for i, row in enumerate(feats)
    ]


def _reference(dim: int, groups: list[str]) -> ReferenceStatistics:
    rng = np.random.default_rng(7)
    return ReferenceStatistics({g: FeatureStats.of(_features(rng, 120, dim, shift=0.1)) for g in groups})


def test_metric_gives_overall_and_per_group_fid_and_merges_shards() -> None:
    groups = ["animals", "food"]
    feats = _features(np.random.default_rng(5), FLUSH_ROWS + 90, 12)  # more than one block of rows
    reference = _reference(12, groups)
    items = _samples(feats, groups)

    one = FrechetMetric(lambda: reference, group_key="category")
    for sample, score in items:
        one.update(sample, score)
    shards = [FrechetMetric(lambda: reference, group_key="category") for _ in range(3)]
    for position, (sample, score) in enumerate(items):
        shards[position % 3].update(sample, score)
    merged = FrechetMetric(lambda: reference, group_key="category")
    for shard in shards:
        merged.merge(shard)

    expected = one.compute()
    assert expected["num_images"] == len(feats) and expected["num_reference"] == 240
    by_hand = fid_from_stats(FeatureStats.of(feats), reference.overall())
    assert expected["fid"] == pytest.approx(by_hand, rel=1e-10)
    animals = fid_from_stats(FeatureStats.of(feats[0::2]), reference.groups["animals"])
    assert expected["fid_animals"] == pytest.approx(animals, rel=1e-10)
    assert merged.compute() == pytest.approx(expected, rel=1e-10)


def test_metric_counts_a_unit_drawn_twice_twice_and_skips_failed_samples() -> None:
    feats = _features(np.random.default_rng(6), 40, 8)
    reference = _reference(8, ["all"])
    items = _samples(feats, ["x"])
    twice = FrechetMetric(lambda: reference)
    for sample, score in items + items:
        twice.update(sample, score)
    unit = FrechetMetric(lambda: reference)
    for sample, score in items:
        unit.update(sample, score)
    unit.update(Sample(id="failed", index=99, target=None), {"features": None})
    unit.merge(unit)
    assert unit.compute() == pytest.approx(twice.compute(), rel=1e-12)
    assert unit.compute()["num_images"] == 80


def test_metric_of_too_few_images_has_no_fid() -> None:
    reference = _reference(8, ["all"])

    def unavailable() -> ReferenceStatistics:
        raise AssertionError("the reference is not needed without images")

    assert FrechetMetric(unavailable).compute() == {"fid": None, "num_images": 0.0, "num_reference": None}
    metric = FrechetMetric(lambda: reference)
    sample, score = _samples(_features(np.random.default_rng(8), 1, 8), ["x"])[0]
    metric.update(sample, score)
    assert metric.compute() == {"fid": None, "num_images": 1.0, "num_reference": 120.0}
