"""Stable hashes of JSON-like data and of files: config hashes, data fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes_sha256__": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return repr(value)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace; bytes are replaced by their sha256."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_default, ensure_ascii=False)


def hash_json(value: Any) -> str:
    """sha256 hex digest of the canonical JSON form of `value`."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def hash_files(paths: Iterable[Path], root: Path) -> str:
    """sha256 over the relative names and contents of files (order-independent)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode() + b"\x00")
        _update_with_file(digest, path)
        digest.update(b"\x00")
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    _update_with_file(digest, path)
    return digest.hexdigest()


def _update_with_file(digest: "hashlib._Hash", path: Path) -> None:
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
