"""A sample's failure is data: batches that raise are retried in halves down to one request, a lone failure is
recorded with its error, out-of-memory lowers the batch size for the rest of the run, and a threshold
(`--max-failed`) stops a run whose failures are no longer rare."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from janus_eval.errors import UserError
from janus_eval.reports.sample_records import ErrorInfo, ErrorStage

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# what is never a sample's failure: the user's input, an interrupt, the interpreter leaving
NOT_SAMPLE_FAILURES = (UserError, KeyboardInterrupt, SystemExit, GeneratorExit)


class TooManyFailures(UserError):
    """More samples failed than `--max-failed` allows: the run stops (exit 1); what was recorded stays."""

    exit_code = 1


def error_info(exc: BaseException, stage: ErrorStage) -> ErrorInfo:
    """The record of an exception: its stage, type, message and traceback."""
    return ErrorInfo(
        stage=stage,
        type=type(exc).__name__,
        message=str(exc).strip() or type(exc).__name__,
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA (torch.OutOfMemoryError, a RuntimeError) or host out-of-memory, told apart without importing torch."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _release_accelerator_memory() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class BatchLimit:
    """The batch size in effect: `--batch-size`, lowered for the rest of the run after an out-of-memory error."""

    size: int
    out_of_memory_errors: int = 0

    @property
    def lowered(self) -> bool:
        return self.out_of_memory_errors > 0

    def take(self, items: Sequence[T]) -> Iterator[Sequence[T]]:
        """Consecutive batches of `items`, each of the size in effect when it is taken."""
        start = 0
        while start < len(items):
            yield items[start : start + self.size]
            start += self.size


def run_halving(
    items: Sequence[T], call: Callable[[Sequence[T]], R], limit: BatchLimit, stage: ErrorStage
) -> Iterator[tuple[Sequence[T], R | ErrorInfo]]:
    """`call(items)`; when it raises, the two halves again, down to single items, whose error is yielded instead.

    Yields (items, result) pairs that together cover `items` in order. An out-of-memory error also lowers
    `limit.size` to half the batch that failed, so later batches start at a size that fits.
    """
    try:
        yield items, call(items)
        return
    except NOT_SAMPLE_FAILURES:
        raise
    except Exception as exc:
        out_of_memory = is_out_of_memory(exc)
        if out_of_memory:
            _release_accelerator_memory()
            limit.out_of_memory_errors += 1
            limit.size = max(1, min(limit.size, len(items) // 2))
            log.warning("out of memory on a batch of %d; batches of %d from now on", len(items), limit.size)
        if len(items) == 1:
            log.warning("a sample failed in %s: %s: %s", stage, type(exc).__name__, exc)
            yield items, error_info(exc, stage)
            return
        log.info("a batch of %d raised %s; retrying it in parts", len(items), type(exc).__name__)
    if not out_of_memory:
        middle = len(items) // 2
        yield from run_halving(items[:middle], call, limit, stage)
        yield from run_halving(items[middle:], call, limit, stage)
        return
    start = 0
    while start < len(items):  # parts of the size in effect, which a deeper out-of-memory error may lower again
        part = items[start : start + limit.size]
        start += len(part)
        yield from run_halving(part, call, limit, stage)


@dataclass(frozen=True)
class FailureBudget:
    """`--max-failed`: a count (1 or more), a fraction of the task's samples (below 1), or None (no limit)."""

    max_failed: float | None = None

    def __post_init__(self) -> None:
        if self.max_failed is not None and self.max_failed < 0:
            raise UserError(f"--max-failed must be 0 or more, got {self.max_failed:g}")

    def allowed(self, total: int) -> float:
        if self.max_failed is None:
            return float("inf")
        return self.max_failed * total if 0 < self.max_failed < 1 else self.max_failed

    def check(self, task: str, failed: int, total: int, first_error: ErrorInfo | None) -> None:
        """Raises TooManyFailures once `failed` of `total` samples exceed the budget."""
        if failed <= self.allowed(total):
            return
        assert self.max_failed is not None
        budget = f"{self.max_failed:g} of the samples" if 0 < self.max_failed < 1 else f"{self.max_failed:g}"
        raise TooManyFailures(
            f"task {task!r}: {failed} of {total} samples failed, more than --max-failed {budget} allows "
            f"(first error: {first_error}); the run stopped with every finished sample recorded: fix the cause "
            "and rerun the same command, which resumes and retries the failed samples"
        )
