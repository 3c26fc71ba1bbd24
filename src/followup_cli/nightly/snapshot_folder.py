"""The mechanics of a history folder (SPEC 8): its lock, the repair of what a killed run left,
and the exchange of a snapshot folder for its replacement in one step. `history` says what
a snapshot is and when these are used.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from followup_cli.core.errors import InputFileError
from followup_cli.outputs import signals
from followup_cli.outputs.writing import failure_reason

INCOMING = ".incoming"  # staging folders are DIR/.incoming-<id>/ (`.incoming/` before)
LOCK_FILE = ".followup.lock"
REPLACED = "replaced"  # in a staging folder: an old snapshot moved aside (no exchange)
_LEGACY_ASIDE = re.compile(r"(as_of=\d{4}-\d{2}-\d{2})\.[0-9a-f]{32}\.old")


def entries(history: Path) -> list[Path]:
    """The names in a history folder; one that cannot be read is said in one sentence."""
    try:
        return list(history.iterdir())
    except OSError as exc:
        raise InputFileError(
            f"--history {history}: the folder cannot be read ({exc.strerror or exc})"
        ) from None


def lock(history: Path) -> int:
    path = history / LOCK_FILE
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise unwritable(history, exc) from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(handle)
            os.close(handle)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise unwritable(history, exc) from exc
            raise InputFileError(
                f"--history {history} is in use by another run (pid {holder}); one run at a "
                f"time uses a history folder: nothing was reconciled and no output written "
                f"(only this run's report and metrics, when asked); run again when it has ended"
            ) from None
        # The run before may have removed the file between our open and our lock: then this
        # lock is on a file no one else will open; take the one now at that name.
        try:
            same = os.path.samestat(os.fstat(handle), os.stat(path, follow_symlinks=False))
        except OSError:
            same = False
        if same:
            os.ftruncate(handle, 0)
            os.write(handle, f"{os.getpid()}\n".encode())
            return handle
        os.close(handle)


def _holder(handle: int) -> str:
    try:
        text = os.pread(handle, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


def recover(history: Path) -> None:
    """Clear the staging folders a killed run left (no other run is using them: the lock is
    ours), first putting back an old snapshot it had moved aside and not yet replaced. A
    folder whose snapshot cannot be put back is left as it is, never removed with it."""
    for staging in entries(history):
        if not staging.name.startswith(INCOMING):
            continue
        if staging.is_symlink() or not staging.is_dir():
            with contextlib.suppress(OSError):
                staging.unlink()
            continue
        try:
            aside = [(p, p.name) for p in (staging / REPLACED).glob("as_of=*")]
            for path in staging.iterdir():
                legacy = _LEGACY_ASIDE.fullmatch(path.name)
                if legacy:
                    aside.append((path, legacy.group(1)))
            for path, name in aside:
                if not os.path.lexists(history / name):
                    os.rename(path, history / name)
        except OSError:
            continue
        shutil.rmtree(staging, ignore_errors=True)


def swap_into_place(staging: Path, target: Path, aside: Path) -> None:
    """Put `staging` at `target` so that at every instant one of the two snapshots is there.

    rename() cannot replace a non-empty folder. Linux exchanges the two names in one step
    (renameat2 with RENAME_EXCHANGE), leaving the old snapshot at the staging name. Elsewhere,
    or on a file system without it, the old one is moved aside into `aside` first, with signals
    held back between the two renames; a run killed there (SIGKILL, a power cut) is repaired
    by the next one (`locked`). A target that is a link to a folder elsewhere is replaced by
    the new folder; the link goes, the folder it pointed to is left as it is."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        return
    aside.mkdir(exist_ok=True)
    with signals.deferred():
        os.rename(target, aside / target.name)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(aside / target.name, target)
            raise


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2() -> Callable[..., int] | None:
    try:
        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None  # not Linux with glibc 2.28 or later: the two renames instead
    return function


_RENAMEAT2 = _renameat2()


def _exchange(first: Path, second: Path) -> bool:
    """Exchange two names in one step; False when this system or file system cannot."""
    if _RENAMEAT2 is None:
        return False
    done = _RENAMEAT2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def sync_folder(folder: Path) -> None:
    """Make the rename itself durable, so a power cut does not bring the old snapshot back."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def unwritable(history: Path, exc: Exception) -> InputFileError:
    """The history cannot take the snapshot: an OS error, or Polars' error wrapping one."""
    return InputFileError(
        f"--history {history}: cannot be written ({failure_reason(exc)}); the snapshot was not "
        f"stored"
    )
