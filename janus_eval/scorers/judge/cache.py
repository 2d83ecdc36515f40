"""The judge's persistent response cache: one JSON file per request, keyed by a hash of everything that
determines the reply (endpoint, model, messages, sampling settings, draw number).

Files are written atomically (temporary file, then rename), so threads, ranks and concurrent runs may
share a folder. A cached reply is never asked for again: a rerun or a rescore pays nothing twice. An image sent
as a base64 data URL is kept in the file by its sha256 only (the key covers the whole request), so a vision
judge's cache holds no copy of every image it was shown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

from janus_eval.data.hashing import hash_json

DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.DOTALL)


def request_key(request: Mapping[str, Any]) -> str:
    """The cache key of a request description (JSON-serialisable; key order does not matter)."""
    return hash_json(dict(request))


def stored_request(value: Any) -> Any:
    """A request as its cache file keeps it: every base64 data URL replaced by `data:<type>;sha256=<digest of
    the decoded bytes>`, the rest as it is."""
    if isinstance(value, Mapping):
        return {key: stored_request(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [stored_request(item) for item in value]
    if isinstance(value, str) and value.startswith("data:"):
        found = DATA_URL.fullmatch(value)
        if found is not None:
            try:
                data = base64.b64decode(found.group(2), validate=True)
            except (binascii.Error, ValueError):
                data = found.group(2).encode()
            return f"data:{found.group(1)};sha256={hashlib.sha256(data).hexdigest()}"
    return value


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
        """Stores a reply (the last writer of equal content wins), with its request as `stored_request` keeps it."""
        self._write(self._path(key), {"request": stored_request(request), "reply": dict(reply)})

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
