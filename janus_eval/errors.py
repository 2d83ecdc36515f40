"""Errors a user can cause: the CLI prints their message and exits non-zero, without a traceback."""


class UserError(Exception):
    """Bad input from the user (unknown name, bad option, missing data); the message says what to do."""

    exit_code = 2


def first_line(error: BaseException) -> str:
    """The first line of an exception's text (hub and network errors run to several lines; a message is one)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""
