"""Writing the labelled rows and the rejects (SPEC 5 and 6): files as a set, deterministic bytes.

Every file of a run is written to a temporary name in its own folder, and only when all are
complete are they renamed into place, so a run that fails or is interrupted half way leaves
yesterday's files (or none) and never a partial one or half a set. Devices, FIFOs and
/dev/stdout are written directly: renaming over them would replace the node itself.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import secrets
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

import polars as pl

from followup_cli.core.errors import OutputError
from followup_cli.outputs import signals
from followup_cli.outputs.destinations import is_special

Fill = Callable[[BinaryIO], None]
"""What writes one file's bytes into an open binary file."""

READER_WAIT_SECONDS = 30.0
"""How long a FIFO is waited on for a reader before the run gives up on it (exit 3): a reader
that starts just after the run is served, and a FIFO nobody will read never hangs a cron job."""

_READER_POLL_SECONDS = 0.05


def write_atomically(path: Path, fill: Fill) -> None:
    """Write one file through a temporary name: the previous file, or none, until complete."""
    write_together([(path, fill)])


def write_together(files: Sequence[tuple[Path | None, Fill]], remove: Sequence[Path] = ()) -> None:
    """Write a run's files as a set (SPEC 6): every one of them lands, or none changes.

    `files` pairs each destination (None: standard output) with what fills it; `remove` names
    files that go when, and only when, the set lands (a stale rejects file). A regular file,
    or one not there yet, is written in full to a temporary file in its own folder, and
    only when all are complete are they renamed into place, in order; if a rename fails, those
    already renamed are put back. A device, a FIFO, a socket or /dev/stdout is never renamed
    over: it is written directly, after every temporary file is complete (what reaches it
    cannot be taken back). A failure raises OutputError naming the file and the reason.
    """
    staged: list[_Staged] = []
    try:
        direct: list[tuple[Path | None, Fill]] = []
        for path, fill in files:
            if path is None or is_special(path):
                direct.append((path, fill))
            else:
                staged.append(_stage(path, fill))
        for path, fill in direct:
            _write_directly(path, fill)
        with signals.deferred():
            _commit(staged, remove)
            signals.files_written()
    finally:
        for item in staged:
            signals.discard(item.temporary)
    _sync_folders({item.target.parent for item in staged} | {path.parent for path in remove})


@dataclass(frozen=True)
class _Staged:
    shown: Path  # as the person wrote it, for messages
    target: Path  # through any symbolic link: the file itself is replaced, the link is kept
    temporary: Path


def _stage(path: Path, fill: Fill) -> _Staged:
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as exc:  # a loop of symbolic links (RuntimeError in 3.11)
        raise _unwritable(path, exc) from exc
    with signals.deferred():
        try:
            handle, name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".part", dir=target.parent
            )
        except OSError as exc:
            raise _unwritable(path, exc) from exc
        temporary = Path(name)
        signals.track(temporary)
    staged = _Staged(path, target, temporary)
    try:
        with os.fdopen(handle, "wb") as sink:
            _inherit_owner_and_mode(sink.fileno(), target)
            fill(sink)
            sink.flush()
            os.fsync(sink.fileno())
    except BaseException as exc:
        signals.discard(temporary)
        _raise_as_output_error(path, exc)
    return staged


def _write_directly(path: Path | None, fill: Fill) -> None:
    if path is None:
        buffer = io.BytesIO()
        fill(buffer)
        write_stdout(buffer.getvalue())
        return
    try:
        # Appending, when /dev/stdout leads to a regular file, keeps what `>>` asked for and
        # never truncates what the shell set up; a device or FIFO has no end to append at.
        append = stat.S_ISREG(os.stat(path).st_mode)
        handle = _open_directly(path, os.O_WRONLY | os.O_NOCTTY | (os.O_APPEND if append else 0))
        with os.fdopen(handle, "wb") as sink:
            fill(sink)
            sink.flush()
    except BaseException as exc:
        _raise_as_output_error(path, exc)


def _open_directly(path: Path, flags: int) -> int:
    """Open a device, FIFO or /dev/stdout for writing. A plain open of a FIFO waits for a
    reader for ever (a cron job that never ends, its lock held); here it is asked without
    waiting (ENXIO: nobody reading yet) every few hundredths of a second, for
    READER_WAIT_SECONDS at most. The handle is made blocking again for the write itself."""
    deadline = time.monotonic() + READER_WAIT_SECONDS
    while True:
        try:
            handle = os.open(path, flags | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or not stat.S_ISFIFO(os.stat(path).st_mode):
                raise
            if time.monotonic() >= deadline:
                raise OSError(
                    errno.ENXIO,
                    f"it is a FIFO nobody read from within {READER_WAIT_SECONDS:g} seconds",
                ) from None
            time.sleep(_READER_POLL_SECONDS)
    os.set_blocking(handle, True)
    return handle


_ASIDE = Path()
"""`_keep`'s answer for a file no link can keep: moved aside just before its replacement."""


def _commit(staged: Sequence[_Staged], remove: Sequence[Path]) -> None:
    """Rename every temporary file into place and remove `remove`; on a failure undo what was
    done, so the folder holds yesterday's set. The previous version of each file is kept
    under a spare name until the set is in place: by a hard link, made for every file before
    anything is renamed, so each file stays in place until replaced; where no link can be made
    (`_keep`), by moving the file aside just before its replacement (for that moment there is
    no file at the name). A failure puts every kept version back."""
    undo: list[tuple[Path, Path | None]] = []  # (target, its previous version or None)
    kept: list[Path] = []
    current: Path = Path()
    try:
        previous_of: list[Path | None] = []
        for item in staged:
            current = item.shown
            previous = _keep(item.target)
            if previous is not None and previous is not _ASIDE:
                kept.append(previous)
            previous_of.append(previous)
        for item, keeping in zip(staged, previous_of, strict=True):
            current = item.shown
            previous = _moved_aside(item.target) if keeping is _ASIDE else keeping
            if keeping is _ASIDE and previous is not None:
                kept.append(previous)
            # Before the rename: if it fails, undo leaves the name as it was (a link kept puts
            # the same file back; a file moved aside comes back; no file stays none).
            undo.append((item.target, previous))
            os.replace(item.temporary, item.target)
            signals.forget(item.temporary)
        for path in remove:
            if not os.path.lexists(path) or is_special(path):
                continue  # gone meanwhile, or not ours to remove: no reason to fail the set
            current = path
            previous = _spare_name(path)
            signals.track(previous)
            kept.append(previous)
            os.replace(path, previous)
            undo.append((path, previous))
    except BaseException as exc:
        for target, previous in reversed(undo):
            with contextlib.suppress(OSError):
                if previous is None:
                    target.unlink()
                else:
                    os.replace(previous, target)
        if isinstance(exc, OSError):
            raise _unwritable(current, exc) from exc
        raise
    finally:
        for path in kept:
            signals.discard(path)


def _keep(target: Path) -> Path | None:
    """A hard link to the file about to be replaced, under a spare name; None when there is no
    file there yet; `_ASIDE` when no link can be made (the kernel's protected_hardlinks, for
    another user's file, or a file system without hard links): then the file itself is moved
    aside just before its replacement. Counting such a file as new made a failed set remove it
    (yesterday's output gone, and "nothing changed" said)."""
    spare = _spare_name(target)
    signals.track(spare)
    try:
        os.link(target, spare, follow_symlinks=False)
    except FileNotFoundError:
        signals.forget(spare)
        return None
    except OSError:
        signals.forget(spare)
        try:
            regular = stat.S_ISREG(os.lstat(target).st_mode)
        except OSError:
            return None
        # Only a file is moved aside: a folder put at the name is left where it is, and the
        # rename over it fails the set.
        return _ASIDE if regular else None
    return spare


def _moved_aside(target: Path) -> Path | None:
    """`target` renamed to a spare name (the same folder, so the rename cannot fail where the
    replacement would not), or None when it is gone meanwhile."""
    spare = _spare_name(target)
    signals.track(spare)
    try:
        os.replace(target, spare)
    except FileNotFoundError:
        signals.forget(spare)
        return None
    except BaseException:
        signals.forget(spare)
        raise
    return spare


def _spare_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.previous")


def _sync_folders(folders: set[Path]) -> None:
    """Make the renames durable: a crash right after the run must not bring yesterday back."""
    for folder in folders:
        try:
            handle = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        with contextlib.suppress(OSError):
            os.fsync(handle)
        os.close(handle)


def _inherit_owner_and_mode(handle: int, target: Path) -> None:
    """mkstemp makes the file private (0600) and ours; give it what a plain write would leave:
    the existing file's mode and owner (root replacing the gym user's file keeps it theirs),
    else the mode the umask allows, so the spreadsheet user or group can read the nightly file.
    """
    try:
        existing = target.stat()
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)
        return
    with contextlib.suppress(OSError):
        os.fchown(handle, existing.st_uid, existing.st_gid)
    os.fchmod(handle, existing.st_mode & 0o7777)


def _raise_as_output_error(path: Path, exc: BaseException) -> NoReturn:
    """An OS error, or a Polars error wrapping one, is the file's fault, not an internal one."""
    signals.raise_if_interrupted()
    if isinstance(exc, OSError | pl.exceptions.PolarsError):
        raise _unwritable(path, exc) from exc
    raise exc


def _unwritable(path: Path, exc: BaseException) -> OutputError:
    reason = failure_reason(exc)
    return OutputError(f"{path}: cannot be written ({reason}); no file was created or changed")


def failure_reason(exc: BaseException) -> str:
    """Why a write failed, in the OS's own words: an OSError's, or the one inside Polars' and
    Rust's wording ("...parquet: IO error: No space left on device (os error 28)")."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return re.sub(r"\s*\(os error \d+\)$", "", reason.rsplit("IO error: ", 1)[-1].strip())


def write_stdout(data: bytes) -> None:
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        # `followup reconcile | head` closes the pipe early; that is the reader's choice, not
        # an error. Point stdout at devnull so Python's exit flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError as exc:  # a full disk behind `> file`, for one
        raise OutputError(f"standard output cannot be written ({exc.strerror})") from exc
