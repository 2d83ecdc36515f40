"""Data parallelism under torchrun: one process per GPU, samples sharded by rank, records merged by rank 0.

`torchrun --nproc_per_node 8 run_eval.py ...` (or several nodes sharing the output folder) sets
RANK / WORLD_SIZE / LOCAL_RANK; a plain `python run_eval.py` is world size 1 and never touches
torch.distributed.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """This process' place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def gather(self, value: T) -> list[T]:
        """Every rank's `value`, in rank order (picklable objects)."""
        if self.world_size == 1:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered


def init_from_env() -> DistContext:
    """Joins the process group torchrun describes in the environment (once); world size 1 otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    import torch
    import torch.distributed as dist

    context = DistContext(
        rank=int(os.environ["RANK"]), world_size=world_size, local_rank=int(os.environ.get("LOCAL_RANK", "0"))
    )
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(context.local_rank)
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return context


def shutdown(clean: bool = True) -> bool:
    """Leaves the process group, if one was joined: after a barrier when the run ended normally, so that no rank
    tears its group down while another is still inside a collective (rank 0 writes the results after the others
    are done). Returns whether a group was left (the caller then ends the process with `exit_process`)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()
        return True
    return False


def exit_process(code: int) -> NoReturn:
    """Ends a process that was part of a process group, with `code`, once its output is flushed.

    Interpreter teardown after torch.distributed (gloo) sometimes aborts a rank with SIGABRT ("terminate called
    without an active exception", from a C++ destructor at exit) after every result was written, which turned a
    finished run into a failed one under torchrun. Nothing of ours is left to do at that point: every file is
    closed and flushed, so the process skips the interpreter's teardown.
    """
    import logging
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
