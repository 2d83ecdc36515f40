"""Errors a user can cause: the CLI prints their message and exits non-zero, without a traceback."""


class UserError(Exception):
    """Bad input from the user (unknown name, bad option, missing data); the message says what to do."""

    exit_code = 2
