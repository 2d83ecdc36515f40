"""Judge work over a batch of samples, with the failure contract of scoring: a grading that fails after the
judge's retries makes `score_batch` raise SampleError, and the engine then scores the batch's samples one by
one. The others were cached and cost nothing again; the failed ones are remembered here so that they fail at
once instead of going through their retries a second time."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from janus_eval.api import SampleError
from janus_eval.scorers.judge.client import JudgeClient, JudgeError

T = TypeVar("T")
R = TypeVar("R")


class JudgedBatches:
    """Runs judge work concurrently over the samples of a batch that need it (see the module docstring)."""

    def __init__(self, what: str, unit: str = "sample") -> None:
        self.what = what  # e.g. "grading", for the messages
        self.unit = unit  # what an item's name names in the messages
        self._failed: dict[Hashable, str] = {}

    def run(
        self, client: JudgeClient, work: Callable[[T], R], items: Sequence[tuple[str, Hashable, T]], batch_size: int
    ) -> list[R]:
        """`work` over the payloads of `items` = (sample id or other name, key of the work, payload), in order.

        Raises:
            SampleError: some work failed (the message names the first sample); in a batch of more than one
                sample the failures are remembered by key for the one-by-one scoring that follows.
        """

        replayed: set[Hashable] = set()

        def guarded(item: tuple[str, Hashable, T]) -> R:
            _, key, payload = item
            failed = self._failed.pop(key, None)
            if failed is not None:
                replayed.add(key)
                raise JudgeError(failed)
            return work(payload)

        results = client.map(guarded, items)
        failures = [(item, result) for item, result in zip(items, results) if isinstance(result, JudgeError)]
        if failures:
            if batch_size > 1:  # a remembered failure fails once, at once, then it is asked again
                self._failed.update({item[1]: str(error) for item, error in failures if item[1] not in replayed})
            (sample_id, _, _), error = failures[0]
            raise SampleError(f"{self.what} of {self.unit} {sample_id} failed: {error}")
        return results  # type: ignore[return-value]
