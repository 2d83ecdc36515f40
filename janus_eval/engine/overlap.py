"""Finishing a batch (scoring, saving images, appending records) on a worker thread while the next one generates.

On a GPU, GenEval's detector and CLIP, PNG encoding and record writing would otherwise leave the
generator idle between batches. One worker thread runs the finishing jobs in submission order (records
keep their order); the queue holds one job, so at most two batches of outputs are in memory. PNG encoding
(zlib) and the scorers' kernels release the GIL, so the overlap is real in CPython too.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


class BatchFinisher:
    """Runs submitted jobs one after another on a worker thread; the first failure is re-raised to the caller.

    `submit` blocks while a job is waiting (one job queued behind the running one). Leaving the `with`
    block waits for every submitted job, also when the block itself raised (the batches already
    generated are recorded before the error goes on), and then re-raises a job's failure.
    """

    def __init__(self, depth: int = 1) -> None:
        self._jobs: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._failure: BaseException | None = None
        self._failed = False  # sticky: once a job failed, no later job runs, also after the failure was raised
        self._raised = False
        self._thread = threading.Thread(target=self._work, name="janus-eval-finisher", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            if self._failed:
                continue  # after a failure the remaining jobs are dropped; the caller learns of it
            function, args = job
            try:
                function(*args)
            except BaseException as exc:  # re-raised in the caller's thread
                self._failure = exc
                self._failed = True

    def _raise_failure(self, again: bool = False) -> None:
        """Raises a job's failure: once, or `again` on every call (a submit after a failure never queues)."""
        if self._failed and (again or not self._raised):
            self._raised = True
            assert self._failure is not None
            raise self._failure

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        """Queues `function(*args)`; raises the failure of an earlier job instead, if there was one."""
        self._raise_failure(again=True)
        self._jobs.put((function, args))

    def close(self) -> None:
        """Waits for every submitted job; raises the first job failure."""
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join()
        self._raise_failure()

    def __enter__(self) -> BatchFinisher:
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(BaseException):  # the block's own error is the one to report
            self.close()
