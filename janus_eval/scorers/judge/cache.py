"""The judge's persistent response cache: one JSON file per request, keyed by a hash of everything that
determines the reply (endpoint, model, messages, sampling settings, draw number).

Files are written atomically (temporary file, then rename), so threads, ranks and concurrent runs may
share a folder. A cached reply is never asked for again: a rerun or a rescore pays nothing twice.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

from janus_eval.data.hashing import hash_json


def request_key(request: Mapping[str, Any]) -> str:
    """The cache key of a request description (JSON-serialisable; key order does not matter)."""
    return hash_json(dict(request))


class JudgeCache:
    """Judge replies under `root/<key[:2]>/<key>.json`; each file holds the request and its reply."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached reply of a request key, or None (an unreadable file counts as absent)."""
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        reply = entry.get("reply") if isinstance(entry, dict) else None
        return reply if isinstance(reply, dict) else None

    def put(self, key: str, request: Mapping[str, Any], reply: Mapping[str, Any]) -> None:
        """Stores a reply (the last writer of equal content wins)."""
        self._write(self._path(key), {"request": dict(request), "reply": dict(reply)})

    def has_marker(self, name: str) -> bool:
        return (self.root / "endpoints" / f"{name}.json").is_file()

    def set_marker(self, name: str, content: Mapping[str, Any]) -> None:
        """Remembers that an endpoint answered for a model (so later runs need not check it first)."""
        self._write(self.root / "endpoints" / f"{name}.json", dict(content))

    @staticmethod
    def _write(path: Path, content: Mapping[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(content, out, ensure_ascii=False, sort_keys=True)
            os.chmod(staging, 0o644)
            os.replace(staging, path)
        finally:
            if os.path.exists(staging):
                os.unlink(staging)
