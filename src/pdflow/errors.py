"""The exceptions pdflow raises and the exit codes the CLI maps them to."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit statuses of the ``pdflow`` command."""

    OK = 0
    ERROR = 1
    USAGE = 2
    BLOCKED = 3


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, or its type when it has none."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


class PdflowError(Exception):
    """Base of every error pdflow raises on purpose; its message is one line."""

    exit_code = ExitCode.ERROR


class DataError(PdflowError):
    """The loan data cannot be used: missing file, bad target, too few rows."""


class ConfigError(PdflowError):
    """An option, a hyperparameter or a grid is not valid."""

    exit_code = ExitCode.USAGE


class RegistryError(PdflowError):
    """A registered model or version does not exist or cannot be changed."""


class TrackingError(PdflowError):
    """The tracking store cannot be reached or refused a request."""


class PromotionBlocked(PdflowError):
    """The promotion gate refused a version; nothing was changed."""

    exit_code = ExitCode.BLOCKED
