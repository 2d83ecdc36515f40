"""Cheap checks of a checkpoint folder before a library loads it: damaged JSON, truncated safetensors, missing shards.

A half-finished download or a damaged copy otherwise surfaces as a library traceback deep inside loading
(`SafetensorError`, `JSONDecodeError`); these checks read only each file's header and name the file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from janus_eval.errors import UserError

SAFETENSORS_INDEX = "model.safetensors.index.json"
# safetensors' own bound on the header (the library refuses larger ones)
MAX_SAFETENSORS_HEADER = 100_000_000
AGAIN = "the checkpoint is damaged or was not downloaded completely: download or copy it again"


def check_checkpoint_folder(folder: Path) -> None:
    """Raises a UserError naming the first damaged file of a checkpoint folder (JSON, safetensors, index shards).

    Reads the JSON files and each safetensors header, never the tensors themselves.
    """
    for path in sorted(folder.glob("*.json")):
        check_json_file(path)
    for path in sorted(folder.glob("*.safetensors")):
        check_safetensors_file(path)
    index = folder / SAFETENSORS_INDEX
    if index.is_file():
        check_index_shards(index)


def check_json_file(path: Path) -> None:
    """A JSON file that does not parse (e.g. cut off mid-download) is named with the place where it breaks."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file; {AGAIN}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); {AGAIN}") from None


def check_safetensors_file(path: Path) -> None:
    """The safetensors layout: an 8-byte header length, a JSON header, then exactly the bytes the header describes."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise UserError(f"{path} holds {size} bytes, too few for a safetensors file; {AGAIN}")
        (header_length,) = struct.unpack("<Q", head)
        if header_length > min(MAX_SAFETENSORS_HEADER, size - 8):
            raise UserError(f"{path} is not a complete safetensors file (its header length is invalid); {AGAIN}")
        raw = handle.read(header_length)
    try:
        header = json.loads(raw)
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    except (ValueError, TypeError, KeyError, IndexError):
        raise UserError(f"{path} has a damaged safetensors header; {AGAIN}") from None
    expected = 8 + header_length + max(ends, default=0)
    if size != expected:
        what = "is truncated" if size < expected else "has trailing bytes"
        raise UserError(f"{path} {what}: it holds {size:,} bytes, its header describes {expected:,}; {AGAIN}")


def check_index_shards(index: Path) -> None:
    """Every shard a sharded checkpoint's index names must be there."""
    check_json_file(index)
    weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
    if not isinstance(weight_map, dict):
        raise UserError(f"{index} has no valid weight_map; {AGAIN}")
    missing = sorted({name for name in weight_map.values() if not (index.parent / str(name)).is_file()})
    if missing:
        raise UserError(f"{index.parent} lacks the weight shard(s) {', '.join(missing)} that {index.name} lists; {AGAIN}")
