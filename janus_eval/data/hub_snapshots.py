"""Checkpoint snapshots from the Hugging Face Hub (or its local cache): PyTorch weights of one kind, not every format.

A repository may hold the same weights as safetensors, PyTorch pickles, TensorFlow and Flax files; the
snapshot keeps safetensors when the repository has them, else the PyTorch `.bin` files, and never the
other frameworks'. Downloads (`janus-eval prefetch`, scorer weights) and cache checks use the same
patterns, so a snapshot that was fetched is also one that the check finds complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt")
OTHER_FRAMEWORKS = ("*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "*.gguf")
WEIGHT_GLOBS = ("*.safetensors", *PICKLED_WEIGHTS)


def fetch_checkpoint(
    repo_id: str, revision: str | None = None, *, allow: Sequence[str] | None = None, local_only: bool = False
) -> Path:
    """The snapshot folder of a checkpoint with its weights (safetensors preferred, else `.bin`).

    `allow` limits the files (e.g. `("*.json", "*.safetensors", "*.bin")`); `local_only` never touches the
    network. Raises the hub's own errors (not found, offline, incomplete snapshot).
    """
    from huggingface_hub import snapshot_download

    patterns = list(allow) if allow is not None else None
    common = {"revision": revision, "allow_patterns": patterns, "local_files_only": local_only}
    folder = Path(snapshot_download(repo_id, ignore_patterns=[*PICKLED_WEIGHTS, *OTHER_FRAMEWORKS], **common))
    if any(folder.glob("*.safetensors")):
        return folder
    return Path(snapshot_download(repo_id, ignore_patterns=list(OTHER_FRAMEWORKS), **common))


def has_weights(folder: Path) -> bool:
    """Whether a checkpoint folder holds a config and at least one weights file."""
    return (folder / "config.json").is_file() and any(any(folder.glob(pattern)) for pattern in WEIGHT_GLOBS)


def cached_checkpoint(repo_id: str, revision: str | None = None, allow: Sequence[str] | None = None) -> Path | None:
    """The complete cached snapshot of a checkpoint (config and weights), or None; no network."""
    try:
        folder = fetch_checkpoint(repo_id, revision, allow=allow, local_only=True)
    except Exception:  # not cached, or incomplete (the hub's errors come in several classes)
        return None
    return folder if has_weights(folder) else None
