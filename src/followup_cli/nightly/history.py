"""The history of runs (SPEC 8): one hive-style snapshot folder per as-of date.

    DIR/as_of=2024-07-30/followup.parquet   the output of that night's run
    DIR/as_of=2024-07-30/report.json        its run report

DuckDB (`read_parquet('DIR/*/followup.parquet', hive_partitioning = true)`) or Polars
(`pl.scan_parquet('DIR/*/followup.parquet', hive_partitioning=True)`) read the whole history as
one table with an as_of column. A rerun of a date replaces its folder as a whole: the new one is
written in a staging folder of the run's own, DIR/.incoming-<id>/ (one level deeper, so those
globs never see it half written), and exchanged with the old one in one step, so a reader sees
the old snapshot or the new one, never half of each and never neither.

A history folder is used by one run at a time: `locked()` holds DIR/.followup.lock for the
whole run (reading the previous snapshot, storing this one); a second run is refused at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.core.errors import InputFileError, UsageError
from followup_cli.core.formats import format_of
from followup_cli.core.money import MONEY_DTYPE
from followup_cli.core.schema import normalise_id
from followup_cli.nightly import changes as changes_module
from followup_cli.outputs import signals
from followup_cli.outputs.safe_csv import unguard_formulas
from followup_cli.outputs.writing import is_special, resolved

SNAPSHOT_FILE = "followup.parquet"
REPORT_FILE = "report.json"
INCOMING = ".incoming"  # staging folders are DIR/.incoming-<id>/ (`.incoming/` before)
LOCK_FILE = ".followup.lock"
_REPLACED = "replaced"  # in a staging folder: an old snapshot moved aside (no exchange)
_FOLDER = re.compile(r"as_of=(\d{4}-\d{2}-\d{2})")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_LEGACY_ASIDE = re.compile(r"(as_of=\d{4}-\d{2}-\d{2})\.[0-9a-f]{32}\.old")

# The output's typed columns (SPEC 5); anything else (carried columns, reasons) is text.
_MONEY = ("balance", "past_due")
_DATES = ("oldest_unpaid_on",)
_COUNTS = ("days_in_arrears", "data_issues")
# What a comparison reads of an output: text that must be text, and the balance.
_TEXT = ("customer_id", "name", "follow_up_status", "account_status", "reason")
_REQUIRED = (*_TEXT, "balance")
# A --previous file may lack the name and reason (they only fill in the changes file's text).
_OPTIONAL_TEXT = ("name", "reason")
PERIOD_COLUMNS = ("from", "to", "follow_up_status", "account_status", "reason")
_UNREADABLE = (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException)


@dataclass(frozen=True)
class Snapshot:
    as_of: dt.date
    folder: Path

    @property
    def output(self) -> Path:
        return self.folder / SNAPSHOT_FILE

    @property
    def report(self) -> Path:
        return self.folder / REPORT_FILE


def snapshots(history: Path) -> list[Snapshot]:
    """Every complete snapshot in `history`, oldest first; temporary folders are not snapshots."""
    if not history.is_dir():
        return []
    found = []
    for folder in _entries(history):
        named = _FOLDER.fullmatch(folder.name)
        if named is None or not (folder / SNAPSHOT_FILE).is_file():
            continue
        try:
            found.append(Snapshot(dt.date.fromisoformat(named.group(1)), folder))
        except ValueError:
            continue
    return sorted(found, key=lambda s: s.as_of)


def _entries(history: Path) -> list[Path]:
    try:
        return list(history.iterdir())
    except OSError as exc:
        raise InputFileError(
            f"--history {history}: the folder cannot be read ({exc.strerror or exc})"
        ) from None


def previous_snapshot(history: Path, as_of: dt.date) -> Snapshot | None:
    """The latest snapshot with an earlier as-of date: the run this one is compared with."""
    earlier = [s for s in snapshots(history) if s.as_of < as_of]
    return earlier[-1] if earlier else None


def _is_reserved(name: str) -> bool:
    """A name in the history folder that is the tool's: a snapshot, a staging folder, the lock."""
    return name.startswith(("as_of=", INCOMING)) or name == LOCK_FILE


def check_not_inside(history: Path, paths: Iterable[tuple[str, Path | None]]) -> None:
    """Refuse, before anything is read or written, a file the run would write that is the
    history folder itself, or lies in one of its snapshots (a link to a folder elsewhere
    included) or staging folders: a rerun replaces a snapshot folder as a whole, with whatever
    was written into it, and a file written over followup.parquet ruins that night for every
    later comparison. Other files directly in the folder (`--report runs/last.json`) are fine."""
    root = resolved("--history", history)
    inside = [root]
    if history.is_dir():
        inside += [
            resolved("--history", entry)
            for entry in _entries(history)
            if _is_reserved(entry.name) and entry.is_symlink()
        ]
    for option, path in paths:
        if path is None or is_special(path):
            continue
        where = resolved(option, path)
        if where == root:
            raise UsageError(
                f"{option} {path} is the --history folder; give a file outside {history}"
            )
        for folder in inside:
            if folder not in where.parents:
                continue
            part = where.relative_to(folder).parts[0]
            if folder == root and not _is_reserved(part):
                continue
            snapshot = history / part if folder == root else folder
            raise UsageError(
                f"{option} {path} is inside {snapshot}, which --history {history} replaces "
                f"as a whole; give a file outside the as_of= folders"
            )


@contextlib.contextmanager
def locked(history: Path | None) -> Iterator[None]:
    """Use `history` alone for the length of the block (SPEC 8: one run at a time), making
    the folder when missing. A second run is refused at once rather than queued: a nightly job
    still running when the next one starts is something to see, and two queued runs would
    store their snapshots in whatever order they happen to end.

    The lock is an flock on DIR/.followup.lock, which holds the holder's pid and is removed
    when the block ends; folders made here and left empty are removed too, so a run that
    stores nothing leaves the history as it found it. Staging folders left by a killed run
    are cleared first, and an old snapshot one left moved aside is put back."""
    if history is None:
        yield
        return
    made: list[Path] = []
    handle: int | None = None
    try:
        # A signal here is raised at the end of this block, with both known to `finally`.
        with signals.deferred():
            made = _make_folders(history)
            handle = _lock(history)
        _recover(history)
        yield
    finally:
        with signals.deferred():
            if handle is not None:
                with contextlib.suppress(OSError):
                    (history / LOCK_FILE).unlink()  # still ours: removed before it is let go
                os.close(handle)
            _remove_empty(made)


def _make_folders(history: Path) -> list[Path]:
    """Make `history` and any missing folder above it; the ones made, outermost first."""
    missing = []
    folder = history
    while not folder.is_dir() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    made: list[Path] = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            made.append(folder)
    except OSError as exc:
        _remove_empty(made)
        raise _unwritable(history, exc) from exc
    return made


def _remove_empty(made: list[Path]) -> None:
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (a snapshot was stored): it and the folders above stay


def _lock(history: Path) -> int:
    path = history / LOCK_FILE
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise _unwritable(history, exc) from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(handle)
            os.close(handle)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise _unwritable(history, exc) from exc
            raise InputFileError(
                f"--history {history} is in use by another run (pid {holder}); one run at a "
                f"time uses a history folder: nothing was read or written, run again when it "
                f"has ended"
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


def _recover(history: Path) -> None:
    """Clear the staging folders a killed run left (no other run is using them: the lock is
    ours), first putting back an old snapshot it had moved aside and not yet replaced. A
    folder whose snapshot cannot be put back is left as it is, never removed with it."""
    for staging in _entries(history):
        if not staging.name.startswith(INCOMING):
            continue
        if staging.is_symlink() or not staging.is_dir():
            with contextlib.suppress(OSError):
                staging.unlink()
            continue
        try:
            aside = [(p, p.name) for p in (staging / _REPLACED).glob("as_of=*")]
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


def as_of_of(path: Path) -> dt.date | None:
    """The as-of date a previous output was made for: its `as_of=` folder, else a date in its
    name (`followup-2024-07-30.csv`); None when neither says."""
    for part in (path.parent.name, path.stem):
        for pattern in (_FOLDER, _DATE):
            found = pattern.search(part)
            if found:
                try:
                    return dt.date.fromisoformat(found.group(1))
                except ValueError:
                    continue
    return None


def read_output(path: Path) -> pl.DataFrame:
    """An output file followup wrote (CSV, Parquet or JSON Lines), with the output's types."""
    fmt = format_of(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file (given for --previous)")
    try:
        if fmt == "parquet":
            frame = pl.read_parquet(path)
        elif fmt == "jsonl":
            frame = pl.read_ndjson(path, infer_schema_length=None)
        elif fmt == "csv":
            # Every column as text first: ids such as 007 must not become numbers. Without the
            # formula guard's ' (unless --raw-text wrote it), `'@18` would not match `@18`.
            frame = unguard_formulas(pl.read_csv(path, infer_schema=False))
        elif fmt == "xlsx":
            raise UsageError(
                f"--previous {path}: a workbook is not read back (its lists may be filtered "
                f"and its cells formatted); pass the run's CSV, Parquet or JSON Lines output, "
                f"or keep runs with --history"
            )
        else:
            raise InputFileError(
                f"{path}: unknown file type {path.suffix!r}; a previous output ends in "
                f".csv, .parquet or .jsonl"
            )
        _check_columns(
            path, frame.schema, "pass a file that followup reconcile wrote", _OPTIONAL_TEXT
        )
        absent = [name for name in _OPTIONAL_TEXT if name not in frame.columns]
        return frame.with_columns(
            *_typed(frame), *(pl.lit(None, dtype=pl.String).alias(name) for name in absent)
        )
    except (InputFileError, UsageError):
        raise
    except _UNREADABLE as exc:
        raise _not_an_output(path, exc) from exc


def _check_columns(
    path: Path,
    schema: Mapping[str, pl.DataType],
    advice: str,
    optional: tuple[str, ...] = (),
) -> None:
    """Refuse a file without the columns a comparison reads, or with numbers where text goes
    (a foreign file): found later, they would fail inside a query plan."""
    missing = [name for name in _REQUIRED if name not in schema and name not in optional]
    if missing:
        raise InputFileError(
            f"{path}: not a followup output (no column {', '.join(missing)}); {advice}"
        )
    for name in _TEXT:
        if name in schema and schema[name] not in (pl.String, pl.Null):
            raise InputFileError(
                f"{path}: not a followup output (column {name} holds {schema[name]}, not text); "
                f"{advice}"
            )


def _not_an_output(path: Path, exc: BaseException) -> InputFileError:
    return InputFileError(f"{path}: cannot be read as a followup output ({_first_line(exc)})")


def _typed(frame: pl.DataFrame) -> list[pl.Expr]:
    exprs = []
    for name, dtype in frame.schema.items():
        text = dtype == pl.String
        if name in _MONEY:
            exprs.append(pl.col(name).cast(MONEY_DTYPE))
        elif name in _DATES:
            exprs.append(
                pl.col(name).str.to_date("%Y-%m-%d") if text else pl.col(name).cast(pl.Date)
            )
        elif name in _COUNTS:
            exprs.append(pl.col(name).cast(pl.Int64))
        elif dtype == pl.Null:
            exprs.append(pl.col(name).cast(pl.String))
    return exprs


def store(
    history: Path, as_of: dt.date, output: pl.DataFrame | pl.LazyFrame, report: bytes
) -> Path:
    """Write this run's snapshot, replacing one of the same as-of date as a whole (rows not
    in memory, streamed after a bucketed run, are streamed into it). Call it inside
    `locked(history)`."""
    target = history / f"as_of={as_of.isoformat()}"
    # The run's own staging folder: a name no other run uses, removed with all in it.
    staging_root = history / f"{INCOMING}-{uuid.uuid4().hex}"
    try:
        with signals.deferred():
            history.mkdir(parents=True, exist_ok=True)
            staging_root.mkdir()
            signals.track(staging_root)
    except OSError as exc:
        raise _unwritable(history, exc) from exc
    try:
        staging = staging_root / target.name
        staging.mkdir()  # with the umask's permissions, as a folder the user made
        output.lazy().sink_parquet(staging / SNAPSHOT_FILE)
        (staging / REPORT_FILE).write_bytes(report)
        for name in (SNAPSHOT_FILE, REPORT_FILE):
            with (staging / name).open("rb") as handle:
                os.fsync(handle.fileno())
        # From here the old snapshot may lie in the staging folder: a signal must not remove
        # it with the rest (this block's `finally` does, once the swap is done or undone).
        signals.forget(staging_root)
        _swap_into_place(staging, target, staging_root / _REPLACED)
        _sync_folder(history)
    except OSError as exc:
        raise _unwritable(history, exc) from exc
    finally:
        signals.forget(staging_root)
        # The old snapshot (or the link that stood for it) goes with the staging folder,
        # unless it could not be put back: then the next run (`locked`) puts it back.
        if os.path.lexists(target) or not os.path.lexists(staging_root / _REPLACED):
            shutil.rmtree(staging_root, ignore_errors=True)
    return target


def _swap_into_place(staging: Path, target: Path, aside: Path) -> None:
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


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable, so a power cut does not bring the old snapshot back."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _unwritable(history: Path, exc: OSError) -> InputFileError:
    return InputFileError(
        f"--history {history}: cannot be written ({exc.strerror or exc}); "
        f"the snapshot was not stored"
    )


def between(
    history: Path, start: dt.date | None, end: dt.date | None
) -> tuple[Snapshot, Snapshot, pl.DataFrame]:
    """The changes from one snapshot to another: `end` is the latest snapshot on or before
    that date (default: the latest), `start` likewise (default: the one before `end`)."""
    found = snapshots(history)
    if len(found) < 2:
        raise UsageError(
            f"--history {history}: {len(found)} snapshot(s); changes need two runs stored there"
        )
    to = _on_or_before(found, end, history, "--to")
    earlier = [s for s in found if s.as_of < to.as_of]
    if start is None:
        if not earlier:
            raise UsageError(f"--history {history}: no snapshot before {to.as_of}")
        frm = earlier[-1]
    else:
        frm = _on_or_before(found, start, history, "--from")
        if frm.as_of >= to.as_of:
            raise UsageError(
                f"--from {start} gives the snapshot of {frm.as_of}, not before --to's "
                f"{to.as_of}; choose an earlier --from"
            )
    before, after = _scan(frm, history), _scan(to, history)
    frame = _collected(
        [frm, to], history, lambda: changes_module.changes(before, after, frm.as_of, to.as_of)
    )
    return frm, to, frame


def _scan(snapshot: Snapshot, history: Path) -> pl.LazyFrame:
    """A snapshot to read, its footer checked first: a file written over it (a list, another
    tool's Parquet, a half-copied file) is one sentence naming it, not a failed query plan."""
    try:
        schema = pl.read_parquet_schema(snapshot.output)
    except _UNREADABLE as exc:
        raise _broken(snapshot, history, exc) from exc
    _check_columns(snapshot.output, schema, _advice(snapshot, history))
    return pl.scan_parquet(snapshot.output)


def _collected(
    found: list[Snapshot], history: Path, build: Callable[[], pl.DataFrame]
) -> pl.DataFrame:
    """`build()`, reading `found`; a snapshot whose data cannot be read (its footer could) is
    found by reading each on its own, only then, and named."""
    try:
        return build()
    except _UNREADABLE as exc:
        for snapshot in found:
            try:
                pl.scan_parquet(snapshot.output).select(_REQUIRED).collect()
            except _UNREADABLE as broken:
                raise _broken(snapshot, history, broken) from exc
        raise InputFileError(
            f"--history {history}: the snapshots of {found[0].as_of} to {found[-1].as_of} "
            f"cannot be read together ({_first_line(exc)})"
        ) from exc


def _broken(snapshot: Snapshot, history: Path, exc: BaseException) -> InputFileError:
    return InputFileError(
        f"{snapshot.output}: cannot be read as a snapshot ({_first_line(exc)}); "
        f"{_advice(snapshot, history)}"
    )


def _advice(snapshot: Snapshot, history: Path) -> str:
    return (
        f"it is not the output followup stored there: move {snapshot.folder} out of "
        f"{history}, or reconcile {snapshot.as_of} again with --history {history}"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _on_or_before(
    found: list[Snapshot], date: dt.date | None, history: Path, option: str
) -> Snapshot:
    if date is None:
        return found[-1]
    fitting = [s for s in found if s.as_of <= date]
    if not fitting:
        raise UsageError(
            f"{option} {date}: the oldest snapshot in {history} is {found[0].as_of}; "
            f"choose a later date"
        )
    return fitting[-1]


def periods(history: Path, customer_id: str) -> pl.DataFrame:
    """One person's statuses over time: consecutive snapshots with the same follow-up and
    account status form one period (from, to: the first and last as-of date in it; reason:
    the latest). A night the person was absent ends a period."""
    found = snapshots(history)
    if not found:
        raise UsageError(f"--history {history}: no snapshots there (as_of=YYYY-MM-DD folders)")
    wanted = normalise_id(customer_id)
    nights = [
        _scan(s, history)
        .select(
            pl.col("customer_id", "follow_up_status", "account_status", "reason").cast(pl.String)
        )
        .filter(changes_module.match_id() == wanted)
        .with_columns(
            pl.lit(s.as_of, dtype=pl.Date).alias("as_of"),
            pl.lit(night, dtype=pl.Int64).alias("_night"),
        )
        for night, s in enumerate(found)
    ]
    rows = _collected(found, history, lambda: pl.concat(nights).collect())
    if rows.is_empty():
        raise UsageError(
            f"{customer_id}: not in any snapshot in {history} "
            f"({found[0].as_of} to {found[-1].as_of})"
        )
    ordered = rows.sort("_night")
    starts = (
        pl.col("follow_up_status").ne_missing(pl.col("follow_up_status").shift(1))
        | pl.col("account_status").ne_missing(pl.col("account_status").shift(1))
        | (pl.col("_night") != pl.col("_night").shift(1) + 1).fill_null(True)
    )
    return (
        ordered.with_columns(starts.cum_sum().alias("_period"))
        .group_by("_period", maintain_order=True)
        .agg(
            pl.col("as_of").first().alias("from"),
            pl.col("as_of").last().alias("to"),
            pl.col("follow_up_status").first(),
            pl.col("account_status").first(),
            pl.col("reason").last(),
        )
        .sort("_period")
        .select(PERIOD_COLUMNS)
    )
