"""Unique, stable sample ids built from dataset keys that may repeat."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def occurrence_ids(keys: Iterable[str], *, number_all: bool = False) -> list[str]:
    """Makes `keys` unique by appending `#k`, k = how many times the key occurred before (0-based).

    With `number_all`, every id gets its `#k` (MME: each image has two questions, so `img#0`,
    `img#1`); otherwise only repeats do (`key`, `key#1`, ...). The ids depend only on the keys
    and their order, so they are stable across runs over the same data.

    Raises:
        ValueError: if the result still collides (a key that already looks like `other#1`).
    """
    seen: Counter[str] = Counter()
    ids: list[str] = []
    for key in keys:
        occurrence = seen[key]
        seen[key] += 1
        ids.append(f"{key}#{occurrence}" if number_all or occurrence else key)
    duplicates = [item for item, count in Counter(ids).items() if count > 1]
    if duplicates:
        raise ValueError(f"sample ids are not unique, e.g. {duplicates[0]!r}")
    return ids
