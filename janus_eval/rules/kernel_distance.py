"""The kernel inception distance (KID) as clean-fid 0.1.35 computes it (`cleanfid.fid.kernel_distance`).

KID is the unbiased estimate of the squared MMD between generated and reference features under the cubic
polynomial kernel k(x, y) = (xᵀy / d + 1)³ (degree 3, gamma 1/d, coef 1), averaged over `num_subsets` random
subsets of m = min(n_gen, n_ref, max_subset_size) rows of each side drawn without replacement. clean-fid draws
them from numpy's global legacy random state; here a `np.random.RandomState(seed)` makes the same draws
(`np.random.seed(seed)` before clean-fid's call gives its number). The rows are read one subset at a time
(2·m rows in memory), from any row source: an array, a memory-mapped file, or a `RowStore`. Pure numpy.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

import numpy as np

# clean-fid's `kernel_distance(feats1, feats2, num_subsets=100, max_subset_size=1000)` defaults
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
# rows a RowStore keeps in memory before it appends them to its file (512 x 2048 float32 = 4 MiB)
BUFFER_ROWS = 512


class Rows(Protocol):
    """A table of feature rows readable by index (a numpy array or memmap, a RowStore, several concatenated)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, index: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class KidSettings:
    """clean-fid's KID parameters and the seed of its subset draws."""

    num_subsets: int = KID_SUBSETS
    max_subset_size: int = KID_SUBSET_SIZE
    seed: int = 0


def subset_size(n_generated: int, n_reference: int, max_subset_size: int = KID_SUBSET_SIZE) -> int:
    """clean-fid's m = min(min(n1, n2), max_subset_size)."""
    return min(n_generated, n_reference, max_subset_size)


def _cubic_kernel(x: np.ndarray, y: np.ndarray, dim: int) -> np.ndarray:
    return (x @ y.T / dim + 1.0) ** 3


def kernel_distance(reference: Rows, generated: Rows, settings: KidSettings = KidSettings()) -> float:
    """KID between reference and generated feature rows, as `cleanfid.fid.kernel_distance(reference, generated)`.

    clean-fid's argument order is kept: per subset it draws the generated rows (its `feats2`) first, then the
    reference rows (`feats1`), each with `choice(n, m, replace=False)` of the legacy random state. Each subset's
    rows are read sorted (sequential reads from a file) and put back in drawn order, and the kernel is summed
    in float64 (clean-fid sums in the features' dtype, float32 for its Inception: ~1e-6 relative apart).

    Raises:
        ValueError: fewer than 2 rows on a side, or the two sides' dimensions differ.
    """
    n_ref, n_gen = int(reference.shape[0]), int(generated.shape[0])
    dim = int(reference.shape[1])
    if int(generated.shape[1]) != dim:
        raise ValueError(f"feature dimensions differ: reference {dim}, generated {generated.shape[1]}")
    m = subset_size(n_gen, n_ref, settings.max_subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 rows on each side (reference {n_ref}, generated {n_gen})")
    state = np.random.RandomState(settings.seed)
    total = 0.0
    for _ in range(settings.num_subsets):
        x = _read(generated, state.choice(n_gen, m, replace=False))
        y = _read(reference, state.choice(n_ref, m, replace=False))
        within = _cubic_kernel(x, x, dim) + _cubic_kernel(y, y, dim)
        between = _cubic_kernel(x, y, dim)
        total += (within.sum() - np.trace(within)) / (m - 1) - between.sum() * 2 / m
    return float(total / settings.num_subsets / m)


def _read(rows: Rows, drawn: np.ndarray) -> np.ndarray:
    """The drawn rows in drawn order as float64, read in ascending index order."""
    order = np.argsort(drawn)
    block = np.asarray(rows[drawn[order]], dtype=np.float64)
    out = np.empty_like(block)
    out[order] = block
    return out


class ConcatRows:
    """Several row tables read as one (MJHQ's per-category reference features, in category order)."""

    def __init__(self, parts: Sequence[Rows]) -> None:
        if not parts:
            raise ValueError("no row tables to concatenate")
        self.parts = list(parts)
        self.starts = np.cumsum([0, *(int(part.shape[0]) for part in self.parts)])
        self.dim = int(self.parts[0].shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.starts[-1]), self.dim

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index)
        out = np.empty((len(index), self.dim), dtype=np.float64)
        part_of = np.searchsorted(self.starts, index, side="right") - 1
        for number, part in enumerate(self.parts):
            chosen = np.flatnonzero(part_of == number)
            if len(chosen):
                out[chosen] = part[index[chosen] - self.starts[number]]
        return out


class NpyRows:
    """The rows of a 2-D `.npy` file, read by index through a memory map opened for each read and closed after it
    (a map held open keeps every page it touched resident: reading 100 subsets would map the whole file)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        header = np.load(path, mmap_mode="r", allow_pickle=False)
        if header.ndim != 2:
            raise ValueError(f"{path}: expected a 2-D array of feature rows, got shape {header.shape}")
        self.shape: tuple[int, int] = (int(header.shape[0]), int(header.shape[1]))
        self.dtype = header.dtype
        del header

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        table = np.load(self.path, mmap_mode="r", allow_pickle=False)
        rows = np.array(table[np.asarray(index)])
        del table
        return rows


class RowStore:
    """Feature rows appended one block at a time and read back by index, with bounded memory.

    Up to `BUFFER_ROWS` rows stay in memory; beyond that they go to an anonymous temporary file (deleted when
    the store is), so holding every generated image's features for KID costs disk, not memory. Rows keep
    their dtype and their order of arrival (a sample added twice is there twice, as a bootstrap draw needs).
    """

    def __init__(self) -> None:
        self.dim: int | None = None
        self.dtype: np.dtype | None = None
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._file: IO[bytes] | None = None
        self._on_file = 0

    @property
    def shape(self) -> tuple[int, int]:
        return self._on_file + self._buffered, self.dim or 0

    def __len__(self) -> int:
        return self._on_file + self._buffered

    def append(self, rows: np.ndarray) -> None:
        """Adds the rows of a (n, D) block (the first block fixes D and the dtype)."""
        block = np.atleast_2d(np.asarray(rows))
        if self.dim is None:
            self.dim, self.dtype = int(block.shape[1]), block.dtype
        if block.shape[1] != self.dim:
            raise ValueError(f"expected rows of {self.dim} features, got {block.shape[1]}")
        self._buffer.append(block.astype(self.dtype, copy=False))
        self._buffered += block.shape[0]
        if self._buffered >= BUFFER_ROWS:
            self._spill()

    def _spill(self) -> None:
        if not self._buffered:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="janus-eval-rows-")
        self._file.seek(0, os.SEEK_END)
        self._file.write(np.ascontiguousarray(np.concatenate(self._buffer)).tobytes())
        self._on_file += self._buffered
        self._buffer, self._buffered = [], 0

    def blocks(self) -> Iterator[np.ndarray]:
        """Every row present now, in order, as blocks of at most `BUFFER_ROWS` (read from the file one block at a
        time); rows appended meanwhile are not included, so a store can extend itself."""
        on_file, buffered = self._on_file, list(self._buffer)
        for start in range(0, on_file, BUFFER_ROWS):
            yield self[np.arange(start, min(start + BUFFER_ROWS, on_file))]
        yield from buffered

    def extend(self, other: RowStore) -> None:
        """Appends every row of another store (extending a store by itself doubles it)."""
        for block in other.blocks():
            self.append(block)

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        if self.dim is None or self.dtype is None:
            raise IndexError("the store is empty")
        out = np.empty((len(index), self.dim), dtype=self.dtype)
        from_file = index < self._on_file
        if from_file.any():
            assert self._file is not None
            self._file.flush()
            table = np.memmap(self._file, dtype=self.dtype, mode="r", shape=(self._on_file, self.dim))
            out[from_file] = table[index[from_file]]
            del table
        if (~from_file).any():
            buffered = np.concatenate(self._buffer)
            out[~from_file] = buffered[index[~from_file] - self._on_file]
        return out
