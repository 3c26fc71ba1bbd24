"""The stored nights read back (SPEC 8): the changes between two snapshots (`followup changes`)
and one person's statuses over time (`followup history`), each snapshot's footer checked first
and a damaged one named with its way out; `history` keeps and finds them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl

from followup_cli.core.errors import InputFileError, UsageError
from followup_cli.core.schema import normalise_id
from followup_cli.nightly import changes as changes_module
from followup_cli.nightly.earlier_output import REQUIRED, UNREADABLE, check_columns, first_line
from followup_cli.nightly.history import Snapshot, previous_snapshot, snapshots

PERIOD_COLUMNS = ("from", "to", "follow_up_status", "account_status", "reason")


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
    if start is None:
        before_to = previous_snapshot(history, to.as_of)
        if before_to is None:
            raise UsageError(f"--history {history}: no snapshot before {to.as_of}")
        frm = before_to
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
        schema = pl.scan_parquet(snapshot.output, glob=False).collect_schema()
    except UNREADABLE as exc:
        raise _broken(snapshot, history, exc) from exc
    check_columns(snapshot.output, schema, _advice(snapshot, history))
    return pl.scan_parquet(snapshot.output, glob=False)


# The nights read to a query: a plan of N scans concatenated costs Polars time in N squared
# (`followup history` over 1,600 nights of 18 people: 25 s) and ran it out of threads (`trends`:
# "POLARS_MAX_BLOCKING_THREAD_COUNT reached ... may indicate a deadlock"); a query a night
# cost ten times the time.
NIGHTS_AT_A_TIME = 32


def in_turns(nights: list[pl.LazyFrame]) -> pl.DataFrame:
    """The rows of `nights` (one query a night, of one schema), NIGHTS_AT_A_TIME to a query."""
    return pl.concat(
        pl.concat(nights[start : start + NIGHTS_AT_A_TIME]).collect()
        for start in range(0, len(nights), NIGHTS_AT_A_TIME)
    )


def _collected(
    found: list[Snapshot], history: Path, build: Callable[[], pl.DataFrame]
) -> pl.DataFrame:
    """`build()`, reading `found`; a snapshot whose data cannot be read (its footer could) is
    found by reading each on its own, only then, and named."""
    try:
        return build()
    except UNREADABLE as exc:
        for snapshot in found:
            try:
                pl.scan_parquet(snapshot.output, glob=False).select(REQUIRED).collect()
            except UNREADABLE as broken:
                raise _broken(snapshot, history, broken) from exc
        raise InputFileError(
            f"--history {history}: the snapshots of {found[0].as_of} to {found[-1].as_of} "
            f"cannot be read together ({first_line(exc)})"
        ) from exc


def _broken(snapshot: Snapshot, history: Path, exc: BaseException) -> InputFileError:
    return InputFileError(
        f"{snapshot.output}: cannot be read as a snapshot ({first_line(exc)}); "
        f"{_advice(snapshot, history)}"
    )


def _advice(snapshot: Snapshot, history: Path) -> str:
    return (
        f"it is not the output followup stored there: move {snapshot.folder} out of "
        f"{history}, or reconcile {snapshot.as_of} again with --history {history}"
    )


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
    rows = _collected(found, history, lambda: in_turns(nights))
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
