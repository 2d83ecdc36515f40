"""The Fréchet distance between two Gaussians fitted to feature sets, from streaming sufficient statistics.

FID compares the mean and covariance of Inception features of generated and real images:
``d² = |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½)``. The statistics are kept as running sums (n, Σx, Σxxᵀ in
float64), so any number of images needs constant memory, and two parts (shards, resumed runs) merge by
adding their sums. Pure numpy: no model library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# file format of saved statistics (`FeatureStats.to_arrays`); bump when the arrays change meaning
STATS_FORMAT = 1


@dataclass
class FeatureStats:
    """Running sums of feature vectors: count n, Σx (D,) and Σxxᵀ (D, D), all float64.

    Mean and covariance follow numpy (`np.mean(axis=0)`, `np.cov(rowvar=False)`, i.e. divided by n − 1),
    as clean-fid computes them from a stacked feature matrix.
    """

    count: int
    total: np.ndarray
    outer: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> FeatureStats:
        return cls(0, np.zeros(dim, dtype=np.float64), np.zeros((dim, dim), dtype=np.float64))

    @classmethod
    def of(cls, features: np.ndarray) -> FeatureStats:
        """The statistics of an (n, D) feature matrix."""
        stats = cls.empty(np.asarray(features).shape[-1])
        stats.add(features)
        return stats

    @property
    def dim(self) -> int:
        return int(self.total.shape[0])

    def add(self, features: np.ndarray) -> None:
        """Adds the rows of an (n, D) feature matrix (any float dtype; summed in float64)."""
        rows = np.asarray(features, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"expected features of shape (n, {self.dim}), got {rows.shape}")
        self.count += rows.shape[0]
        self.total += rows.sum(axis=0)
        self.outer += rows.T @ rows

    def merge(self, other: FeatureStats) -> None:
        """Adds another part's sums (another shard, another part of a resumed run)."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of dimension {other.dim} into {self.dim}")
        self.count += other.count
        self.total += other.total
        self.outer += other.outer

    def copy(self) -> FeatureStats:
        return FeatureStats(self.count, self.total.copy(), self.outer.copy())

    def mean(self) -> np.ndarray:
        if self.count < 1:
            raise ValueError("no features: the mean is undefined")
        return self.total / self.count

    def covariance(self) -> np.ndarray:
        """The unbiased covariance (n − 1 in the denominator, numpy's `np.cov` default)."""
        if self.count < 2:
            raise ValueError(f"{self.count} feature vector(s): the covariance needs at least 2")
        mean = self.mean()
        covariance = (self.outer - self.count * np.outer(mean, mean)) / (self.count - 1)
        return (covariance + covariance.T) / 2

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The sums as named arrays (for `np.savez`); `from_arrays` reads them back exactly."""
        return {
            "format": np.array(STATS_FORMAT),
            "count": np.array(self.count, dtype=np.int64),
            "total": self.total,
            "outer": self.outer,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> FeatureStats:
        if int(arrays["format"]) != STATS_FORMAT:
            raise ValueError(f"statistics of format {int(arrays['format'])}, this version reads {STATS_FORMAT}")
        total = np.asarray(arrays["total"], dtype=np.float64)
        outer = np.asarray(arrays["outer"], dtype=np.float64)
        if outer.shape != (total.shape[0], total.shape[0]):
            raise ValueError(f"inconsistent statistics: Σx {total.shape}, Σxxᵀ {outer.shape}")
        return cls(int(arrays["count"]), total, outer)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (negative round-off clipped)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The squared Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂).

    tr((Σ₁Σ₂)^½) is computed as the sum of the square roots of the eigenvalues of the symmetric PSD matrix
    Σ₁^½ Σ₂ Σ₁^½, which has the same eigenvalues as Σ₁Σ₂. clean-fid (and pytorch-fid) take
    `scipy.linalg.sqrtm(Σ₁Σ₂)` instead, with an eps fallback for a singular product; both agree to ~1e-8
    relative when fewer images than dimensions make the covariances singular, and to ~1e-15 otherwise.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0], mu1.shape[0]):
        raise ValueError(f"mismatched shapes: μ {mu1.shape} / {mu2.shape}, Σ {sigma1.shape} / {sigma2.shape}")
    root = _psd_sqrt(sigma1)
    product = root @ sigma2 @ root
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fid_from_stats(generated: FeatureStats, reference: FeatureStats) -> float:
    """FID of two feature sets given their running sums (each needs at least 2 vectors)."""
    return frechet_distance(generated.mean(), generated.covariance(), reference.mean(), reference.covariance())
