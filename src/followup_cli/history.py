"""The history of runs (SPEC 8): one hive-style snapshot folder per as-of date.

    DIR/as_of=2024-07-30/followup.parquet   the output of that night's run
    DIR/as_of=2024-07-30/report.json        its run report

DuckDB (`read_parquet('DIR/*/followup.parquet', hive_partitioning = true)`) or Polars
(`pl.scan_parquet('DIR/*/followup.parquet', hive_partitioning=True)`) read the whole history as
one table with an as_of column. A rerun of a date replaces its folder as a whole: the new one is
written in DIR/.incoming/ (one level deeper, so those globs never see it half written) and
renamed into place, so a reader sees the old snapshot or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli import changes as changes_module
from followup_cli.errors import InputFileError, UsageError
from followup_cli.formats import format_of
from followup_cli.money import MONEY_DTYPE
from followup_cli.safe_csv import unguard_formulas
from followup_cli.schema import normalise_id

SNAPSHOT_FILE = "followup.parquet"
REPORT_FILE = "report.json"
INCOMING = ".incoming"
_FOLDER = re.compile(r"as_of=(\d{4}-\d{2}-\d{2})")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")

# The output's typed columns (SPEC 5); anything else (carried columns, reasons) is text.
_MONEY = ("balance", "past_due")
_DATES = ("oldest_unpaid_on",)
_COUNTS = ("days_in_arrears", "data_issues")
PERIOD_COLUMNS = ("from", "to", "follow_up_status", "account_status", "reason")


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
    for folder in history.iterdir():
        named = _FOLDER.fullmatch(folder.name)
        if named is None or not (folder / SNAPSHOT_FILE).is_file():
            continue
        try:
            found.append(Snapshot(dt.date.fromisoformat(named.group(1)), folder))
        except ValueError:
            continue
    return sorted(found, key=lambda s: s.as_of)


def previous_snapshot(history: Path, as_of: dt.date) -> Snapshot | None:
    """The latest snapshot with an earlier as-of date: the run this one is compared with."""
    earlier = [s for s in snapshots(history) if s.as_of < as_of]
    return earlier[-1] if earlier else None


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
        required = {"customer_id", "follow_up_status", "account_status", "balance"}
        missing = sorted(required - set(frame.columns))
        if missing:
            raise InputFileError(
                f"{path}: not a followup output (no column {', '.join(missing)}); "
                f"pass a file that followup reconcile wrote"
            )
        return frame.with_columns(_typed(frame))
    except (InputFileError, UsageError):
        raise
    except (OSError, pl.exceptions.PolarsError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"{path}: cannot be read as a followup output ({first})") from exc


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
    in memory, streamed after a bucketed run, are streamed into it)."""
    target = history / f"as_of={as_of.isoformat()}"
    incoming = history / INCOMING
    try:
        incoming.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=".part", dir=incoming))
    except OSError as exc:
        raise _unwritable(history, exc) from exc
    try:
        os.chmod(staging, 0o777 & ~_umask())
        output.lazy().sink_parquet(staging / SNAPSHOT_FILE)
        (staging / REPORT_FILE).write_bytes(report)
        for name in (SNAPSHOT_FILE, REPORT_FILE):
            with (staging / name).open("rb") as handle:
                os.fsync(handle.fileno())
        _swap_into_place(staging, target)
        with contextlib.suppress(OSError):
            incoming.rmdir()  # only when empty
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _unwritable(history, exc) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _swap_into_place(staging: Path, target: Path) -> None:
    """rename() cannot replace a non-empty folder, so the old snapshot is moved aside first
    (beside the staging folder, where readers do not look) and removed once the new one is in
    place."""
    if not target.exists():
        os.rename(staging, target)
        return
    aside = staging.with_name(f"{target.name}.{uuid.uuid4().hex}.old")
    os.rename(target, aside)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    frame = changes_module.changes(
        pl.scan_parquet(frm.output), pl.scan_parquet(to.output), frm.as_of, to.as_of
    )
    return frm, to, frame


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
    rows = pl.concat(
        [
            pl.scan_parquet(s.output)
            .select("customer_id", "follow_up_status", "account_status", "reason")
            .filter(changes_module.match_id() == wanted)
            .with_columns(
                pl.lit(s.as_of, dtype=pl.Date).alias("as_of"),
                pl.lit(night, dtype=pl.Int64).alias("_night"),
            )
            for night, s in enumerate(found)
        ]
    ).collect()
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
