"""Before a run: is everything the command needs at hand? Before a cluster job: `janus-eval prefetch` fetches it.

Tasks and adapters list what they need as `Resource`s (data, checkpoint, scorer weights) without loading
any of it. When the Hugging Face Hub cannot be reached, a short probe says so once (skipped when offline
mode is set), the libraries are switched to offline mode for the process (no ~30 s of retries per file),
and one message lists every missing item with the ways to provide it.
"""

from __future__ import annotations

import logging
import os
import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from janus_eval.api import ModelAdapter, ModelSpec, Resource, Task
from janus_eval.data.hub_snapshots import cached_checkpoint, fetch_checkpoint
from janus_eval.data.remote_files import cached_path, is_cached
from janus_eval.data.remote_files import fetch as fetch_file
from janus_eval.errors import UserError, first_line

log = logging.getLogger(__name__)

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
PROBE_TIMEOUT_SECONDS = 3.0  # JANUS_EVAL_PROBE_TIMEOUT overrides it
TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
HUB_KINDS = ("dataset", "model", "hub_file")  # what the Hugging Face libraries fetch


@dataclass(frozen=True)
class Command:
    """What a run or a prefetch was asked for: the model spec, its tasks and where their data comes from."""

    spec: ModelSpec
    tasks: Sequence[Task]
    adapter_cls: type[ModelAdapter]
    data_mode: str = "hub"
    data_dir: Path | None = None
    argv: Sequence[str] = ()  # the run's arguments (for the prefetch hint)


# ----------------------------------------------------------------------------- what a command needs


def command_resources(command: Command) -> list[Resource]:
    """The model's and every task's resources under the data mode: none for demo rows, local folders for
    --data-dir; one entry per distinct item (the purposes of shared items are joined)."""
    found: dict[tuple[object, ...], Resource] = {}
    items = list(command.adapter_cls.resources(command.spec))
    for task in command.tasks:
        for resource in task.resources():
            if resource.role == "data" and command.data_mode == "demo":
                continue
            if resource.role == "data" and command.data_dir is not None:
                resource = _local_data(resource, command.data_dir / task.name)
            items.append(resource)
    for resource in items:
        key = (resource.kind, resource.id, resource.revision, resource.config, resource.split, resource.files)
        if key in found and resource.purpose not in found[key].purpose:
            found[key] = replace(found[key], purpose=f"{found[key].purpose}, {resource.purpose}")
        found.setdefault(key, resource)
    return list(found.values())


def _local_data(resource: Resource, folder: Path) -> Resource:
    """The --data-dir stand-in of a data resource: `DIR/<task>/` (or the file in it), with what belongs there."""
    if resource.remote is not None:
        path, what = folder / resource.remote.name, f"download {resource.id} there"
    else:
        path = folder
        what = (
            f"put the dataset's files there: parquet files (or a `datasets` save_to_disk folder) with the columns of "
            f"{resource.id} (`hf download {resource.id} --repo-type dataset --local-dir {folder}`)"
        )
    return Resource("local", str(path), resource.purpose, role="data", override=what)


# ----------------------------------------------------------------------------- reachability and offline mode


def offline_requested() -> str | None:
    """The variable that asks for offline mode, if one does."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").upper() in TRUE_VALUES:
            return f"{name}={os.environ[name]}"
    return None


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def probe(url: str, timeout: float | None = None) -> str | None:
    """None when `url`'s server answers (any HTTP status) within `timeout` seconds, else why not; one attempt."""
    if timeout is None:
        timeout = float(os.environ.get("JANUS_EVAL_PROBE_TIMEOUT", PROBE_TIMEOUT_SECONDS))
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except urllib.error.HTTPError:  # it answered: reachable
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return f"no answer within {timeout:g} s"
        return f"{reason} after {time.perf_counter() - started:.1f} s"


def go_offline() -> None:
    """Offline mode for this process: huggingface_hub, transformers and datasets stop retrying the network.

    The variables are read when the libraries are imported, so the imported modules are switched too."""
    import sys

    for name in OFFLINE_VARIABLES:
        os.environ[name] = "1"
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
        datasets_config.HF_DATASETS_OFFLINE = True  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- local availability


def is_available(resource: Resource) -> bool:
    """Whether the resource is on this machine (no network: call in offline mode for datasets)."""
    if resource.kind == "local":
        return Path(resource.id).expanduser().exists()
    if resource.kind == "file":
        return resource.remote is not None and is_cached(resource.remote)
    if resource.kind == "url":
        return bool(resource.files) and Path(resource.files[0]).is_file()
    if resource.kind == "model":
        return cached_checkpoint(resource.id, resource.revision, allow=resource.files or None) is not None
    if resource.kind == "hub_file":
        from huggingface_hub import try_to_load_from_cache

        return any(isinstance(try_to_load_from_cache(resource.id, name, revision=resource.revision), str)
                   for name in resource.files)  # fmt: skip
    if resource.kind == "dataset":
        return _dataset_cached(resource)
    raise ValueError(f"unknown resource kind {resource.kind!r}")


def _dataset_cached(resource: Resource) -> bool:
    """A prepared copy of the dataset's config and split in the datasets cache (what an offline load reads)."""
    from datasets import load_dataset_builder
    from datasets.utils import logging as datasets_logging

    verbosity = datasets_logging.get_verbosity()
    datasets_logging.set_verbosity_error()  # its "using the cached version" notes come again when the run loads
    try:
        builder = load_dataset_builder(resource.id, resource.config, revision=resource.revision)
    except Exception:  # not cached: datasets raises ConnectionError, ValueError or FileNotFoundError
        return False
    finally:
        datasets_logging.set_verbosity(verbosity)
    splits = builder.info.splits
    return not splits or resource.split is None or resource.split in splits


def _where(resource: Resource) -> str:
    """Where the run looks for a resource."""
    from huggingface_hub import constants

    if resource.kind == "dataset":
        from datasets import config

        return f"the datasets cache {config.HF_DATASETS_CACHE}"
    if resource.kind in ("model", "hub_file"):
        return f"the Hugging Face cache {constants.HF_HUB_CACHE}"
    if resource.kind == "file" and resource.remote is not None:
        return f"the janus-eval cache ({cached_path(resource.remote)})"
    if resource.kind == "url":
        return resource.files[0] if resource.files else "its cache"
    return "this machine"


def describe(resource: Resource) -> str:
    """The item in a few words: what and at which revision."""
    at = f" at revision {resource.revision}" if resource.revision else ""
    if resource.kind == "dataset":
        return f"dataset {resource.id} (config {resource.config or 'default'}, split {resource.split}){at}"
    if resource.kind == "model":
        return f"checkpoint {resource.id}{at}"
    if resource.kind == "hub_file":
        return f"{' or '.join(resource.files)} of {resource.id}{at}"
    if resource.kind == "file" and resource.remote is not None:
        return f"{resource.remote.name} ({resource.id}, sha256 {resource.remote.sha256[:12]}...)"
    return resource.id


def download_hint(resource: Resource) -> str:
    """The `hf download` (or plain download) command that fetches the item on a connected machine."""
    rev = f" --revision {resource.revision}" if resource.revision else ""
    if resource.kind == "dataset":
        return ""  # the datasets cache holds prepared files, not the hub's: --data-dir or prefetch
    if resource.kind == "model":
        return f"`hf download {resource.id}{rev}`"
    if resource.kind == "hub_file":
        return f"`hf download {resource.id} {resource.files[0]}{rev}`"
    if resource.kind == "file" and resource.remote is not None:
        return f"download {resource.id} to {cached_path(resource.remote)}"
    if resource.kind == "url":
        return f"download {resource.id} to {resource.files[0]}"
    return ""


def missing_line(resource: Resource) -> str:
    if resource.kind == "local":
        return f"  - {resource.purpose}: {resource.id} does not exist" + (f"; {resource.override}" if resource.override else "")
    ways = [way for way in (resource.override, download_hint(resource)) if way]
    return f"  - {resource.purpose}: {describe(resource)} is not in {_where(resource)}; provide it with " + " or ".join(ways)


def _joined_configs(resources: Sequence[Resource]) -> list[Resource]:
    """One entry per dataset and purpose: the configs a task joins (GQA) are named together."""
    merged: dict[tuple[object, ...], Resource] = {}
    for resource in resources:
        key = (resource.kind, resource.id, resource.revision, resource.purpose) if resource.kind == "dataset" else (id(resource),)
        if key in merged:
            first = merged[key]
            merged[key] = replace(first, config=f"{first.config or 'default'} + {resource.config or 'default'}")
        else:
            merged[key] = resource
    return list(merged.values())


# missing items listed per task before the rest are only counted
SHOWN_PER_TASK = 3


def missing_message(missing: Sequence[Resource], why: str, argv: Sequence[str]) -> str:
    """One message: why the network is out, every missing item and how to provide it, and the prefetch command."""
    items = _joined_configs(missing)
    count = f"{len(items)} thing{'s' if len(items) != 1 else ''}"
    lines = [f"{count} this command needs {'is' if len(items) == 1 else 'are'} not available here ({why}):"]
    shown: dict[tuple[str, str], int] = {}
    for resource in items:  # a task of many files (DPG-Bench's 1,065 prompts) shows a few and counts the rest
        group = (resource.purpose, resource.kind)
        shown[group] = shown.get(group, 0) + 1
        if shown[group] <= SHOWN_PER_TASK:
            lines.append(missing_line(resource))
    for (purpose, kind), total in shown.items():
        if total > SHOWN_PER_TASK:
            lines.append(f"  - {purpose}: and {total - SHOWN_PER_TASK} more {'files' if kind in ('file', 'local') else 'items'} like these")
    if any(resource.kind != "local" for resource in missing):
        lines.append(
            f"Or fetch everything at once on a connected machine with the same HF_HOME and JANUS_EVAL_CACHE: "
            f"`janus-eval prefetch {shlex.join(argv)}`"
        )
    return "\n".join(lines)


def check_available(command: Command) -> None:
    """Raises one UserError listing everything the command needs that cannot be had: with the Hub unreachable
    (one probe) or offline mode set, whatever is not cached; otherwise local paths that do not exist and canonical
    files whose server does not answer. Switches the process to offline mode when the Hub is unreachable."""
    resources = command_resources(command)
    hub_items = [r for r in resources if r.kind in HUB_KINDS]
    why = offline_requested()
    if why is None and hub_items:
        reason = probe(hub_endpoint())
        if reason is not None:
            why = f"the Hugging Face Hub at {hub_endpoint()} is unreachable: {reason}"
            log.warning("%s; running offline from the local caches", why)
    if why is not None:
        go_offline()
    missing = [r for r in resources if r.kind == "local" or why is not None or r.kind in ("file", "url")]
    missing = [r for r in missing if not is_available(r)]
    offline_files = _unreachable_file_hosts([r for r in missing if r.kind in ("file", "url")])
    missing = [r for r in missing if r.kind not in ("file", "url") or _host(r.id) in offline_files]
    if not missing:
        return
    reasons = [why] if why is not None and any(r.kind in HUB_KINDS for r in missing) else []
    reasons += list(dict.fromkeys(offline_files.values()))
    raise UserError(missing_message(missing, "; ".join(reasons) or "local paths", command.argv))


def _host(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _unreachable_file_hosts(files: Sequence[Resource]) -> dict[str, str]:
    """Host -> why, for the servers of uncached canonical files that do not answer (one probe per host)."""
    if os.environ.get("JANUS_EVAL_OFFLINE") == "1":
        return {_host(r.id): "JANUS_EVAL_OFFLINE=1 forbids downloading files" for r in files}
    down = {}
    for host in dict.fromkeys(_host(r.id) for r in files):
        reason = probe(host)
        if reason is not None:
            down[host] = f"{host} is unreachable: {reason}"
    return down


# ----------------------------------------------------------------------------- prefetch


def prefetch(command: Command, report: Callable[[str], None] = print) -> list[tuple[Resource, str]]:
    """Downloads everything the command needs into the caches a later offline run reads; returns (item, where).

    Every item is tried; the ones that fail are listed in one UserError at the end."""
    resources = command_resources(command)
    if any(r.kind in HUB_KINDS for r in resources):
        why = offline_requested()
        reason = probe(hub_endpoint()) if why is None else why
        if reason is not None:
            raise UserError(
                f"prefetch needs the Hugging Face Hub, but {hub_endpoint()} is unreachable ({reason}); run it on a "
                "connected machine with the same HF_HOME and JANUS_EVAL_CACHE as the offline run"
            )
    done: list[tuple[Resource, str]] = []
    failed: list[str] = []
    for resource in resources:
        try:
            where = fetch_resource(resource)
        except UserError as exc:
            failed.append(f"  - {resource.purpose}: {exc}")
            continue
        except Exception as exc:  # the hub's and datasets' errors come in many classes
            failed.append(f"  - {resource.purpose}: {describe(resource)}: {type(exc).__name__}: {first_line(exc)}")
            continue
        report(f"{resource.purpose}: {describe(resource)} -> {where}")
        done.append((resource, where))
    if failed:
        raise UserError(f"could not fetch {len(failed)} of {len(resources)} item(s):\n" + "\n".join(failed))
    return done


def fetch_resource(resource: Resource) -> str:
    """Downloads one item where the run will look for it; returns that place."""
    if resource.kind == "local":
        if not Path(resource.id).expanduser().exists():
            raise UserError(f"{resource.id} does not exist")
        return f"{resource.id} (local, nothing to fetch)"
    if resource.kind == "file" and resource.remote is not None:
        return str(fetch_file(resource.remote))
    if resource.kind == "url":
        import torch

        target = Path(resource.files[0])
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(resource.id, str(target), progress=False)
        return str(target)
    if resource.kind == "model":
        return str(fetch_checkpoint(resource.id, resource.revision, allow=resource.files or None))
    if resource.kind == "hub_file":
        return _fetch_hub_file(resource)
    if resource.kind == "dataset":
        return _fetch_dataset(resource)
    raise ValueError(f"unknown resource kind {resource.kind!r}")


def _fetch_hub_file(resource: Resource) -> str:
    """The first of the resource's files that its repository has (as open_clip tries them)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    for name in resource.files:
        try:
            return hf_hub_download(resource.id, name, revision=resource.revision)
        except EntryNotFoundError:
            continue
    raise UserError(f"{resource.id} has none of {', '.join(resource.files)}")


def _fetch_dataset(resource: Resource) -> str:
    """Downloads and prepares the split exactly as the run loads it (same arguments), so an offline run finds it."""
    from datasets import load_dataset

    dataset = load_dataset(resource.id, resource.config, split=resource.split, revision=resource.revision)
    files = [Path(entry["filename"]) for entry in dataset.cache_files]
    return str(files[0].parent) if files else "the datasets cache"
