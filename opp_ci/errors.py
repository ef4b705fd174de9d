"""The one exception type for problems the user can fix."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the input or the environment that the user can fix.

    The CLI prints `message` without a traceback and exits with `exit_code` (2 by default:
    bad input or environment, nothing started, nothing left behind).
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
