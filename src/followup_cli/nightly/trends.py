"""Trends (SPEC 9): people per follow-up list and money owed per account status, one row per
night stored in the history (SPEC 8).

Each night's figures come from the run report stored beside its snapshot (`report.json`: its
`people` and `accounts` hold them already, kilobytes to read); a night whose report is missing,
unreadable or says nothing of them is counted from its snapshot instead, all such nights in one
query. Tonight's run, not stored yet while its workbook is written, comes from its summary and
takes the place of a stored night of the same date.

The lists are the columns in the order the nights used them (the decision tables', or a rules
file's, SPEC 11): the newest night's first, then any only an earlier night had.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl

from followup_cli.core import money
from followup_cli.core.account_status import ACCOUNT_STATUSES, PAID_IN_FULL
from followup_cli.core.default_rules import DEFAULT_RULES
from followup_cli.core.errors import InputFileError, UsageError
from followup_cli.core.frames import column
from followup_cli.core.list_names import TRENDS_COLUMNS
from followup_cli.nightly.earlier_output import UNREADABLE, check_columns, first_line
from followup_cli.nightly.history import Snapshot, snapshots
from followup_cli.nightly.stored_nights import in_turns
from followup_cli.outputs.destinations import read_regular
from followup_cli.outputs.summary import Summary

AS_OF = "as_of"
# The account statuses that can owe, in the summary's order; Paid in Full never does.
OWING = tuple(status for status in ACCOUNT_STATUSES if status != PAID_IN_FULL)
_REPORT_LIMIT = 64 << 20  # a run report is kilobytes; a file this big is not one


def owed_column(status: str) -> str:
    """The trends column of the money owed by accounts of `status`."""
    return f"Owed ({status})"


@dataclass(frozen=True)
class Night:
    """One night's figures: people per list (in the night's order) and cents owed per status."""

    as_of: dt.date
    people: tuple[tuple[str, int], ...]
    owed_cents: tuple[tuple[str, int], ...]


def figures(history: Path, tonight: Summary | None = None) -> pl.DataFrame:
    """One row per night, oldest first: `as_of`, the people on each list, then the money owed
    per owing account status (`Owed (Due)`, ...), exact two-place decimals. `tonight` (the run
    writing its workbook) is a night of its own, replacing a stored one of its date."""
    stored = [s for s in snapshots(history) if tonight is None or s.as_of != tonight.as_of]
    if not stored and tonight is None:
        raise UsageError(f"--history {history}: no snapshots there (as_of=YYYY-MM-DD folders)")
    nights = [night for night in map(_from_report, stored) if night is not None]
    counted = {night.as_of for night in nights}
    nights += _from_snapshots([s for s in stored if s.as_of not in counted], history)
    if tonight is not None:
        nights.append(_from_summary(tonight))
    nights.sort(key=lambda night: night.as_of)
    return _table(nights)


# The Trends table's own columns, as a workbook's table compares headers: without case.
_RESERVED = frozenset(name.casefold() for name in TRENDS_COLUMNS)


def _from_summary(s: Summary) -> Night:
    owed = {status: cents for status, _accounts, cents in s.accounts}
    return Night(s.as_of, s.follow_up, tuple((status, owed.get(status, 0)) for status in OWING))


def _from_report(snapshot: Snapshot) -> Night | None:
    """The night's figures from its run report; None when it cannot tell them."""
    # A regular file only: a FIFO put there blocked the run until a writer came.
    data = read_regular(snapshot.report, _REPORT_LIMIT)
    if data is None or len(data) > _REPORT_LIMIT:
        return None
    try:
        document = json.loads(data)
        people = document["people"]["by_follow_up_status"]
        accounts = document["accounts"]["by_account_status"]
        if any(str(name).casefold() in _RESERVED for name in people):
            # No run names a list so (the rules refuse it): a foreign or edited report, whose
            # list would be summed into the money column of its name. The snapshot is counted.
            return None
        return Night(
            snapshot.as_of,
            tuple((str(name), _count(count)) for name, count in people.items()),
            tuple((status, _cents(accounts.get(status, {}).get("owed", "0"))) for status in OWING),
        )
    except (
        OSError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        InvalidOperation,
        RecursionError,  # a document nested 100,000 deep
    ):
        return None


# A report's figure past these is not one a run wrote (its table is 64-bit): the night is
# counted from its snapshot instead (a 31-digit number was an internal error).
_MOST = 2**62


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("a count is an integer")
    if not 0 <= value <= _MOST:
        raise ValueError("not a count of people")
    return value


def _cents(text: Any) -> int:
    """The report's money ("106.00") as cents, exactly."""
    amount = Decimal(str(text))
    if not amount.is_finite() or not 0 <= amount <= _MOST // 100:
        raise ValueError("not an amount owed")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError("not whole cents")
    return int(cents)


def _from_snapshots(found: list[Snapshot], history: Path) -> list[Night]:
    """The figures of nights without a usable report, counted from their snapshots at once."""
    if not found:
        return []
    balance_cents = (pl.col("balance").cast(pl.Decimal(38, 2)) * -100).cast(pl.Int64)
    # Each night counted by list and account status at once; then by each of them alone.
    per_night = [
        _scan(s, history)
        .group_by("follow_up_status", "account_status")
        .agg(
            pl.len().cast(pl.Int64).alias("people"),
            pl.when(pl.col("balance") < 0).then(balance_cents).otherwise(0).sum().alias("owed"),
        )
        .with_columns(pl.lit(s.as_of, dtype=pl.Date).alias(AS_OF))
        for s in found
    ]
    try:
        counted = in_turns(per_night)
    except UNREADABLE as exc:
        raise InputFileError(
            f"--history {history}: the snapshots of {found[0].as_of} to {found[-1].as_of} "
            f"cannot be read ({first_line(exc)}); reconcile those nights again with --history"
        ) from exc
    people = counted.group_by(AS_OF, "follow_up_status").agg(pl.col("people").sum())
    owed = counted.group_by(AS_OF, "account_status").agg(pl.col("owed").sum())
    unlisted = people.filter(pl.col("follow_up_status").is_null())
    if unlisted.height:
        day = unlisted.sort(AS_OF).get_column(AS_OF)[0]  # the first such night
        raise InputFileError(
            f"--history {history}: the snapshot of {day} has people on no list (an empty "
            f"follow_up_status, which no run writes); move that snapshot out of {history}, or "
            f"reconcile {day} again"
        )
    reserved = people.filter(pl.col("follow_up_status").str.to_lowercase().is_in(sorted(_RESERVED)))
    if reserved.height:
        day, name = (
            reserved.select(AS_OF, "follow_up_status").sort(AS_OF, "follow_up_status").row(0)
        )
        raise InputFileError(
            f"--history {history}: the snapshot of {day} has a list named {name!r}, a name "
            f"of the Trends sheet's own columns (no run writes it); move that snapshot out "
            f"of {history}, or reconcile {day} again"
        )
    nights = []
    for s in found:
        mine = people.filter(pl.col(AS_OF) == s.as_of).sort(_in_default_order)
        cents = dict(owed.filter(pl.col(AS_OF) == s.as_of).select("account_status", "owed").rows())
        nights.append(
            Night(
                s.as_of,
                tuple(mine.select("follow_up_status", "people").rows()),
                tuple((status, int(cents.get(status) or 0)) for status in OWING),
            )
        )
    return nights


# A snapshot does not say its lists' order: the defaults' first, then any other by name.
_in_default_order = pl.col("follow_up_status").replace_strict(
    {name: f"{index:03d}" for index, name in enumerate(DEFAULT_RULES.list_order)},
    default=pl.lit("999 ") + pl.col("follow_up_status"),
    return_dtype=pl.String,
)


def _scan(snapshot: Snapshot, history: Path) -> pl.LazyFrame:
    advice = f"move {snapshot.folder} out of {history}, or reconcile {snapshot.as_of} again"
    try:
        schema = pl.scan_parquet(snapshot.output, glob=False).collect_schema()
    except UNREADABLE as exc:
        raise InputFileError(
            f"{snapshot.output}: cannot be read as a snapshot ({first_line(exc)}); {advice}"
        ) from exc
    check_columns(snapshot.output, schema, advice)
    # A column of nothing but nulls is stored as Null, which no text function takes (an
    # internal error once); as text, its empty lists are named below.
    text = [column(name).cast(pl.String) for name, dtype in schema.items() if dtype == pl.Null]
    return pl.scan_parquet(snapshot.output, glob=False).with_columns(text)


def _table(nights: list[Night]) -> pl.DataFrame:
    """The nights as one wide table: a column per list (newest night's order first, then the
    lists only earlier nights had), zero where a night had nobody on it."""
    # A list renamed only in case between nights ("ACTIVE CUSTOMER") is one list, spelt as the
    # newest night spells it: a workbook's table refuses two headers equal but for case, and
    # xlsxwriter then wrote an empty Trends sheet.
    spelling: dict[str, str] = {}
    for night in reversed(nights):
        for name, _ in night.people:
            spelling.setdefault(name.casefold(), name)
    lists = list(spelling.values())  # one spelling a list, newest night's lists first
    long = pl.DataFrame(
        [
            (night.as_of, name, value)
            for night in nights
            for name, value in (
                *((spelling[name.casefold()], count) for name, count in night.people),
                *((owed_column(s), c) for s, c in night.owed_cents),
            )
        ],
        schema={AS_OF: pl.Date, "column": pl.String, "value": pl.Int64},
        orient="row",
    )
    dates = pl.DataFrame({AS_OF: [night.as_of for night in nights]}, schema={AS_OF: pl.Date})
    wide = dates.join(
        long.pivot(on="column", index=AS_OF, values="value", aggregate_function="sum"),
        on=AS_OF,
        how="left",
    )
    owed = [owed_column(status) for status in OWING]
    return wide.select(
        pl.col(AS_OF),
        *(_column(wide, name).fill_null(0).cast(pl.Int64).alias(name) for name in lists),
        *(money.as_decimal(_column(wide, name).fill_null(0)).alias(name) for name in owed),
    )


def _column(frame: pl.DataFrame, name: str) -> pl.Expr:
    return column(name) if name in frame.columns else pl.lit(0, dtype=pl.Int64)
