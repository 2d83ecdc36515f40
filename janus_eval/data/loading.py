"""Loads a task's rows: from the Hugging Face Hub (or its local cache), a local folder, or built-in demo rows.

Image columns are read undecoded, so one unreadable image fails one sample, not the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

from janus_eval.api import DataSource, FileSource, Join, Task
from janus_eval.data.cache import cache_root
from janus_eval.data.file_writes import CACHE_REMEDY, disk_full_error, is_disk_full, writing
from janus_eval.data.hashing import file_sha256, hash_files, hash_json
from janus_eval.data.remote_files import fetch
from janus_eval.errors import UserError, first_line

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
    if isinstance(source, FileSource) and mode != "demo":
        return _load_files(task, source, data_dir)

    def load(part: DataSource | FileSource, join: Join | None = None) -> LoadedData:
        if mode == "demo":
            rows = task.demo_rows() if join is None else task.demo_join_rows(join)
            _check_columns(task.name, part, list(rows[0].keys()) if rows else [], "the built-in demo rows")
            return LoadedData(rows, "demo", f"built-in demo rows of {task.name}", hash_json(rows))
        assert isinstance(part, DataSource)  # published files were read above
        if data_dir is not None:
            return _load_local(task, part, data_dir, config_folder_required=join is not None)
        return _load_hub(task, part)

    main = load(source)
    if not isinstance(source, DataSource) or not source.joins:
        return main
    tables = [(join, load(source.joined(join), join)) for join in source.joins]
    return LoadedData(
        JoinedRows(main.rows, [(join, _lookup(table.rows, join)) for join, table in tables]),
        main.origin,
        "; ".join(dict.fromkeys([main.location, *(table.location for _, table in tables)])),
        hash_json([main.fingerprint, *(table.fingerprint for _, table in tables)]),
    )


def _lookup(rows: Sequence[Mapping[str, Any]], join: Join) -> dict[Any, dict[str, Any]]:
    """Key -> the joined columns of a table's rows (the first row wins when a key repeats)."""
    table: dict[Any, dict[str, Any]] = {}
    for row in rows:
        table.setdefault(row[join.right_on], {column: row[column] for column in join.columns})
    return table


class JoinedRows(Sequence[Mapping[str, Any]]):
    """Rows of the main table with the columns of their matches in joined tables (None when unmatched)."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], lookups: list[tuple[Join, dict[Any, dict[str, Any]]]]):
        self._rows = rows
        self._lookups = lookups

    def _join(self, row: Mapping[str, Any]) -> dict[str, Any]:
        joined = dict(row)
        for join, table in self._lookups:
            match = table.get(row.get(join.left_on))
            joined.update(match if match is not None else dict.fromkeys(join.columns))
        return joined

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]
        return self._join(self._rows[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self._rows:
            yield self._join(row)


def _load_files(task: Task, source: FileSource, data_dir: Path | None) -> LoadedData:
    """Rows from a task's published files: `DIR/<task>/<name>` with --data-dir, else the verified cache."""
    local_dir = data_dir / task.name if data_dir is not None else None
    if local_dir is not None:
        _check_present(task.name, source, local_dir)
        paths = {file.name: fetch(file, local_dir=local_dir) for file in source.files}
    else:
        first, *rest = source.files
        paths = {first.name: fetch(first)}  # an unreachable host fails here, once
        if rest:  # many small files (DPG-Bench's 1,065 prompts) download a few at a time
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=min(8, len(rest)))
            try:
                paths.update(zip([file.name for file in rest], pool.map(fetch, rest)))
            finally:  # after a failure, the files not started yet are not tried
                pool.shutdown(wait=True, cancel_futures=True)
    rows = task.rows_from_files(paths)
    where = f"the files in {local_dir}" if local_dir is not None else f"the files of task {task.name!r}"
    _check_columns(task.name, source, list(rows[0].keys()) if rows else [], where)
    location = str(local_dir) if local_dir is not None else ", ".join(file.url for file in source.files)
    # an unpinned file (no published checksum) is fingerprinted by the content of the copy read
    fingerprint = hash_json({f.name: f.checksum or file_sha256(paths[f.name]) for f in source.files})
    return LoadedData(rows, "local" if local_dir is not None else "url", location, fingerprint)


def _check_present(task_name: str, source: FileSource, local_dir: Path) -> None:
    """One message for every file missing from a --data-dir folder (not one run per missing file)."""
    missing = [file for file in source.files if not (local_dir / file.name).is_file()]
    if missing:
        first = missing[0]
        raise UserError(
            f"{len(missing)} of the {len(source.files)} files of task {task_name!r} are missing from {local_dir} "
            f"(first: {first.name}, from {first.url}); put every file of the task there under its name "
            "(or drop --data-dir to download them)"
        )


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
        with writing(f"the cached copy of {cache_file.stem}", cache_file, CACHE_REMEDY):
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            return dataset.cast(features, cache_file_name=str(cache_file))
    return dataset.cast(features)


def _datasets_cache_full(exc: Exception, task_name: str) -> Exception | None:
    """The full-disk error to raise when `datasets` could not write its cache (arrow files) for a task."""
    if not is_disk_full(exc):
        return None
    from datasets import config

    return disk_full_error(f"the data of task {task_name!r}", Path(config.HF_DATASETS_CACHE), exc, CACHE_REMEDY)


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


def _load_local(task: Task, source: DataSource, data_dir: Path, config_folder_required: bool = False) -> LoadedData:
    """Rows from `DIR/<task>/` (or `DIR/<task>/<config>/`, required for the tables of a join)."""
    from datasets import Dataset, DatasetDict, load_from_disk

    folder = data_dir / task.name
    if source.config and ((folder / source.config).is_dir() or config_folder_required):
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
        full = _datasets_cache_full(exc, task.name)
        if full is not None:
            raise full from None
        raise UserError(f"cannot read the local data of task {task.name!r} in {folder}: {exc}; {remedy}") from None
    _check_columns(task.name, source, dataset.column_names, f"the local data in {folder}")
    return LoadedData(_undecoded(dataset, source, cast_cache), "local", str(folder), fingerprint)


def _load_hub(task: Task, source: DataSource) -> LoadedData:
    from datasets import load_dataset

    try:
        dataset = load_dataset(source.hf_id, source.config, split=source.split, revision=source.revision)
    except Exception as exc:  # offline, not cached, gated, wrong id: all end the run the same way
        full = _datasets_cache_full(exc, task.name)
        if full is not None:
            raise full from None
        reason = first_line(exc) or type(exc).__name__
        raise UserError(
            f"cannot load dataset {source.hf_id!r} (config {source.config or 'default'}, split {source.split!r}) "
            f"for task {task.name!r}: {reason}. On an offline machine, either copy the dataset's files "
            f"(`hf download {source.hf_id} --repo-type dataset --local-dir DIR/{task.name}` on a connected machine) "
            f"and pass --data-dir DIR, or load it once online with the same HF_HOME and set HF_DATASETS_OFFLINE=1; "
            f"`--data demo` runs the built-in demo rows"
        ) from None
    _check_columns(task.name, source, dataset.column_names, f"the dataset {source.hf_id}")
    fingerprint = getattr(dataset, "_fingerprint", None) or hash_json(source.describe())
    return LoadedData(_undecoded(dataset, source), "hub", source.hf_id, fingerprint)
