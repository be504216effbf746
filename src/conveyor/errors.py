"""Errors a user can fix: printed as one line, never as a traceback."""

__all__ = ["ConfigError", "DataError", "UserError"]


class UserError(Exception):
    """A problem in the user's input (config, data, arguments), not a bug in conveyor.

    Command-line entry points print ``str(error)`` on one line and exit with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the source text was


class ConfigError(UserError):
    """A configuration file is missing, malformed or fails validation."""


class DataError(UserError):
    """An input data set is missing, unreadable or lacks what the step needs."""
