"""One run at a time per (output folder, model label, task): an advisory `flock` on `<label>/.<task>.lock`.

Two runs writing the same records at once would generate every sample twice, or (with different
settings) move each other's records aside mid-run. The second run is refused with one message that
names the first (pid, host, command, start time) before it touches any record. Under torchrun rank 0
holds the locks for the whole job and tells the other ranks whether it got them, so every rank of a
refused job stops, and none waits at a barrier. The kernel drops a `flock` when its holder dies (even
by SIGKILL), so a lock never outlives its run; the lock file itself stays (deleting it would let two
runs lock two different files).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from janus_eval.data.file_writes import writing
from janus_eval.engine.distributed import DistContext
from janus_eval.errors import UserError

log = logging.getLogger(__name__)

# flock's answer on file systems that do not support it
UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
# a holder writes its details right after taking the lock; a reader that finds the file still empty waits this long
HOLDER_DETAILS_WAIT_SECONDS = 1.0


def lock_path(model_dir: Path, task: str) -> Path:
    return model_dir / f".{task}.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: enough to find the process and decide what to do about it."""

    pid: int | None
    host: str | None
    command: str | None
    since: float | None

    @classmethod
    def of_this_process(cls, command: Sequence[str]) -> Holder:
        return cls(os.getpid(), socket.gethostname(), " ".join(command or sys.argv), time.time())

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "host": self.host, "command": self.command, "since": self.since}) + "\n"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data: Any = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        since = data.get("since")
        return cls(data.get("pid"), data.get("host"), data.get("command"), since if isinstance(since, (int, float)) else None)

    def describe(self) -> str:
        if self.pid is None:
            return "another process (it has not written its details yet)"
        words = f"process {self.pid} on host {self.host}"
        if self.since is not None:
            started = datetime.fromtimestamp(self.since, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            words += f", running since {started} ({_ago(time.time() - self.since)})"
        if self.command:
            words += f", command: {self.command}"
        return words


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{max(seconds, 0):.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


class TaskLockedError(UserError):
    """Another run holds the lock of a task's records."""


class TaskLock:
    """The advisory lock of one task's records in one model folder."""

    def __init__(self, model_dir: Path, task: str) -> None:
        self.path = lock_path(model_dir, task)
        self.task = task
        self._fd: int | None = None

    def acquire(self, holder: Holder) -> Holder | None:
        """Takes the lock without waiting and writes `holder` into it; returns the current holder if it is taken."""
        import fcntl

        what = f"the lock file of task {self.task!r}"
        try:
            with writing(what, self.path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child programs
        except OSError as exc:
            raise UserError(f"cannot create {what}, {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_holder(fd)
            os.close(fd)
            return other
        except OSError as exc:  # a file system without locks (some network mounts): run, but say so
            os.close(fd)
            if exc.errno not in UNSUPPORTED:
                raise
            log.warning("%s cannot be locked (%s): nothing stops a second run from writing there", self.path, exc)
            return None
        self._fd = fd
        try:
            with writing(what, self.path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, holder.to_json().encode("utf-8"), 0)
        except BaseException:
            self.release()
            raise
        return None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor drops the lock


def _read_holder(fd: int) -> Holder:
    deadline = time.monotonic() + HOLDER_DETAILS_WAIT_SECONDS
    while True:
        holder = Holder.parse(os.pread(fd, 1 << 16, 0).decode("utf-8", errors="replace"))
        if holder is not None or time.monotonic() > deadline:
            return holder or Holder(None, None, None, None)
        time.sleep(0.05)


def refusal(model_dir: Path, taken: dict[str, Holder]) -> str:
    """The message for a run that finds its tasks' records locked by other runs."""
    by_holder: dict[Holder, list[str]] = {}
    for task, holder in taken.items():
        by_holder.setdefault(holder, []).append(task)
    parts = [
        f"the records of task{'s' if len(tasks) > 1 else ''} {', '.join(tasks)} are being written by {holder.describe()}"
        for holder, tasks in by_holder.items()
    ]
    return (
        f"another janus-eval run is using {model_dir}: {'; '.join(parts)}. Wait for it to finish (or stop it), then "
        "rerun this command: it resumes from the records; to run both at once, give this one another --output-dir "
        "or --model-args label=NAME"
    )


def _acquire_all(model_dir: Path, tasks: Sequence[str], holder: Holder, stack: ExitStack) -> str | None:
    """Rank 0: takes every task's lock (all or none); the refusal message if any is taken."""
    try:
        import fcntl  # noqa: F401
    except ImportError:  # no flock (Windows): runs are not protected from each other there
        log.warning("advisory file locks are not available on this platform; do not run two jobs on %s", model_dir)
        return None
    taken: dict[str, Holder] = {}
    for task in sorted(set(tasks)):
        lock = TaskLock(model_dir, task)
        other = lock.acquire(holder)
        if other is not None:
            taken[task] = other
        else:
            stack.callback(lock.release)
    if taken:
        stack.close()
        return refusal(model_dir, taken)
    return None


@contextmanager
def task_locks(
    output_dir: Path, label: str, tasks: Sequence[str], context: DistContext, command: Sequence[str] = ()
) -> Iterator[None]:
    """Holds the locks of `tasks` in `output_dir/label/` while the body runs; `TaskLockedError` on every rank
    of a run that finds one taken (rank 0 takes them for the whole job and shares the outcome)."""
    model_dir = output_dir / label
    with ExitStack() as stack:
        problem: tuple[bool, str] | None = None  # (locked by another run, message)
        if context.is_main:
            try:
                refused = _acquire_all(model_dir, tasks, Holder.of_this_process(command), stack)
                problem = (True, refused) if refused is not None else None
            except UserError as exc:  # e.g. a full disk: every rank must hear of it, not wait for rank 0
                problem = (False, str(exc))
        problem = context.gather(problem)[0]
        if problem is not None:
            locked, message = problem
            raise TaskLockedError(message) if locked else UserError(message)
        yield
