"""Errors a user can cause: the CLI prints their message and exits non-zero, without a traceback."""

from __future__ import annotations

import argparse
import os
import sys


class UserError(Exception):
    """Bad input from the user (unknown name, bad option, missing data); the message says what to do."""

    exit_code = 2


def first_line(error: BaseException) -> str:
    """The first line of an exception's text (hub and network errors run to several lines; a message is one)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def report_error(message: str) -> int:
    """Prints a user error the one way every command does; returns its exit code (2)."""
    print(f"janus-eval: error: {message}", file=sys.stderr)
    return UserError.exit_code


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the harness' error style: the usage, one error line and exit 2 (every command's parser)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise SystemExit(report_error(message))


INTERRUPTED = "janus-eval: interrupted; finished samples are saved: rerun the same command to resume"


def exit_at_once(signum: int, frame: object) -> None:
    """SIGINT before the run has started (while the libraries are imported): leave at once with exit 130.

    An interrupt inside torch's import would otherwise end in a traceback or a crash; nothing is recorded yet.
    """
    sys.stderr.write(f"\n{INTERRUPTED}\n")
    sys.stderr.flush()
    os._exit(130)


_interrupts: list[int] = []


def raise_interrupt(signum: int, frame: object) -> None:
    """SIGINT once the run has started: a KeyboardInterrupt, remembered too, because one raised inside a finalizer
    (`__del__`) is swallowed by Python; the engine checks `interrupted()` between batches."""
    _interrupts.append(signum)
    raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether SIGINT arrived since the run started (see `raise_interrupt`)."""
    return bool(_interrupts)
