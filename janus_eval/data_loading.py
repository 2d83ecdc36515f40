"""Loads a task's rows: from the Hugging Face Hub (or its local cache), a local folder, or built-in demo rows.

Image columns are read undecoded, so one unreadable image fails one sample, not the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from janus_eval.api import DataSource, FileSource, Task
from janus_eval.cache import cache_root
from janus_eval.errors import UserError
from janus_eval.hashing import hash_files, hash_json
from janus_eval.remote_files import fetch

DataMode = Literal["hub", "demo"]


@dataclass
class LoadedData:
    """Rows plus where they came from (recorded in results and in the config hash)."""

    rows: Sequence[Mapping[str, Any]]
    origin: str  # "hub", "url", "local" or "demo"
    location: str
    fingerprint: str

    def describe(self) -> dict[str, Any]:
        return {"origin": self.origin, "location": self.location, "fingerprint": self.fingerprint, "rows": len(self.rows)}


def load_task_data(task: Task, mode: DataMode = "hub", data_dir: Path | None = None) -> LoadedData:
    """The rows of `task` under the chosen data mode; UserError with a remedy when they cannot be had."""
    source = task.data_source()
    if mode == "demo":
        rows = task.demo_rows()
        _check_columns(task.name, source, list(rows[0].keys()) if rows else [], "the built-in demo rows")
        return LoadedData(rows, "demo", f"built-in demo rows of {task.name}", hash_json(rows))
    if isinstance(source, FileSource):
        return _load_files(task, source, data_dir)
    if data_dir is not None:
        return _load_local(task, source, data_dir)
    return _load_hub(task, source)


def _load_files(task: Task, source: FileSource, data_dir: Path | None) -> LoadedData:
    """Rows from a task's published files: `DIR/<task>/<name>` with --data-dir, else the verified cache."""
    local_dir = data_dir / task.name if data_dir is not None else None
    paths = {file.name: fetch(file, local_dir=local_dir) for file in source.files}
    rows = task.rows_from_files(paths)
    where = f"the files in {local_dir}" if local_dir is not None else f"the files of task {task.name!r}"
    _check_columns(task.name, source, list(rows[0].keys()) if rows else [], where)
    location = str(local_dir) if local_dir is not None else ", ".join(file.url for file in source.files)
    fingerprint = hash_json({file.name: file.sha256 for file in source.files})
    return LoadedData(rows, "local" if local_dir is not None else "url", location, fingerprint)


def _check_columns(task_name: str, source: DataSource | FileSource, found: Sequence[str], where: str) -> None:
    missing = [c for c in source.columns if c not in found]
    if missing:
        expected = f"the columns of {source.hf_id}" if isinstance(source, DataSource) else "the columns"
        raise UserError(
            f"{where} for task {task_name!r} lack the column(s) {', '.join(missing)} "
            f"(found: {', '.join(found) or 'none'}); the task expects {expected}: {', '.join(source.columns)}"
        )


def _undecoded(dataset: Any, source: DataSource, cache_file: Path | None = None) -> Any:
    """Casts image columns (single images or lists of images) to undecoded `{"bytes", "path"}` values.

    `cache_file` keeps the cast's arrow file out of a user's save_to_disk folder.
    """
    from datasets import Image, LargeList, List

    def strip_decode(feature: Any) -> Any:
        if isinstance(feature, Image):
            return Image(decode=False)
        if isinstance(feature, List):
            return List(strip_decode(feature.feature), length=feature.length)
        if isinstance(feature, LargeList):
            return LargeList(strip_decode(feature.feature))
        if isinstance(feature, dict):
            return {key: strip_decode(value) for key, value in feature.items()}
        return feature

    features = dataset.features.copy()
    for column in source.image_columns:
        if column in features:
            features[column] = strip_decode(features[column])
    if features == dataset.features:
        return dataset
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        return dataset.cast(features, cache_file_name=str(cache_file))
    return dataset.cast(features)


KNOWN_SPLITS = ("train", "validation", "val", "dev", "test", "testdev")


def _split_of(path: Path, folder: Path, candidates: set[str]) -> str | None:
    """The split a parquet file is named for (hub layout `split-0000x-of-0000y.parquet` or a `split/` folder)."""
    parts = path.relative_to(folder).parts
    stem = path.name.split("-")[0].split(".")[0].split("_")[0]
    for name in (*parts[:-1], stem):
        if name in candidates:
            return name
    return None


def _local_files(folder: Path, split: str, task_name: str) -> list[Path]:
    """The parquet files of `split`; all files when none is named for any split; UserError when only other
    splits are there."""
    files = sorted(folder.rglob("*.parquet"))
    candidates = {split, *KNOWN_SPLITS}
    named = {path: _split_of(path, folder, candidates) for path in files}
    chosen = [path for path, name in named.items() if name == split]
    if chosen:
        return chosen
    others = sorted({name for name in named.values() if name is not None})
    if others:
        raise UserError(
            f"{folder} holds the split(s) {', '.join(others)} but not {split!r}, the split task {task_name!r} reads"
        )
    return files


def _load_local(task: Task, source: DataSource, data_dir: Path) -> LoadedData:
    from datasets import Dataset, DatasetDict, load_from_disk

    folder = data_dir / task.name
    if source.config and (folder / source.config).is_dir():
        folder = folder / source.config
    remedy = (
        f"put the data of task {task.name!r} in {folder}/ as parquet files (the columns of {source.hf_id}: "
        f"{', '.join(source.columns)}) or as a `datasets` save_to_disk folder"
    )
    if not folder.is_dir():
        raise UserError(f"no local data for task {task.name!r}: {folder} does not exist; {remedy}")
    try:
        if (folder / "dataset_dict.json").exists() or (folder / "state.json").exists():
            loaded = load_from_disk(str(folder))
            if isinstance(loaded, DatasetDict):
                if source.split in loaded:
                    loaded = loaded[source.split]
                elif len(loaded) == 1:
                    loaded = next(iter(loaded.values()))
                else:
                    raise UserError(
                        f"{folder} has splits {', '.join(loaded)} but not {source.split!r}, the split task "
                        f"{task.name!r} reads"
                    )
            dataset: Dataset = loaded
            # the arrow files of the split and their metadata; nothing else a library may add later
            arrow_files = [Path(f["filename"]) for f in dataset.cache_files]
            split_dirs = {p.parent for p in arrow_files}
            meta = [d / name for d in split_dirs for name in ("state.json", "dataset_info.json") if (d / name).is_file()]
            fingerprint = hash_files(arrow_files + meta, folder)
            cast_cache = cache_root() / "datasets" / f"{task.name}-{fingerprint[:16]}.arrow"
        else:
            files = _local_files(folder, source.split, task.name)
            if not files:
                raise UserError(f"{folder} holds no parquet files; {remedy}")
            from datasets import load_dataset

            dataset = load_dataset("parquet", data_files=[str(p) for p in files], split="train")
            fingerprint = hash_files(files, folder)
            cast_cache = None
    except UserError:
        raise
    except Exception as exc:  # datasets raises many types for unreadable folders
        raise UserError(f"cannot read the local data of task {task.name!r} in {folder}: {exc}; {remedy}") from None
    _check_columns(task.name, source, dataset.column_names, f"the local data in {folder}")
    return LoadedData(_undecoded(dataset, source, cast_cache), "local", str(folder), fingerprint)


def _load_hub(task: Task, source: DataSource) -> LoadedData:
    from datasets import load_dataset

    try:
        dataset = load_dataset(source.hf_id, source.config, split=source.split, revision=source.revision)
    except Exception as exc:  # offline, not cached, gated, wrong id: all end the run the same way
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"cannot load dataset {source.hf_id!r} (config {source.config or 'default'}, split {source.split!r}) "
            f"for task {task.name!r}: {first_line}. On an offline machine, either copy the dataset's files "
            f"(`hf download {source.hf_id} --repo-type dataset --local-dir DIR/{task.name}` on a connected machine) "
            f"and pass --data-dir DIR, or load it once online with the same HF_HOME and set HF_DATASETS_OFFLINE=1; "
            f"`--data demo` runs the built-in demo rows"
        ) from None
    _check_columns(task.name, source, dataset.column_names, f"the dataset {source.hf_id}")
    fingerprint = getattr(dataset, "_fingerprint", None) or hash_json(source.describe())
    return LoadedData(_undecoded(dataset, source), "hub", source.hf_id, fingerprint)
