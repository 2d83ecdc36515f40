"""Stable hashes of JSON-like data and of files: config hashes, data fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from janus_eval.data.file_writes import write_atomically
from janus_eval.errors import UserError


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


def git_blob_id(path: Path) -> str:
    """The id git gives the file's content (`git hash-object`): sha1 over `blob <size>\\0` and the bytes."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    _update_with_file(digest, path)
    return digest.hexdigest()


FILE_HASH_CACHE_NAME = "file-hashes.json"


def cached_file_sha256(path: Path) -> str:
    """sha256 of a file's content, remembered per file version in `cache_root()/file-hashes.json`.

    For multi-GB weights that are fingerprinted on every run: a file is hashed again only when
    its absolute path, size, mtime_ns or ctime_ns changes (ctime cannot be set back, unlike an mtime
    kept by `cp -p` or `rsync -a`). The cache is best effort: a missing, corrupt or unwritable
    cache file only costs a re-hash.
    """
    from janus_eval.data.cache import cache_root

    path = Path(path).resolve()
    version = _file_version(path)
    cache_file = cache_root() / FILE_HASH_CACHE_NAME
    entries = _read_hash_cache(cache_file)
    entry = entries.get(str(path))
    if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
        if all(entry.get(key) == value for key, value in version.items()):
            return entry["sha256"]
    digest = file_sha256(path)
    if _file_version(path) == version:  # not rewritten while we read it
        entries = {name: old for name, old in _read_hash_cache(cache_file).items() if os.path.exists(name)}
        entries[str(path)] = {**version, "sha256": digest}
        _write_hash_cache(cache_file, entries)
    return digest


def files_fingerprint(files: Sequence[Path], root: Path) -> str:
    """sha256 over the names (relative to `root`) and content digests of `files`, order-independent.

    For reference image folders (COCO val2014: 40,504 files, 6 GB): the content digests are remembered in
    `cache_root()/fingerprints/<root digest>.json` per file version (size, mtime_ns, ctime_ns), so only new or
    changed files are read again; the memo is best effort, like `cached_file_sha256`'s.
    """
    from janus_eval.data.cache import cache_root

    root = Path(root)
    memo_file = cache_root() / "fingerprints" / f"{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]}.json"
    memo = _read_hash_cache(memo_file)
    fresh: dict[str, Any] = {}
    digest = hashlib.sha256()
    for path in sorted(Path(f) for f in files):  # files may be symlinks out of `root`: names stay relative
        name = path.relative_to(root).as_posix()
        version = _file_version(path)
        entry = memo.get(name)
        if isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and all(
            entry.get(key) == value for key, value in version.items()
        ):
            content = entry["sha256"]
        else:
            content = file_sha256(path)
        fresh[name] = {**version, "sha256": content}
        digest.update(name.encode() + b"\x00" + content.encode() + b"\x00")
    if fresh != memo:
        _write_hash_cache(memo_file, fresh)
    return digest.hexdigest()


def _file_version(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns}


def _read_hash_cache(cache_file: Path) -> dict[str, Any]:
    try:
        entries = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _write_hash_cache(cache_file: Path, entries: dict[str, Any]) -> None:
    """Atomic replace, so concurrent runs (e.g. torchrun ranks) never read a half-written file."""
    try:
        write_atomically(cache_file, json.dumps(entries, indent=1, sort_keys=True), "the checksum cache")
    except (OSError, UserError):
        pass  # an unwritable (or full) cache only means hashing again next time


def _update_with_file(digest: "hashlib._Hash", path: Path) -> None:
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
