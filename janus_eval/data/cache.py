"""Where janus-eval keeps what it builds or downloads: `$JANUS_EVAL_CACHE`, else `~/.cache/janus-eval`."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from janus_eval.data.file_writes import CACHE_REMEDY, writing


def cache_root() -> Path:
    """The janus-eval cache folder (tiny models, downloaded benchmark files)."""
    configured = os.environ.get("JANUS_EVAL_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "janus-eval"


def ensure_built(target: Path, build: Callable[[Path], None], marker: str = "config.json") -> Path:
    """Returns `target`, first running `build(staging)` in a sibling folder renamed into place if needed.

    `target / marker` existing means the folder is complete. Concurrent builders never see (or leave) a
    half-written folder; a lost rename race keeps the winner's copy (builds are deterministic, so equal).
    """
    if (target / marker).is_file():
        return target
    staging: Path | None = None
    try:
        with writing(f"the cache entry {target.name}", target.parent, CACHE_REMEDY):
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
            build(staging)
            # mkdtemp and the safetensors writer create owner-only files; a cache is meant to be shared.
            for path in (staging, *staging.iterdir()):
                path.chmod(0o755 if path.is_dir() else 0o644)
            try:
                os.rename(staging, target)
            except OSError:
                if not (target / marker).is_file():
                    raise
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


@contextmanager
def quiet_hf_progress() -> Iterator[None]:
    """Turns off transformers' per-file progress bars ("Loading weights", "Writing model shards") meanwhile.

    They are noise when a scorer loads its model or a tiny checkpoint is written into the cache.
    """
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
