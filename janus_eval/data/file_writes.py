"""Every file janus-eval writes goes through here: a full disk becomes one clear message, not a traceback.

`writing(what, where)` wraps a write site: an `ENOSPC` / `EDQUOT` raised inside it (directly, chained, or
reported by a library such as safetensors in its own error type) becomes a `DiskFullError` (a `UserError`:
one message, exit code 2) that says what could not be written, where, and how much space is free there.
`write_atomically` writes a whole file through a sibling staging file and a rename, so a reader (or a
rerun after a crash or a full disk) never finds half a file.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from janus_eval.errors import UserError

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# how libraries that do not raise OSError (safetensors' Rust writer, for one) spell these errors
DISK_FULL_TEXTS = ("no space left on device", "disk quota exceeded", "os error 28)", "os error 122)")

RESUME_REMEDY = (
    "free some space there (or pass another --output-dir) and rerun the same command: "
    "the samples recorded so far are kept and the run resumes"
)
CACHE_REMEDY = "free some space there (or point JANUS_EVAL_CACHE / HF_HOME at another disk) and rerun"
OUTPUT_FILE_REMEDY = "free some space there (or give another --output) and rerun"


class DiskFullError(UserError):
    """A write failed because the file system is full (or the user's quota is used up)."""


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from or while handling, is a full disk or quota."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        if not isinstance(current, OSError) and any(text in str(current).lower() for text in DISK_FULL_TEXTS):
            return True
        current = current.__cause__ or current.__context__
    return False


def _human(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def free_space(where: Path) -> str:
    """How much room the file system holding `where` (or its nearest existing parent) has left, in words."""
    probe = Path(where)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
        stats = os.statvfs(probe)
    except OSError:
        return "free space unknown"
    words = f"{_human(usage.free)} free of {_human(usage.total)}"
    if stats.f_files and stats.f_favail == 0:  # a file system can run out of inodes with bytes to spare
        words += ", and no free inodes"
    return words


def disk_full_error(what: str, where: Path, error: BaseException, remedy: str = RESUME_REMEDY) -> DiskFullError:
    """The one message for a full disk: what could not be written, where, the free space there, what to do."""
    quota = isinstance(error, OSError) and error.errno == errno.EDQUOT
    reason = "the disk quota is used up" if quota else "no space left on the device"
    return DiskFullError(f"{reason}: could not write {what} to {where} ({free_space(where)}); {remedy}")


@contextmanager
def writing(what: str, where: Path, remedy: str = RESUME_REMEDY) -> Iterator[None]:
    """Runs a write of `what` to `where`; a full disk inside it raises one `DiskFullError` (other errors pass)."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise disk_full_error(what, where, exc, remedy) from None


def write_atomically(path: Path, data: str | bytes, what: str, remedy: str = RESUME_REMEDY) -> None:
    """Writes `path` whole or not at all: a staging file beside it, then a rename (full disk: one message)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with writing(what, path, remedy):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(payload)
            os.chmod(staging, 0o644)  # mkstemp's owner-only mode would hide results from the rest of a team
            os.replace(staging, path)
        finally:
            with suppress(FileNotFoundError):
                os.remove(staging)
