"""KID as clean-fid computes it (its own `kernel_distance` on the same features), the disk-backed rows it reads,
and the seeded bootstrap interval of a mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cleanfid import fid as cleanfid

from janus_eval.rules import kernel_distance as kd
from janus_eval.rules.mean_interval import mean_interval


@pytest.mark.parametrize(
    ("n_ref", "n_gen", "dim", "subsets", "max_size", "seed"),
    [(60, 45, 16, 20, 1000, 0), (90, 120, 8, 7, 50, 3)],  # m = both sides' minimum; m = max_subset_size
)
def test_kid_equals_clean_fids_kernel_distance(
    n_ref: int,
    n_gen: int,
    dim: int,
    subsets: int,
    max_size: int,
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(seed)
    reference, generated = rng.normal(size=(n_ref, dim)), rng.normal(size=(n_gen, dim)) + 0.2
    np.random.seed(seed)  # clean-fid draws from numpy's global legacy state
    expected = cleanfid.kernel_distance(reference, generated, num_subsets=subsets, max_subset_size=max_size)
    settings = kd.KidSettings(subsets, max_size, seed)
    assert kd.kernel_distance(reference, generated, settings) == pytest.approx(expected, rel=1e-12)
    # the rows read from a disk-backed store and from per-group tables concatenated: the same number
    monkeypatch.setattr(kd, "BUFFER_ROWS", 16)
    store = kd.RowStore()
    for start in range(0, n_gen, 7):
        store.append(generated[start : start + 7])
    assert store._on_file > 0 and len(store) == n_gen
    np.save(tmp_path / "rest.npy", reference[20:])
    groups = kd.ConcatRows([reference[:20], kd.NpyRows(tmp_path / "rest.npy")])
    assert kd.kernel_distance(groups, store, settings) == pytest.approx(expected, rel=1e-12)
    # clean-fid sums float32 features in float32; here in float64
    ref32, gen32 = reference.astype(np.float32), generated.astype(np.float32)
    np.random.seed(seed)
    expected32 = cleanfid.kernel_distance(ref32, gen32, num_subsets=subsets, max_subset_size=max_size)
    assert kd.kernel_distance(ref32, gen32, settings) == pytest.approx(expected32, rel=1e-4)


def test_mean_interval_is_seeded_and_says_when_it_has_nothing() -> None:
    values = list(np.random.default_rng(1).normal(50, 5, size=200))
    mean, low, high = mean_interval(values)
    assert mean == pytest.approx(np.mean(values)) and low < mean < high and (high - low) < 4
    assert mean_interval(values) == (mean, low, high)
    assert mean_interval([]) == (None, None, None) and mean_interval([3.0]) == (3.0, None, None)


def test_a_row_store_keeps_arrival_order_and_can_extend_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kd, "BUFFER_ROWS", 4)
    rows = np.arange(20, dtype=np.float32).reshape(10, 2)
    store = kd.RowStore()
    for row in rows:
        store.append(row)
    store.extend(store)  # a bootstrap draw of every unit twice
    assert store.shape == (20, 2)
    np.testing.assert_array_equal(store[np.arange(20)], np.concatenate([rows, rows]))
    with pytest.raises(ValueError, match="expected rows of 2 features"):
        store.append(np.zeros((1, 3), dtype=np.float32))
