"""Ending a run cleanly when it is told to stop (SPEC 6): SIGINT, SIGTERM or SIGHUP.

`timeout` sends SIGTERM, a closed terminal SIGHUP, Ctrl-C SIGINT. Each must leave no temporary
file and no half-replaced set of files, and end with the usual 128 + signal number (130, 143,
129) so a cron wrapper can tell "stopped" from "reconciled". The writer registers every
temporary file here while it exists; a signal removes them all and raises `Interrupted`, which
unwinds the run like any error (so `finally` blocks still run) and the command line maps to
its exit code. Only the main thread can install handlers; elsewhere this is a no-op.

The commit point is the moment a set of files lands (`files_written`, inside `deferred`, so a
rename sequence is never cut). Before it, a signal leaves nothing and ends the run with
128 + signum. After it, stopping would make a run whose output landed look killed to the
monitoring, and would leave nothing to undo anyway: the signal is only noted (`late_signal`),
the run ends with its own exit code, and the command line says the signal came after the
output set was written.

`install_early` covers the time before a command runs (importing Polars takes a few tenths of
a second, and Typer reads the options): a signal then ends the process with one line and
128 + signum, never a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class _State:
    temporaries: set[Path] = field(default_factory=set)
    deferring: int = 0  # depth of `deferred()` blocks under way
    pending: int | None = None  # a signal held back by `deferred()`
    received: int | None = None  # the signal that stopped the run
    files_written: bool = False
    late: int | None = None  # a signal that came after the commit point, not yet reported
    # While `handled` is under way, the signals the parent ignored (they stay ignored).
    ignored: frozenset[int] | None = None


_state = _State()


class Interrupted(BaseException):
    """The run was stopped by a signal. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` on the way up mistakes it for a failure to report and carry on from."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(self.describe())

    def describe(self) -> str:
        return message(self.signum)


def track(path: Path) -> None:
    """Remember a temporary file (or work folder) so that a signal removes it."""
    _state.temporaries.add(path)


def forget(path: Path) -> None:
    """The temporary file was renamed into place or removed: nothing left to clean."""
    _state.temporaries.discard(path)


def discard(path: Path) -> None:
    """Remove a temporary file (if it is still there) and stop tracking it."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
    forget(path)


def files_written() -> None:
    """The commit point: a set of files is in place. A signal from now on no longer stops the
    run; it is noted, and the run ends with its own exit code (`late_signal`)."""
    _state.files_written = True


def late_signal() -> int | None:
    """The signal that came after the commit point, once: None when none did, or when it was
    already taken (so it is reported once)."""
    signum, _state.late = _state.late, None
    return signum


def noted_late() -> int | None:
    """The signal that came after the commit point, left to `late_signal` to report."""
    return _state.late


def describe_late(signum: int) -> str:
    name = signal.Signals(signum).name
    return f"{name} came after the output set was written; the run finished and its files stand"


def message(signum: int) -> str:
    """The one line for a run stopped by `signum` before anything was written."""
    return f"interrupted by {signal.Signals(signum).name}; no partial file was left"


def install_early() -> None:
    """From now until a command installs its own handlers, a signal ends the process at once
    with one line and 128 + signum (SystemExit, which Python reports without a traceback even
    from inside an import). A signal the parent ignores stays ignored (nohup)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _exit_early)


def _exit_early(signum: int, _frame: FrameType | None) -> None:
    if _state.files_written:
        # After a command's files landed (its handlers restored, the process on its way out).
        _state.late = signum
        return
    remove_temporaries()
    sys.stderr.write(f"followup: error: {message(signum)}\n")
    sys.stderr.flush()
    raise SystemExit(128 + signum)


def ended() -> None:
    """The command has ended and its exit code is decided: from here a signal is ignored.
    Python puts the default action back for its handlers while the interpreter shuts down
    (an ignored signal it leaves alone), so a signal in that last moment ended a run whose
    files and report were written with 128 + signum instead of its own exit code."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN)


def remove_temporaries() -> None:
    for path in list(_state.temporaries):
        # A folder is a run's work folder (customer buckets): it goes with everything in it.
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        _state.temporaries.discard(path)


def raise_if_interrupted() -> None:
    """Re-raise a signal that a native library turned into its own error on the way up."""
    if _state.received is not None:
        raise Interrupted(_state.received)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Handle SIGINT, SIGTERM and SIGHUP for the length of a command, then restore the
    previous handlers. A signal the parent set to be ignored stays ignored: `nohup` asks for
    a run that outlives the terminal, and it must not end at the SIGHUP it was shielded from.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.received, _state.pending, _state.files_written = None, None, False
    _state.late = None
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    outer = _state.ignored
    _state.ignored = frozenset(s for s, handler in previous.items() if handler is signal.SIG_IGN)
    reclaim()
    try:
        yield
    finally:
        remove_temporaries()
        _state.ignored = outer
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def reclaim() -> None:
    """Put the command's handling of SIGINT, SIGTERM and SIGHUP (`handled`) back in place, after
    a native library put its own there: ours, or the ignore the parent asked for. Outside
    `handled` (the library, a notebook), nothing.

    Importing Polars 2.x installs a SIGINT handler behind Python's back (Python still reports
    the ignore), with which a SIGINT that the parent ignored stopped some runs (exit 130,
    nothing written); starting Ray installs its own SIGTERM handler, with which `timeout`
    ended a run with exit 15 and a stack dump instead of 143 and one line."""
    if _state.ignored is None or threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN if signum in _state.ignored else _on_signal)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal back until the block ends: creating a temporary file and registering it,
    or renaming a set of files into place, must not be cut in half. A signal that arrived
    meanwhile is raised as soon as the block is left."""
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
        if _state.deferring == 0 and _state.pending is not None:
            signum, _state.pending = _state.pending, None
            _stop(signum)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _state.deferring:
        _state.pending = signum
        return
    _stop(signum)


def _stop(signum: int) -> None:
    if _state.files_written:
        # After the commit point (a signal held back while the set was renamed into place
        # included): nothing to undo, and the run's own exit code is the truth.
        _state.late = signum
        return
    _state.received = signum
    remove_temporaries()
    raise Interrupted(signum)
