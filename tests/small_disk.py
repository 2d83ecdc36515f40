"""A real small file system for full-disk tests: a tmpfs in a private mount namespace, nothing mocked.

The tmpfs is mounted by `unshare --mount` (root, as in CI) or, for other users, inside a user namespace
(`unshare --user --map-root-user --mount`), by a process that then sleeps; this process reaches the
mount through `/proc/<pid>/root/...`. Nothing is mounted in the caller's namespace, and the mount goes
away with the sleeping process. `fill` leaves a chosen number of bytes free; `free_up` gives them back.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MOUNTERS = (["unshare", "--mount"], ["unshare", "--user", "--map-root-user", "--mount"])
SCRIPT = 'mount -t tmpfs -o size="$1" tmpfs "$0" && echo mounted && exec sleep 3600'
PAGE = 4096


class NoSmallDisk(Exception):
    """This machine allows no way to mount a small file system (the tests that need one are skipped)."""


class SmallDisk:
    """A mounted tmpfs of `size` bytes at `path` (as this process sees it)."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._ballast = path / ".ballast"

    def fill(self, leave: int = 0) -> None:
        """Takes up all but `leave` bytes (rounded down to whole pages) with a ballast file."""
        with self._ballast.open("ab") as out:
            out.write(b"\0" * max(shutil.disk_usage(self.path).free - leave // PAGE * PAGE, 0))
        assert shutil.disk_usage(self.path).free <= leave

    def free_up(self) -> None:
        self._ballast.unlink(missing_ok=True)


@contextmanager
def small_disk(mountpoint: Path, size: int) -> Iterator[SmallDisk]:
    """Mounts a tmpfs of `size` bytes over the (empty) folder `mountpoint`; NoSmallDisk if nothing can."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    reasons: list[str] = []
    process: subprocess.Popen[str] | None = None
    for mounter in MOUNTERS:
        if shutil.which(mounter[0]) is None:
            reasons.append(f"{mounter[0]} is not installed")
            break
        candidate = subprocess.Popen(
            [*mounter, "sh", "-c", SCRIPT, str(mountpoint), str(size)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert candidate.stdout is not None and candidate.stderr is not None
        if candidate.stdout.readline().strip() == "mounted":
            process = candidate
            break
        candidate.wait(timeout=30)
        reasons.append(f"`{' '.join(mounter)}` and mount: {candidate.stderr.read().strip()}")
    if process is None:
        raise NoSmallDisk("; ".join(reasons))
    try:
        path = Path(f"/proc/{process.pid}/root") / mountpoint.relative_to("/")
        if shutil.disk_usage(path).total != size:
            raise NoSmallDisk(f"{path} is not the mounted tmpfs of {size} bytes")
        yield SmallDisk(path, size)
    finally:
        process.kill()
        process.wait(timeout=30)
