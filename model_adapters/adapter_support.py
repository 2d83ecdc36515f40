"""Small pieces every model adapter needs: batches of a list, installed package versions for the identity."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from typing import Any


def chunks(items: list[Any], size: int | None) -> Iterator[list[Any]]:
    """`items` in consecutive batches of `size` (all at once for None); nothing for no items."""
    if not items:
        return
    step = size or len(items)
    for start in range(0, len(items), step):
        yield items[start : start + step]


def installed_version(package: str) -> str | None:
    """The installed version of `package` (None when it is not installed), without importing it."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
