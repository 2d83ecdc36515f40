"""What a result needs to be reproduced: package versions, git commit, platform, peak memory."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import janus_eval

PACKAGES = (
    "janus-eval",
    "torch",
    "torchvision",
    "transformers",
    "tokenizers",
    "datasets",
    "huggingface_hub",
    "numpy",
    "pillow",
    "pandas",
    "pydantic",
    "open_clip_torch",
    "openai",
)


def package_versions() -> dict[str, str | None]:
    """Installed version of each package that can change a number (None when not installed)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    if versions["janus-eval"] is None:
        versions["janus-eval"] = janus_eval.__version__
    return versions


def git_commit() -> dict[str, Any] | None:
    """Commit and dirty state of the janus-eval source tree, when it is a git checkout."""
    root = Path(janus_eval.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def platform_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    try:
        import torch

        info["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["cuda"] = torch.version.cuda
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:  # torch is a dependency; this only guards odd environments
        pass
    return info


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (Linux reports kilobytes, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
