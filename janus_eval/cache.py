"""Where janus-eval keeps what it builds or downloads: `$JANUS_EVAL_CACHE`, else `~/.cache/janus-eval`."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The janus-eval cache folder (tiny models, downloaded benchmark files)."""
    configured = os.environ.get("JANUS_EVAL_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "janus-eval"
