"""Sidecar arrays: written beside a sample's outputs, referenced by sha256, read back exactly or refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from janus_eval.data.sidecars import ArraySidecar, is_reference, read_sidecars, sidecars_intact, write_sidecars
from janus_eval.errors import UserError


def test_sidecars_round_trip_and_changed_files_are_refused(tmp_path: Path) -> None:
    features = np.random.default_rng(0).normal(size=2048).astype(np.float32)
    score = {"features": ArraySidecar(features), "category": "food"}
    recorded = write_sidecars(score, tmp_path / "images" / "00007", "abc123", tmp_path)
    reference = recorded["features"]
    assert is_reference(reference) and recorded["category"] == "food"
    assert reference["sidecar"] == "images/00007/features.abc123.npy"
    assert reference["shape"] == [2048] and reference["dtype"] == "float32"
    assert (tmp_path / reference["sidecar"]).stat().st_size < 2048 * 4 + 200  # raw float32 and a small header
    again = read_sidecars(recorded, tmp_path)
    assert np.array_equal(again["features"], features) and again["features"].dtype == np.float32
    assert sidecars_intact(recorded, tmp_path) and sidecars_intact({"correct": True}, tmp_path)

    (tmp_path / reference["sidecar"]).write_bytes((tmp_path / reference["sidecar"]).read_bytes()[:-4] + b"\0\0\0\0")
    assert not sidecars_intact(recorded, tmp_path)
    with pytest.raises(UserError, match="features of sample 7.*changed since it was recorded"):
        read_sidecars(recorded, tmp_path, what="sample 7")
    (tmp_path / reference["sidecar"]).unlink()
    assert not sidecars_intact(recorded, tmp_path)
