"""FID reference statistics: the real images' feature sums, streamed in batches, cached by fingerprint.

A reference set is a folder of real images (COCO val2014; MJHQ-30K's category folders). Its statistics are
cached in `cache_root()/fid-reference/<key>.npz`, keyed by the set's fingerprint (file names and contents),
its grouping and the feature protocol (extractor weights, preprocessing), so a changed folder or protocol
never reuses them. Such a file can also be given as precomputed statistics; it records what it was made from,
and a file of another protocol or another reference set is refused.

KID needs every reference feature row, not only the sums: only when it is asked for, the rows are kept too,
one float32 `.npy` per group beside the statistics (`<key>.<group>.features.npy`, their sha256 in its
metadata), and read memory-mapped. A FID-only run neither writes nor needs them.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from janus_eval.data.cache import cache_root
from janus_eval.data.hashing import cached_file_sha256, files_fingerprint, hash_json
from janus_eval.errors import UserError
from janus_eval.rules.fid_metric import OVERALL, ReferenceStatistics
from janus_eval.rules.frechet import STATS_FORMAT, FeatureStats
from janus_eval.rules.kernel_distance import NpyRows, Rows
from janus_eval.scorers.fid_features import FeatureExtractor

log = logging.getLogger(__name__)

# clean-fid 0.1.35's `EXTENSIONS` (cleanfid/utils.py) without its pre-decoded `npy` arrays; matched exactly
# (case-sensitive), as its recursive glob matches them
IMAGE_EXTENSIONS = frozenset({"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp", "JPEG", "JPG", "PNG"})
STATS_KIND = "janus-eval.fid-reference-statistics"
# below this many images the preprocessing runs in the main process (worker start-up would dominate)
PARALLEL_FROM = 256


def list_images(folder: Path) -> list[Path]:
    """Every image file under `folder` (recursive), sorted by path, as clean-fid lists a folder."""
    return sorted(p for p in folder.rglob("*") if p.suffix[1:] in IMAGE_EXTENSIONS and p.is_file())


@dataclass(frozen=True)
class ReferenceFolder:
    """A folder of real images split into groups (one group, or MJHQ's category sub-folders)."""

    root: Path
    groups: Mapping[str, tuple[Path, ...]]

    @property
    def count(self) -> int:
        return sum(len(files) for files in self.groups.values())

    def fingerprint(self) -> str:
        """Content fingerprint of every file and of the grouping."""
        files = [path for group in self.groups.values() for path in group]
        return hash_json(
            {
                "files": files_fingerprint(files, self.root),
                "groups": {g: len(f) for g, f in sorted(self.groups.items())},
            }
        )


def _check_folder(root: Path, what: str) -> None:
    if not root.is_dir():
        hint = "; unzip it and pass the folder" if root.suffix == ".zip" and root.is_file() else ""
        raise UserError(f"the {what} {root} is not a folder of images{hint}")


def flat_reference(root: Path, what: str = "reference folder") -> ReferenceFolder:
    """All images under `root` as one group (COCO: the val2014 folder)."""
    _check_folder(root, what)
    files = tuple(list_images(root))
    if len(files) < 2:
        raise UserError(f"the {what} {root} holds {len(files)} image(s); FID needs at least 2")
    return ReferenceFolder(root, {OVERALL: files})


def grouped_reference(root: Path, expected: Sequence[str], what: str = "reference folder") -> ReferenceFolder:
    """The images of each `<root>/<group>/` sub-folder as that group (MJHQ-30K: `<category>/<id>.jpg`)."""
    _check_folder(root, what)
    groups = {name: tuple(list_images(root / name)) if (root / name).is_dir() else () for name in expected}
    missing = [name for name, files in groups.items() if len(files) < 2]
    if missing:
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise UserError(
            f"the {what} {root} lacks images for {', '.join(missing)} (each group needs a sub-folder "
            f"<group>/ with at least 2 images; found sub-folders: {', '.join(found) or 'none'})"
        )
    return ReferenceFolder(root, groups)


def protocol_key(extractor: FeatureExtractor) -> dict[str, Any]:
    """What the features depend on: the network file, its input convention and the preprocessing (not the
    device or batch size, so statistics made on one machine serve another)."""
    info = extractor.describe()
    return {key: info[key] for key in ("extractor", "weights_sha256", "features", "input", "preprocessing")}


@dataclass
class LoadedReference:
    """Reference statistics and their provenance (recorded in the result)."""

    statistics: ReferenceStatistics
    info: dict[str, Any]


class _Decoded:
    """Reference images, preprocessed by the protocol, for a torch DataLoader (workers decode in parallel)."""

    def __init__(self, files: Sequence[Path], extractor: FeatureExtractor) -> None:
        self.files = files
        self.preprocessing = extractor.preprocessing

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None, str | None]:
        try:
            with Image.open(self.files[index]) as image:
                return index, self.preprocessing(image.convert("RGB")), None
        except Exception as exc:  # PIL raises many types for corrupt files
            return index, None, f"{type(exc).__name__}: {exc}"


def _as_list(batch: list[Any]) -> list[Any]:
    return batch


def _group_statistics(
    files: Sequence[Path], extractor: FeatureExtractor, workers: int | None, rows_path: Path | None = None
) -> FeatureStats:
    """The sums of a group's features, streamed one batch at a time; with `rows_path`, every row is also
    written there (a float32 .npy in file order, moved into place once complete)."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    if workers is None:
        workers = 0 if len(files) < PARALLEL_FROM else min(8, os.cpu_count() or 1)
    loader = DataLoader(
        _Decoded(files, extractor), batch_size=extractor.batch_size, num_workers=workers, collate_fn=_as_list
    )
    stats = FeatureStats.empty(extractor.dim)
    rows = staging = None
    if rows_path is not None:
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        staging = rows_path.with_name(f".{rows_path.name}.{os.getpid()}.tmp")
        rows = np.lib.format.open_memmap(staging, mode="w+", dtype=np.float32, shape=(len(files), extractor.dim))
    try:
        for batch in tqdm(loader, desc="FID reference features", unit="batch", disable=None, leave=False):
            for index, array, error in batch:
                if array is None:
                    raise UserError(f"unreadable reference image {files[index]} ({error}); remove or replace it")
            features = extractor.features_of_arrays([array for _, array, _ in batch])
            stats.add(features)
            if rows is not None:
                rows[[index for index, _, _ in batch]] = features
        if rows is not None and staging is not None and rows_path is not None:
            rows.flush()
            del rows
            os.chmod(staging, 0o644)
            os.replace(staging, rows_path)
    finally:
        if staging is not None and staging.exists():
            staging.unlink()
    return stats


def rows_file(statistics_file: Path, group: str) -> Path:
    """Where a group's feature rows sit beside a statistics file."""
    return statistics_file.with_name(f"{statistics_file.stem}.{group}.features.npy")


def _rows_metadata(statistics_file: Path, groups: Sequence[str]) -> dict[str, dict[str, str]]:
    return {
        group: {"file": rows_file(statistics_file, group).name, "sha256": cached_file_sha256(rows_file(statistics_file, group))}
        for group in groups
    }


def _load_rows(statistics_file: Path, metadata: Mapping[str, Any]) -> dict[str, Rows] | None:
    """The groups' feature rows recorded beside a statistics file (read on demand), or None when any is missing,
    changed or of another shape than the statistics say."""
    recorded = metadata.get("features")
    if not isinstance(recorded, dict) or set(recorded) != set(metadata.get("groups", {})):
        return None
    rows = {}
    for group, entry in recorded.items():
        path = statistics_file.with_name(str(entry.get("file", "")))
        if not path.is_file() or cached_file_sha256(path) != entry.get("sha256"):
            return None
        try:
            table = NpyRows(path)
        except ValueError:
            return None
        if table.shape[0] != metadata["groups"][group]:
            return None
        rows[group] = table
    return rows


def save_statistics(path: Path, statistics: ReferenceStatistics, metadata: Mapping[str, Any]) -> None:
    """Writes the statistics and what they were made from as one .npz, atomically."""
    arrays: dict[str, np.ndarray] = {"metadata": np.array(json.dumps({"kind": STATS_KIND, **metadata}, sort_keys=True))}
    for group, stats in statistics.groups.items():
        arrays.update({f"{group}.{name}": value for name, value in stats.to_arrays().items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
    os.close(handle)
    try:
        np.savez(staging, **arrays)
        os.chmod(staging, 0o644)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.remove(staging)


def load_statistics(path: Path) -> tuple[ReferenceStatistics, dict[str, Any]]:
    """Reads a statistics file written by `save_statistics`; UserError when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            metadata = json.loads(str(data["metadata"]))
            if metadata.get("kind") != STATS_KIND:
                raise ValueError("not janus-eval FID reference statistics")
            groups = {
                group: FeatureStats.from_arrays(
                    {n: data[f"{group}.{n}"] for n in ("format", "count", "total", "outer")}
                )
                for group in metadata["groups"]
            }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a janus-eval FID statistics file ({exc})") from None
    return ReferenceStatistics(groups), metadata


def _check_protocol(metadata: Mapping[str, Any], expected: Mapping[str, Any], path: Path) -> None:
    recorded = metadata.get("protocol", {})
    differs = sorted(key for key in set(recorded) | set(expected) if recorded.get(key) != expected.get(key))
    if differs:
        raise UserError(
            f"the FID statistics {path} were computed under another feature protocol (differs in "
            f"{', '.join(differs)}: file {json.dumps({k: recorded.get(k) for k in differs})}, this run "
            f"{json.dumps({k: expected.get(k) for k in differs})}); recompute them from the reference images"
        )


def folder_statistics(
    folder: ReferenceFolder, extractor: FeatureExtractor, workers: int | None = None, with_rows: bool = False
) -> LoadedReference:
    """The statistics of a reference folder: from the cache when the fingerprint and protocol match (and, with
    `with_rows`, the feature rows KID needs are there too), else streamed through the extractor (one batch in
    memory at a time) and cached, with the rows when asked for."""
    fingerprint = folder.fingerprint()
    protocol = protocol_key(extractor)
    key = hash_json({"format": STATS_FORMAT, "fingerprint": fingerprint, "protocol": protocol})
    path = cache_root() / "fid-reference" / f"{key[:32]}.npz"
    metadata: dict[str, Any] = {
        "format": STATS_FORMAT,
        "fingerprint": fingerprint,
        "protocol": protocol,
        "groups": {group: len(files) for group, files in folder.groups.items()},
        "made_from": str(folder.root),
    }
    if path.is_file():
        statistics, recorded = load_statistics(path)
        if recorded.get("fingerprint") == fingerprint and recorded.get("protocol") == protocol:
            rows = _load_rows(path, recorded) if with_rows else None
            if not with_rows or rows is not None:
                statistics.features = rows
                return LoadedReference(statistics, _info("folder", folder.root, path, recorded))
            log.info("the cached FID statistics %s lack the feature rows KID needs; computing them", path)
        else:
            log.warning("the cached FID statistics %s do not match their key; computing them again", path)
    log.info("computing FID reference statistics of %d images in %s", folder.count, folder.root)
    statistics = ReferenceStatistics(
        {
            group: _group_statistics(files, extractor, workers, rows_file(path, group) if with_rows else None)
            for group, files in folder.groups.items()
        }
    )
    if with_rows:
        metadata["features"] = _rows_metadata(path, list(folder.groups))
    save_statistics(path, statistics, metadata)
    statistics.features = _load_rows(path, metadata) if with_rows else None
    return LoadedReference(statistics, _info("folder", folder.root, path, metadata))


def file_statistics(
    path: Path, extractor: FeatureExtractor, folder: ReferenceFolder | None = None, with_rows: bool = False
) -> LoadedReference:
    """Precomputed statistics from `path`, checked against this run's feature protocol and, when the reference
    folder is given too, against that folder's fingerprint; with `with_rows`, the feature rows recorded beside
    it (a statistics file made by a run with KID)."""
    if not path.is_file():
        raise UserError(f"the FID statistics file {path} does not exist")
    statistics, metadata = load_statistics(path)
    _check_protocol(metadata, protocol_key(extractor), path)
    if folder is not None and folder.fingerprint() != metadata.get("fingerprint"):
        raise UserError(
            f"the FID statistics {path} were made from another reference set than {folder.root} ({folder.count} "
            f"images; the file: {sum(metadata.get('groups', {}).values())} images from {metadata.get('made_from')}); "
            "pass only one of them, or recompute the statistics from this folder"
        )
    if with_rows:
        statistics.features = _load_rows(path, metadata)
        if statistics.features is None:
            raise UserError(
                f"KID needs the reference images' feature rows, which the statistics {path} lack (or whose "
                f"{rows_file(path, '<group>').name} files are missing or changed): pass the reference folder "
                "instead, or statistics made by a run with kid=true (copy their .features.npy files along)"
            )
    return LoadedReference(statistics, _info("statistics file", Path(metadata.get("made_from", "?")), path, metadata))


def _info(kind: str, root: Path, path: Path, metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "source": kind,
        "images_from": str(root),
        "statistics_file": str(path),
        "fingerprint": metadata.get("fingerprint"),
        "groups": dict(metadata.get("groups", {})),
        "count": sum(metadata.get("groups", {}).values()),
    }
