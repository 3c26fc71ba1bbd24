"""Writing the labelled rows and the rejects (SPEC 5 and 6): files as a set, deterministic bytes.

Every file of a run is written to a temporary name in its own folder, and only when all are
complete are they renamed into place, so a run that fails or is interrupted half way leaves
yesterday's files (or none) and never a partial one or half a set. Devices, FIFOs and
/dev/stdout are written directly: renaming over them would replace the node itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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

from followup_cli.core.errors import OutputError, UsageError
from followup_cli.core.formats import OUTPUT_FORMATS, format_of
from followup_cli.core.schema import REJECT_COLUMNS
from followup_cli.outputs import signals
from followup_cli.outputs.workbook import Sheets, write_workbook

Fill = Callable[[BinaryIO], None]
"""What writes one file's bytes into an open binary file."""

UNDATED = dt.date(1980, 1, 1)  # a workbook's creation date when no as-of date is given

PARQUET_ROW_GROUP_ROWS = 262_144

FORMATS = OUTPUT_FORMATS  # the name this module always had

BINARY_FORMATS = ("parquet", "xlsx")

READER_WAIT_SECONDS = 30.0
"""How long a FIFO is waited on for a reader before the run gives up on it (exit 3): a reader
that starts just after the run is served, and a FIFO nobody will read never hangs a cron job."""

_READER_POLL_SECONDS = 0.05


def output_format(path: Path | None, requested: str | None) -> str:
    """--format if given, else the output file's extension, else CSV (standard output)."""
    if requested is not None:
        if requested not in FORMATS:
            raise UsageError(f"--format {requested!r}: choose one of {', '.join(FORMATS)}")
        fmt = requested
    elif path is None:
        return "csv"
    else:
        found = format_of(path)
        if found is None and is_special(path):
            return "csv"  # `-o /dev/stdout` or a FIFO: as standard output, no extension to read
        if found is None:
            raise UsageError(
                f"--output {path}: cannot tell the format from "
                f"{path.suffix or 'no extension'!r}; end the name in .csv, .parquet, .jsonl or "
                f".xlsx, or pass --format"
            )
        fmt = found
    if fmt in BINARY_FORMATS and _is_terminal(path):
        # A zip or Parquet file is not for reading on a screen, and its bytes can leave the
        # terminal in a mode a person must reset.
        where = "standard output" if path is None else str(path)
        raise UsageError(
            f"--format {fmt}: {where} is a terminal; give a file with -o NAME.{fmt}, or pipe it on"
        )
    return fmt


def _is_terminal(path: Path | None) -> bool:
    """Whether `path` (None: standard output) is a terminal. Only a character device is opened
    to ask: opening a FIFO's writing end would end its reader's stream when closed."""
    if path is None:
        return sys.stdout.isatty()
    try:
        if not stat.S_ISCHR(os.stat(path).st_mode):
            return False
        handle = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False  # checked as a destination later, with a sentence naming the reason
    try:
        return os.isatty(handle)
    finally:
        os.close(handle)


def beside(output: Path | None, suffix: str, fallback: str) -> Path:
    """The file that goes with the output: beside it, named after it (`out.csv` with
    "-rejects.csv" is `out-rejects.csv`), else `fallback` in the working folder (standard
    output, or a device or FIFO: `-o /dev/null` must not leave a file in /dev). The rejects
    and the changes files are both found here."""
    if output is None or is_special(output):
        return Path(fallback)
    return output.with_name(f"{output.stem}{suffix}")


def check_destinations(output: Path | None, rejects: Path, inputs: list[Path]) -> None:
    """Refuse, before any work, destinations that would overwrite an input or each other, or
    that cannot be written: the nightly job must never destroy the exports it reads."""
    read = {resolved("input", path) for path in inputs}
    for option, path in (("--output", output), ("--rejects", rejects)):
        if path is None:
            continue
        if resolved(option, path) in read:
            raise UsageError(f"{option} {path} is one of the input files; choose another name")
        check_writable(option, path)
    # Two regular files at one name would be one file; a device or FIFO can take both.
    same = output is not None and resolved("--output", output) == resolved("--rejects", rejects)
    if same and output is not None and not is_special(output):
        raise UsageError(f"--output and --rejects are the same file ({output}); give two names")


def resolved(option: str, path: Path) -> Path:
    """`path` with every symbolic link followed; a loop of links is a usage error naming it."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a loop of symbolic links (RuntimeError in 3.11)
        raise UsageError(f"{option} {path}: cannot be followed ({_reason(exc)})") from None


def check_writable(option: str, path: Path) -> None:
    """Refuse, before any work, a file destination the run could not write (exit 2), so a run
    never fails at the end, after other files of it were written. A regular file is written
    through a temporary file in its folder, so that folder must exist and take a new file; a
    device or FIFO must be writable itself."""
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name")
    if is_special(path):
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                raise UsageError(
                    f"{option} {path} is a socket, which cannot be opened; give a file"
                )
        if not os.access(path, os.W_OK):
            raise UsageError(f"{option} {path}: cannot be written (permission denied)")
        return
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    probe_folder(option, path, folder)


def probe_folder(option: str, path: Path, folder: Path) -> None:
    """Whether a file can be made in `folder`, by making one and removing it at once: the
    permission bits do not say (root ignores them; /proc takes no new file whatever they say)."""
    with signals.deferred():
        try:
            handle, name = tempfile.mkstemp(prefix=".followup-probe.", dir=folder)
        except OSError as exc:
            raise UsageError(
                f"{option} {path}: the folder {folder} cannot be written ({_reason(exc)})"
            ) from None
        signals.track(Path(name))
    os.close(handle)
    _discard(Path(name))


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def is_rejects_file(path: Path) -> bool:
    """Whether `path` is a rejects file this command wrote (judged by its header line)."""
    header = ",".join(REJECT_COLUMNS).encode()
    # The header's length and a BOM's: a large file with no line break is not read whole.
    start = None if is_special(path) else read_regular(path, len(header) + 8)
    if start is None:
        return False
    first = start.split(b"\n", 1)[0].strip().removeprefix(b"\xef\xbb\xbf")  # --bom
    return first == header


def read_regular(path: Path, limit: int) -> bytes | None:
    """The first `limit` bytes of `path`, and one more if there are more (so a caller can tell
    a file too big to be one this tool wrote), when it is a regular file (followed through
    links); None when it is missing, unreadable or anything else: a FIFO would block the run
    until a writer came, /dev/stdout on a pipe for ever, and /dev/full or /dev/zero never end.
    The file is checked before it is opened (opening a FIFO or a tape has effects of its own)
    and again once open (it could have been swapped in between)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return None
    with os.fdopen(handle, "rb") as source:
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                return None
            return source.read(limit + 1)
        except OSError:
            return None


def _serialise(
    frame: pl.DataFrame | pl.LazyFrame,
    fmt: str,
    sink: BinaryIO,
    bom: bool = False,
    sheets: Sheets | None = None,
) -> None:
    """`frame` as `fmt` into `sink`. Rows not in memory (a LazyFrame) stream through Polars'
    sinks, which write the same bytes as its writers (checked in the tests)."""
    if fmt == "xlsx":
        rows = frame if isinstance(frame, pl.DataFrame) else frame.collect()
        write_workbook(sink, rows, sheets or Sheets(as_of=UNDATED))
        return
    lazy = frame.lazy()
    if fmt == "csv":
        lazy.sink_csv(sink, date_format="%Y-%m-%d", include_bom=bom)
    elif fmt == "parquet":
        # Row groups of a fixed size, not one per chunk of the frame: Polars cuts pages at the
        # frame's chunk boundaries, which the streaming engine draws differently run to run and
        # --buckets differently again (two runs at 1M people gave files of 10,012,569 and
        # 10,010,525 bytes with the same rows).
        lazy.sink_parquet(sink, statistics=False, row_group_size=PARQUET_ROW_GROUP_ROWS)
    else:
        # JSON has no exact decimal: money goes as text ("-4.00") so no reader turns it into
        # a binary float.
        schema = lazy.collect_schema()
        money = [c for c, t in schema.items() if isinstance(t, pl.Decimal)]
        lazy.with_columns(pl.col(money).cast(pl.String)).sink_ndjson(sink)


def frame_writer(
    frame: pl.DataFrame | pl.LazyFrame,
    fmt: str,
    *,
    bom: bool = False,
    sheets: Sheets | None = None,
) -> Fill:
    """What writes `frame` as `fmt` into an open file: one member of a set for write_together.

    `bom` starts a CSV with a UTF-8 BOM; `sheets` is what a workbook holds beside the lists.
    """
    return lambda sink: _serialise(frame, fmt, sink, bom, sheets)


def write_frame(
    frame: pl.DataFrame,
    path: Path | None,
    fmt: str,
    *,
    bom: bool = False,
    sheets: Sheets | None = None,
) -> None:
    """Write `frame` to `path` atomically, or to standard output when path is None."""
    write_together([(path, frame_writer(frame, fmt, bom=bom, sheets=sheets))])


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
            _discard(item.temporary)
    _sync_folders({item.target.parent for item in staged} | {path.parent for path in remove})


def is_special(path: Path) -> bool:
    """Whether `path` is something other than a regular file that must be written in place:
    a device, FIFO or socket, or a regular file reached through /dev or /proc (`/dev/stdout`
    when the shell sent standard output to a file: renaming over it would replace the link)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # not there yet (or not reachable): a new regular file, or a clear error
    if not stat.S_ISREG(mode):
        return True
    hop = Path(os.path.abspath(path))
    for _ in range(_MAX_LINKS):
        if hop.parts[1:2] in (("dev",), ("proc",)):
            return True
        if not hop.is_symlink():
            return False
        hop = Path(os.path.abspath(hop.parent / os.readlink(hop)))
    return False


# --- the set, step by step ------------------------------------------------------------------

_MAX_LINKS = 40  # as the kernel's own limit on a chain of symbolic links


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
        _discard(temporary)
        _raise_as_output_error(path, exc)
    return staged


def _write_directly(path: Path | None, fill: Fill) -> None:
    if path is None:
        buffer = io.BytesIO()
        fill(buffer)
        _write_stdout(buffer.getvalue())
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


def _commit(staged: Sequence[_Staged], remove: Sequence[Path]) -> None:
    """Rename every temporary file into place and remove `remove`; on a failure undo what was
    done, so the folder holds yesterday's set. The previous version of each file is kept as a
    hard link until the set is in place (where the file system has no hard links, a failure
    after the first rename cannot be undone, which is no worse than a plain rename)."""
    undo: list[tuple[Path, Path | None]] = []  # (target, its previous version or None)
    kept: list[Path] = []
    current: Path = Path()
    try:
        for item in staged:
            current = item.shown
            previous = _keep(item.target)
            if previous is not None:
                kept.append(previous)
            os.replace(item.temporary, item.target)
            signals.forget(item.temporary)
            undo.append((item.target, previous))
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
            _discard(path)


def _keep(target: Path) -> Path | None:
    """A hard link to the file about to be replaced, or None when there is none to keep."""
    spare = _spare_name(target)
    signals.track(spare)
    try:
        os.link(target, spare, follow_symlinks=False)
    except OSError:
        signals.forget(spare)
        return None
    return spare


def _spare_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.previous")


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
    signals.forget(path)


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
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    # Polars and Rust word an OS error as "...: No space left on device (os error 28)".
    reason = re.sub(r"\s*\(os error \d+\)$", "", reason.rsplit("IO error: ", 1)[-1])
    return OutputError(f"{path}: cannot be written ({reason}); no file was created or changed")


def _write_stdout(data: bytes) -> None:
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
