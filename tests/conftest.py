"""Test setup: offline, CPU, deterministic; caches in a per-session temporary folder."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("JANUS_EVAL_CACHE", tempfile.mkdtemp(prefix="janus-eval-test-cache-"))
os.environ.setdefault("HF_HOME", str(Path(os.environ["JANUS_EVAL_CACHE"]) / "hf"))

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
