"""The mean of per-sample values with a seeded percentile bootstrap interval (e.g. the FID tasks' CLIP score)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 1000
SEED = 0
# resamples drawn at once (a block of 100 x 30,000 indices is 24 MB)
BLOCK = 100


def mean_interval(
    values: Sequence[float], confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high): the mean and the percentile interval of the means of `resamples` draws with
    replacement (numpy's default_rng(seed)); None for what the values cannot give (no value; one value has
    no interval)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return None, None, None
    mean = float(data.mean())
    if data.size < 2:
        return mean, None, None
    rng = np.random.default_rng(seed)
    means = np.concatenate(
        [data[rng.integers(0, data.size, size=(min(BLOCK, resamples - start), data.size))].mean(axis=1)
         for start in range(0, resamples, BLOCK)]
    )  # fmt: skip
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)
