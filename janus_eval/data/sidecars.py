"""Binary arrays saved beside a sample's outputs ("sidecars"), referenced from its record by path and sha256.

A task's score may hold an `ArraySidecar` (e.g. an image's 2048 Inception features). The engine writes it as
`<folder>/<score key>.<tag>.npy` and records `{"sidecar": path, "sha256": ..., "shape": [...], "dtype": ...}`
in its place, so the JSON records stay small while the arrays stay exact (numpy's .npy format, no pickle).
`read_sidecars` turns the references of one score back into arrays, checking each file's sha256.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from janus_eval.errors import UserError

REFERENCE_KEYS = frozenset({"sidecar", "sha256", "shape", "dtype"})


@dataclass
class ArraySidecar:
    """A score value kept in its own binary file next to the sample's outputs, not in the JSON record."""

    array: np.ndarray


def is_reference(value: Any) -> bool:
    """Whether a recorded score value is a sidecar reference (as `write_sidecars` records it)."""
    return isinstance(value, dict) and set(value) == REFERENCE_KEYS


def _encode(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(staging, 0o644)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.remove(staging)


def write_sidecars(score: Mapping[str, Any], folder: Path, tag: str, base: Path) -> dict[str, Any]:
    """The score as recorded: each `ArraySidecar` value written to `folder/<key>.<tag>.npy` (path relative
    to `base`) and replaced by its reference; other values unchanged."""
    recorded = dict(score)
    for key, value in score.items():
        if not isinstance(value, ArraySidecar):
            continue
        path = folder / f"{key}.{tag}.npy"
        data = _encode(value.array)
        _write_atomically(path, data)
        recorded[key] = {
            "sidecar": path.relative_to(base).as_posix(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "shape": list(value.array.shape),
            "dtype": str(value.array.dtype),
        }
    return recorded


def _read(reference: Mapping[str, Any], base: Path) -> np.ndarray | None:
    path = base / reference["sidecar"]
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != reference["sha256"]:
        return None
    return np.load(io.BytesIO(data), allow_pickle=False)


def sidecars_intact(score: Mapping[str, Any], base: Path) -> bool:
    """Whether every sidecar a recorded score references is there with its recorded sha256."""
    return all(_read(value, base) is not None for value in score.values() if is_reference(value))


def read_sidecars(score: Mapping[str, Any], base: Path, what: str = "a sample") -> dict[str, Any]:
    """The recorded score with its sidecar references replaced by the arrays they point to.

    Raises:
        UserError: a sidecar is missing or differs from the file that was recorded.
    """
    if not any(is_reference(value) for value in score.values()):
        return dict(score)
    resolved = dict(score)
    for key, value in score.items():
        if is_reference(value):
            array = _read(value, base)
            if array is None:
                raise UserError(
                    f"{base / value['sidecar']} ({key} of {what}) is missing or changed since it was recorded; "
                    "rerun the same command: the run extracts it again from the saved image"
                )
            resolved[key] = array
    return resolved
