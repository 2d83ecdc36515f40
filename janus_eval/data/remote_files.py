"""Downloads benchmark files from their canonical URLs once, caches them and verifies their sha256.

Set `JANUS_EVAL_OFFLINE=1` to never touch the network (a missing file is then an error that says
where to put it).
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from janus_eval.api import RemoteFile
from janus_eval.data.cache import cache_root
from janus_eval.data.hashing import file_sha256, git_blob_id
from janus_eval.errors import UserError

DOWNLOAD_TIMEOUT_SECONDS = 60


def cached_path(file: RemoteFile, cache_dir: Path | None = None) -> Path:
    """Where the verified copy of `file` lives in the cache (keyed by its checksum)."""
    key = file.sha256 if file.sha256 else f"blob-{file.git_blob}"
    return (cache_dir if cache_dir is not None else cache_root() / "data") / key[:16] / file.name


def matches(path: Path, file: RemoteFile) -> bool:
    """Whether the file at `path` has the content `file` names (its sha256, else its git blob id)."""
    return file_sha256(path) == file.sha256 if file.sha256 else git_blob_id(path) == file.git_blob


def _verify(path: Path, file: RemoteFile, where: str) -> None:
    if file.sha256:
        actual, expected, kind = file_sha256(path), file.sha256, "sha256"
    else:
        actual, expected, kind = git_blob_id(path), file.git_blob, "git blob id"
    if actual != expected:
        raise UserError(
            f"{where} has {kind} {actual}, expected {expected} (the canonical {file.name} from {file.url}); "
            "the file differs from the one the protocol fixes"
        )


def fetch(file: RemoteFile, *, local_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
    """A verified local copy of `file`: from `local_dir` if given, else the cache, else a download."""
    if local_dir is not None:
        path = local_dir / file.name
        if not path.is_file():
            raise UserError(f"{path} does not exist; download {file.url} to that path (or drop --data-dir)")
        _verify(path, file, str(path))
        return path
    target = cached_path(file, cache_dir)
    if target.is_file() and matches(target, file):
        return target
    remedy = (
        f"on an offline machine, download it elsewhere and either place it at {target} or put it in "
        f"DIR/<task>/{file.name} and pass --data-dir DIR"
    )
    if os.environ.get("JANUS_EVAL_OFFLINE") == "1":
        raise UserError(f"{file.name} is not cached and JANUS_EVAL_OFFLINE=1 forbids downloading {file.url}; {remedy}")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=target.parent, prefix=f".{Path(file.name).name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(file.url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        _verify(Path(staging), file, f"the download of {file.url}")
        os.replace(staging, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot download {file.url}: {reason}; {remedy}") from None
    finally:
        if os.path.exists(staging):
            os.remove(staging)
    return target
