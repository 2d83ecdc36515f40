"""Where a transformers scorer's weights are: a local checkpoint folder, or a hub id fetched or found in the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from janus_eval.data.hub_snapshots import fetch_checkpoint
from janus_eval.errors import UserError, first_line

WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


def resolve_hf_weights(
    weights: str, revision: str | None, *, what: str, option: str, extra_patterns: tuple[str, ...] = ()
) -> tuple[Path, dict[str, Any]]:
    """A local folder holding `weights` and what identifies it (its path, or the hub commit it resolved to).

    `what` names the scorer in messages ("detector"), `option` the task option that passes a local folder;
    `extra_patterns` are further files to fetch beside the JSON files and the weights (e.g. `vocab.txt`).

    Raises:
        UserError: a path that is no folder, or a hub id that cannot be had (offline, unknown, gated).
    """
    path = Path(weights).expanduser()
    if path.is_dir():
        return path, {"weights_path": str(path.resolve())}
    if path.exists() or weights.startswith((".", "/", "~")) or weights.count("/") > 1:
        raise UserError(
            f"{what[:1].upper()}{what[1:]} weights '{weights}' is not a checkpoint folder "
            "(config.json, model.safetensors, ...)."
        )
    try:  # the same file patterns as `janus-eval prefetch` and the offline check use
        folder = fetch_checkpoint(weights, revision, allow=("*.json", *WEIGHT_PATTERNS, *extra_patterns))
    except Exception as error:  # hub errors come in many classes (offline, 404, auth, network)
        raise UserError(
            f"Cannot get the {what} weights '{weights}' ({type(error).__name__}: {first_line(error)}). "
            f"Without internet, download them once elsewhere (`hf download {weights}`) and copy the Hugging Face "
            "cache, or pass a local checkpoint folder (config.json, preprocessor_config.json, model.safetensors) "
            f"with `--task-option {option}=PATH`."
        ) from None
    return folder, {"hub_revision": folder.name, "requested_revision": revision}
