"""Hugging Face Hub access for the Janus adapter: config files, snapshots, revisions, and what to say when offline.

Every download goes through huggingface_hub, so `HF_HUB_OFFLINE=1` reads the local cache and a
missing file becomes one message that says how to provide the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from janus_eval.model_adapters.janus_original_processor import read_json

from janus_eval.errors import UserError


def unreachable_message(repo_id: str, revision: str | None, exc: Exception) -> str:
    from huggingface_hub import is_offline_mode

    at = f" at revision {revision!r}" if revision else ""
    why = "offline mode is on (HF_HUB_OFFLINE=1)" if is_offline_mode() else "the Hub could not be reached or refused it"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"could not load model {repo_id!r}{at}: it is not in the local Hugging Face cache and {why}. "
        f"Either download it on a connected machine with `hf download {repo_id}"
        f"{f' --revision {revision}' if revision else ''}` into the Hugging Face cache used here (HF_HOME / HF_HUB_CACHE), "
        f"or pass a local copy with --model-path DIR. ({type(exc).__name__}: {detail})"
    )


def resolve_hub_revision(repo_id: str, revision: str | None) -> tuple[str | None, str | None]:
    """(revision to load, commit hash) for a hub id, resolved once (from the cache when offline)."""
    from transformers.utils.hub import resolve_revision

    resolved = resolve_revision(repo_id, revision)
    commit = getattr(resolved, "resolved", None)
    return (resolved if resolved is not None else revision), commit


def _hub_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    return (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError)


def hub_config(repo_id: str, revision: str | None) -> tuple[dict[str, Any], Path]:
    """The config.json of a hub repository and the snapshot folder it was read from (named for its commit)."""
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(repo_id, "config.json", revision=revision))
    except _hub_errors() as exc:
        raise UserError(unreachable_message(repo_id, revision, exc)) from None
    return read_json(path), path.parent  # files live in snapshots/<commit>/


def snapshot(repo_id: str, revision: str | None, patterns: list[str]) -> Path:
    """A local snapshot folder (snapshots/<commit>) with the repository files matching `patterns`."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except _hub_errors() as exc:
        raise UserError(unreachable_message(repo_id, revision, exc)) from None
