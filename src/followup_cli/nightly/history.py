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
import datetime as dt
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.core.errors import InputFileError, UsageError
from followup_cli.nightly import snapshot_folder
from followup_cli.outputs import signals
from followup_cli.outputs.destinations import (
    is_special,
    make_folders,
    remove_made_folders,
    resolved,
)
from followup_cli.outputs.serialise import frame_writer
from followup_cli.reading.fingerprint import sha256_of

SNAPSHOT_FILE = "followup.parquet"
REPORT_FILE = "report.json"
_FOLDER = re.compile(r"as_of=(\d{4}-\d{2}-\d{2})")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


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
    for folder in snapshot_folder.entries(history):
        named = _FOLDER.fullmatch(folder.name)
        if named is None or not _stored(folder, history):
            continue
        try:
            found.append(Snapshot(dt.date.fromisoformat(named.group(1)), folder))
        except ValueError:
            continue
    return sorted(found, key=lambda s: s.as_of)


def _stored(folder: Path, history: Path) -> bool:
    """Whether `folder` holds a snapshot; one the user may not look into is named, not taken
    for none (a night left out) nor an internal error."""
    try:
        return (folder / SNAPSHOT_FILE).is_file()
    except OSError as exc:
        raise InputFileError(
            f"{folder}: cannot be read ({exc.strerror}); let the user running followup read "
            f"it, or move it out of {history}"
        ) from exc


def previous_snapshot(history: Path, as_of: dt.date) -> Snapshot | None:
    """The latest snapshot with an earlier as-of date: the run this one is compared with, by
    `reconcile --history` and by `followup changes` without --from alike."""
    earlier = [s for s in snapshots(history) if s.as_of < as_of]
    return earlier[-1] if earlier else None


def _is_reserved(name: str) -> bool:
    """A name in the history folder that is the tool's: a snapshot, a staging folder, the lock."""
    return (
        name.startswith(("as_of=", snapshot_folder.INCOMING)) or name == snapshot_folder.LOCK_FILE
    )


def check_not_a_snapshot(history: Path) -> None:
    """Refuse a --history folder that is, or lies in, a snapshot folder (`as_of=...`, a link
    to one included): a rerun of that night in its own history replaces the folder as a
    whole, and every night stored in it would go with it."""
    where = resolved("--history", history)
    for folder in (where, *where.parents):
        if _FOLDER.fullmatch(folder.name):
            raise UsageError(
                f"--history {history}: {folder} is a snapshot folder of another history, which "
                f"a rerun of its night replaces with everything in it; give a folder of its own"
            )


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
            for entry in snapshot_folder.entries(history)
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
            try:
                made = make_folders(history)
            except OSError as exc:
                raise snapshot_folder.unwritable(history, exc) from exc
            handle = snapshot_folder.lock(history)
        snapshot_folder.recover(history)
        yield
    finally:
        with signals.deferred():
            if handle is not None:
                with contextlib.suppress(OSError):
                    (
                        history / snapshot_folder.LOCK_FILE
                    ).unlink()  # still ours: removed before it is let go
                os.close(handle)
            remove_made_folders(made)


def as_of_of(path: Path) -> dt.date | None:
    """The as-of date a previous output was made for: its `as_of=` folder, else a date in its
    name (`followup-2024-07-30.csv`), else a date in its folder's name; None when none says.
    The file's own name comes before its folder's date (`backup-2024-08-01/followup-2024-07-20.csv`
    was once taken as of 2024-08-01)."""
    for part, pattern in (
        (path.parent.name, _FOLDER),
        (path.stem, _FOLDER),
        (path.stem, _DATE),
        (path.parent.name, _DATE),
    ):
        found = pattern.search(part)
        if found:
            try:
                return dt.date.fromisoformat(found.group(1))
            except ValueError:
                continue
    return None


def store(
    history: Path,
    as_of: dt.date,
    output: pl.DataFrame | pl.LazyFrame,
    report: bytes,
    written: tuple[Path, str] | None = None,
) -> Path:
    """Write this run's snapshot, replacing one of the same as-of date as a whole (rows not
    in memory, streamed after a bucketed run, are streamed into it). Call it inside
    `locked(history)`.

    The snapshot holds `output` as the Parquet output file would (`serialise`), so when the
    run delivered exactly these rows as Parquet, `written` (that file and its SHA-256) is
    copied instead of writing the rows again; a copy whose SHA-256 differs (the file changed
    since) is replaced by the rows written out."""
    target = history / f"as_of={as_of.isoformat()}"
    # The run's own staging folder: a name no other run uses, removed with all in it.
    staging_root = history / f"{snapshot_folder.INCOMING}-{uuid.uuid4().hex}"
    try:
        with signals.deferred():
            history.mkdir(parents=True, exist_ok=True)
            staging_root.mkdir()
            signals.track(staging_root)
    except OSError as exc:
        raise snapshot_folder.unwritable(history, exc) from exc
    try:
        staging = staging_root / target.name
        staging.mkdir()  # with the umask's permissions, as a folder the user made
        _snapshot_rows(staging / SNAPSHOT_FILE, output, written)
        (staging / REPORT_FILE).write_bytes(report)
        for name in (SNAPSHOT_FILE, REPORT_FILE):
            with (staging / name).open("rb") as handle:
                os.fsync(handle.fileno())
        # From here the old snapshot may lie in the staging folder: a signal must not remove
        # it with the rest (this block's `finally` does, once the swap is done or undone).
        signals.forget(staging_root)
        snapshot_folder.swap_into_place(staging, target, staging_root / snapshot_folder.REPLACED)
        snapshot_folder.sync_folder(history)
    except (OSError, pl.exceptions.PolarsError) as exc:
        # Polars words a full disk as its own error ("...: No space left on device").
        raise snapshot_folder.unwritable(history, exc) from exc
    finally:
        signals.forget(staging_root)
        # The old snapshot (or the link that stood for it) goes with the staging folder,
        # unless it could not be put back: then the next run (`locked`) puts it back.
        if os.path.lexists(target) or not os.path.lexists(staging_root / snapshot_folder.REPLACED):
            shutil.rmtree(staging_root, ignore_errors=True)
    return target


def _snapshot_rows(
    target: Path, output: pl.DataFrame | pl.LazyFrame, written: tuple[Path, str] | None
) -> None:
    """The snapshot's Parquet file: a copy of the delivered output file, when it is still the
    regular file whose SHA-256 the run report gives, else the rows written as the Parquet
    output writes them. (The report's checksum is taken from the file once it is in place: a
    file another process put there before that would be the one reported and copied.)"""
    if written is not None:
        source, digest = written
        with contextlib.suppress(OSError):  # gone or unreadable: write the rows instead
            # Never a device or FIFO put in its place since (a copy of /dev/zero never ends).
            if stat.S_ISREG(os.stat(source).st_mode):
                shutil.copyfile(source, target)
                if sha256_of(target) == digest:
                    return
    with target.open("wb") as sink:
        frame_writer(output, "parquet")(sink)
