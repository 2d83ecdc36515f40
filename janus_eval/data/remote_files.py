"""Downloads benchmark files from their canonical URLs once, caches them and verifies their sha256.

Set `JANUS_EVAL_OFFLINE=1` to never touch the network (a missing file is then an error that says
where to put it).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from janus_eval.api import RemoteFile
from janus_eval.data.cache import cache_root
from janus_eval.data.file_writes import CACHE_REMEDY, disk_full_error, is_disk_full
from janus_eval.data.hashing import file_sha256, git_blob_id
from janus_eval.errors import UserError

DOWNLOAD_TIMEOUT_SECONDS = 60


def cached_path(file: RemoteFile, cache_dir: Path | None = None) -> Path:
    """Where the verified copy of `file` lives in the cache (keyed by its checksum; an unpinned file by its URL)."""
    if file.sha256:
        folder = file.sha256[:16]
    elif file.git_blob:
        folder = f"blob-{file.git_blob}"[:16]
    else:
        folder = f"unpinned-{hashlib.sha256(file.url.encode()).hexdigest()[:16]}"
    return (cache_dir if cache_dir is not None else cache_root() / "data") / folder / file.name


def matches(path: Path, file: RemoteFile) -> bool:
    """Whether the file at `path` has the content `file` names (its sha256, else its git blob id; an unpinned file
    matches any content, which its fingerprint then records)."""
    if file.sha256:
        return file_sha256(path) == file.sha256
    if file.git_blob:
        return git_blob_id(path) == file.git_blob
    return True


def _verify(path: Path, file: RemoteFile, where: str) -> None:
    if file.sha256:
        actual, expected, kind = file_sha256(path), file.sha256, "sha256"
    elif file.git_blob:
        actual, expected, kind = git_blob_id(path), file.git_blob, "git blob id"
    else:  # no published checksum: the copy's own sha256 is recorded as its fingerprint
        return
    if actual != expected:
        raise UserError(
            f"{where} has {kind} {actual}, expected {expected} (the canonical {file.name} from {file.url}); "
            "the file differs from the one the protocol fixes"
        )


def is_cached(file: RemoteFile, cache_dir: Path | None = None) -> bool:
    """Whether the verified copy of `file` is in the cache (no network)."""
    target = cached_path(file, cache_dir)
    return target.is_file() and matches(target, file)


def fetch(file: RemoteFile, *, local_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
    """A verified local copy of `file`: from `local_dir` if given, else the cache, else a download."""
    if local_dir is not None:
        path = local_dir / file.name
        if not path.is_file():
            raise UserError(f"{path} does not exist; download {file.url} to that path (or drop --data-dir)")
        _verify(path, file, str(path))
        return path
    target = cached_path(file, cache_dir)
    if is_cached(file, cache_dir):
        return target
    remedy = (
        f"on an offline machine, download it elsewhere and either place it at {target} or put it in "
        f"DIR/<task>/{file.name} and pass --data-dir DIR"
    )
    return download(file.url, target, remedy, verify=lambda staged: _verify(staged, file, f"the download of {file.url}"))


def download(url: str, target: Path, remedy: str, verify: Callable[[Path], None] | None = None) -> Path:
    """Downloads `url` to `target` through a staging file renamed into place (after `verify` passes).

    Raises:
        UserError: `JANUS_EVAL_OFFLINE=1` forbids downloading, or the download fails; the message ends
            with `remedy` (where to put a copy made elsewhere).
    """
    if os.environ.get("JANUS_EVAL_OFFLINE") == "1":
        raise UserError(f"{target.name} is not cached and JANUS_EVAL_OFFLINE=1 forbids downloading {url}; {remedy}")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=target.parent, prefix=f".{Path(target.name).name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        if verify is not None:
            verify(Path(staging))
        os.chmod(staging, 0o644)  # mkstemp's 0o600 would hide a shared cache from other users
        os.replace(staging, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        if is_disk_full(exc):
            raise disk_full_error(f"the download of {target.name}", target.parent, exc, CACHE_REMEDY) from None
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot download {url}: {reason}; {remedy}") from None
    finally:
        if os.path.exists(staging):
            os.remove(staging)
    return target
