"""One family of domain errors, each carrying the exit code the spec gives it (SPEC section 6)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_REJECTED_ROWS = 1
EXIT_USAGE = 2
EXIT_NOTHING_RECONCILED = 3


class FollowupError(Exception):
    """Base of every error the command reports to a person instead of a traceback."""

    exit_code = EXIT_NOTHING_RECONCILED


class UsageError(FollowupError):
    """A bad option or option value: nothing was read."""

    exit_code = EXIT_USAGE


class InputFileError(FollowupError):
    """A file is missing, unreadable or lacks a required column: nothing is reconciled."""

    exit_code = EXIT_NOTHING_RECONCILED


class OutputError(FollowupError):
    """The output or rejects file cannot be written: the run's result is not delivered."""

    exit_code = EXIT_NOTHING_RECONCILED


class BadRowError(FollowupError):
    """`--on-error fail` met a bad row: nothing is written."""

    exit_code = EXIT_NOTHING_RECONCILED


class UnusableRunError(FollowupError):
    """No customer row is usable, or more than --max-rejected of a table was set aside: the
    export itself is probably broken, so yesterday's output is better left as it is."""

    exit_code = EXIT_NOTHING_RECONCILED
