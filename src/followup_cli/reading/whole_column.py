"""Checks decided for a whole column at once, before any per-row work (SPEC 6 at scale).

Most exports are clean. A Parquet date column whose smallest and largest dates are plausible
and which has no nulls where a value is required holds no bad date; an id column without
padding, empty values or over-long values needs no trimming; a column of a few distinct words
or dates is judged once per distinct value. Each finding here is a proof about every row, so the
per-row pass can use the value as it is and skip that check. When a column fails its proof,
`parsing` checks it row by row as before: the verdicts and the rejects are the same either way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from followup_cli.core.schema import Column, Kind
from followup_cli.reading.parsing import parse
from followup_cli.reading.value_bounds import (
    EARLIEST_DATE,
    MAX_COUNT,
    MAX_TEXT,
    MAX_UNITS,
    Parsed,
    latest_plausible_date,
)

_ID_KINDS = frozenset({Kind.KEY, Kind.CUSTOMER_REF})
# What stops a value being used as it is: white space at either end (strip_chars would remove
# it), a zero byte (NUL: refused, never text), anything beyond ASCII (its case folding is not
# one letter for one letter), and, for ids, a letter of the other case (case folding would
# change it).
_PADDED = r"^\s|\s$|\x00"
_NOT_PLAIN = {
    "upper": r"^\s|\s$|\x00|[^\x00-\x7F]|[a-z]",
    "lower": r"^\s|\s$|\x00|[^\x00-\x7F]|[A-Z]",
}

# A table's whole-column figures by `<column>:<figure>`: counts, lengths, flags and the
# smallest and largest value (a date, a datetime, an integer or a Decimal).
Figures = dict[str, Any]

IdCase = str  # "upper" or "lower": every id is trimmed ASCII without a letter of the other case


def id_case(ids: pl.Series) -> IdCase | None:
    """The case every id of the column is written in, if one is (then folding the case of
    these ids changes no equality), else None."""
    frame = ids.to_frame("id")
    for case, pattern in _NOT_PLAIN.items():
        if not frame.select(pl.col("id").str.contains(pattern).any()).item():
            return case
    return None


def summary(column: Column, dtype: pl.DataType, typed: bool) -> list[pl.Expr]:
    """Aggregates over the raw column that `trusted` reads, named `<column>:<figure>`."""
    name = column.name
    col = pl.col(name)
    figures: list[pl.Expr] = [col.null_count().alias(f"{name}:nulls")]
    if dtype == pl.String and column.kind in (*_ID_KINDS, Kind.TEXT):
        length = col.str.len_bytes()
        # Ids: one pattern answers both "needs no trimming" and "is in upper case".
        if column.kind in _ID_KINDS:
            unplain = col.str.contains(_NOT_PLAIN["upper"]).any().alias(f"{name}:not_upper")
        else:
            unplain = col.str.contains(_PADDED).any().alias(f"{name}:padded")
        figures += [
            length.min().alias(f"{name}:shortest"),
            length.max().alias(f"{name}:longest"),
            unplain,
        ]
    elif typed and _native_orderable(column, dtype):
        day = _naive(col, dtype)
        figures += [day.min().alias(f"{name}:min"), day.max().alias(f"{name}:max")]
    return figures


def second_look(column: Column, figures: Figures) -> list[pl.Expr]:
    """For ids not all in upper case, whether they are all in lower case (asked only then)."""
    name = column.name
    if figures.get(f"{name}:not_upper") is not True:
        return []
    return [pl.col(name).str.contains(_NOT_PLAIN["lower"]).any().alias(f"{name}:not_lower")]


def in_order(ids: pl.Expr) -> pl.Expr:
    """Whether every id is present and comes after the row before it, shorter ids first and
    ids of one length in byte order: so no two are written alike. Exports listed in id order
    (`P-1`, `P-2`, ... `P-10`, or ids of one width) pass; any other order only fails the test."""
    text = ids.cast(pl.String)
    length, before = text.str.len_bytes(), text.shift(1)
    later = (length > length.shift(1)) | ((length == length.shift(1)) & (text > before))
    # The first row has none before it; a missing id makes the comparison null, not true.
    # No rows: none to compare (and an empty first() is null).
    present = text.first().is_not_null() | (pl.len() == 0)
    return (later.slice(1).all(ignore_nulls=False) & present).fill_null(False)


def order_look(name: str, figures: Figures) -> list[pl.Expr]:
    """For a table's own ids that may all be plain, whether they are in order (`in_order`).

    Asked in the second look, not the first: comparing a row with the one before cannot be
    streamed, so the query holds the column it reads (0.19 GB for 9.8M payment ids, where
    counting distinct ids in the first look held a 0.5 GB hash table)."""
    if figures.get(f"{name}:not_upper") is None:  # not text
        return []
    if figures.get(f"{name}:nulls"):  # a missing id: the proof cannot hold, so not asked
        return []
    return [in_order(pl.col(name)).alias(f"{name}:in_order")]


class IdsInOrder:
    """`ids_distinct`'s proof taken a slice of a column at a time, for a pass that streams
    the rows (the buckets' first pass, SPEC 10): every slice `in_order`, each one's first id
    after the last id before it, and the ids of all the slices in one case (`case_of`). A
    little stricter than the whole column's: ids in lower case after slices without a letter
    of either case (`1-2`, then `p-3`) are not taken as proven, only compared."""

    def __init__(self) -> None:
        self._last: bytes | None = None  # the last id of the slices taken, while proven
        self._not_upper = self._not_lower = False
        self.proven = True  # whether every slice taken so far holds distinct ids as matched

    def add(self, ids: pl.Series) -> bool:
        """Take the next slice; False once the proof has failed (no need to read on)."""
        if self.proven and ids.len() > 0:
            self.proven = self._follows(ids.cast(pl.String).to_frame("id"))
        return self.proven

    def _follows(self, frame: pl.DataFrame) -> bool:
        """Whether the slice `frame` keeps the proof: in order, after the last slice, and in
        the case of every slice before it."""
        col = pl.col("id")
        found = frame.select(
            in_order(col).alias("in_order"),
            col.first().alias("first"),
            col.last().alias("last"),
            col.str.contains(_NOT_PLAIN["upper"]).any().alias("not_upper"),
        ).row(0, named=True)
        if found["not_upper"] and not self._not_upper and self._last is not None:
            # Ids not all in upper case after slices that were: whether those were in lower
            # case was not asked, so the proof is not taken (the ids are compared instead).
            return False
        self._not_upper |= found["not_upper"]
        if self._not_upper:  # only then can the case be the lower one (as in `second_look`)
            self._not_lower |= frame.select(col.str.contains(_NOT_PLAIN["lower"]).any()).item()
        if not found["in_order"] or (self._not_upper and self._not_lower):
            return False
        # Both present (in_order proves no id missing), and ASCII (one case), so bytes order
        # as the slices' own comparisons do.
        first, last = found["first"].encode(), found["last"].encode()
        if self._last is not None and (len(first), first) <= (len(self._last), self._last):
            return False
        self._last = last
        return True


def ids_distinct(figures: Figures, name: str) -> bool:
    """Whether the figures prove that no two rows hold the same id as matched, so no row is
    a repeat (SPEC 2) and the ids need not be hashed and compared row by row.

    Ids in strictly increasing order are all written differently, and ids all in one case
    (`case_of`) are matched as written, so none are matched alike either. Otherwise (ids in
    another order, a repeat, ids in mixed case or padded) they are compared row by row."""
    return figures.get(f"{name}:in_order") is True and case_of(figures, name) is not None


def case_of(figures: Figures, name: str) -> IdCase | None:
    """The case of an id column from its figures, or None when its ids are not all plain."""
    if figures.get(f"{name}:not_upper") is False:
        return "upper"
    if figures.get(f"{name}:not_lower") is False:
        return "lower"
    return None


def _native_orderable(column: Column, dtype: pl.DataType) -> bool:
    """Parquet columns whose whole-column verdict is a range: dates, counts, money."""
    if column.kind is Kind.DATE:
        return dtype == pl.Date
    if column.kind is Kind.DATETIME:
        return dtype == pl.Date or isinstance(dtype, pl.Datetime)
    if column.kind is Kind.COUNT:
        return dtype.is_integer()
    if column.kind is Kind.MONEY:
        return dtype.is_integer() or (isinstance(dtype, pl.Decimal) and (dtype.scale or 0) <= 2)
    return False


def _naive(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        return col.dt.replace_time_zone(None)
    return col


def trusted(column: Column, dtype: pl.DataType, figures: Figures, as_of: dt.date) -> pl.Expr | None:
    """The column's typed value for every row when `figures` prove that no row is refused,
    else None (check it row by row). The value is what `parsing.parse` gives a good row."""
    name = column.name
    col = pl.col(name)
    nulls = figures[f"{name}:nulls"]
    if column.required and nulls:
        return None
    if f"{name}:shortest" in figures:
        shortest, longest = figures[f"{name}:shortest"], figures[f"{name}:longest"]
        if shortest is None:  # every value null, and the column is optional
            return col
        plain = (
            case_of(figures, name) is not None
            if column.kind in _ID_KINDS
            else figures[f"{name}:padded"] is False
        )
        # Bytes >= characters, so no value is over MAX_TEXT characters; none is empty, so
        # none becomes null or is refused as missing.
        if not plain or shortest == 0 or longest > MAX_TEXT:
            return None
        return col
    if f"{name}:min" not in figures:
        return None
    low, high = figures[f"{name}:min"], figures[f"{name}:max"]
    if low is None:  # every value null, and the column is optional
        return _as_is(parse(column, dtype, "", True, as_of))
    if column.kind in (Kind.DATE, Kind.DATETIME):
        if _day(low) < EARLIEST_DATE or _day(high) > latest_plausible_date(as_of):
            return None
    elif column.kind is Kind.COUNT:
        if low < 0 or high > MAX_COUNT:
            return None
    elif column.kind is Kind.MONEY:
        smallest_ok = low >= 0 if column.allow_zero else low > 0
        if not smallest_ok or high >= MAX_UNITS + 1:  # a decimal's largest is MAX_UNITS.99
            return None
    # The bounds are the column's own smallest and largest values, compared as Python numbers,
    # so they cannot wrap; the value is `parse`'s own, which widens a narrow integer (Int8,
    # UInt16, ...) before multiplying it into cents. A proof of the range is only as good as
    # the conversion that follows it: an amount within range once became 0.44 or null here.
    return _as_is(parse(column, dtype, "", True, as_of))


def _as_is(parsed: Parsed) -> pl.Expr:
    return parsed.value if parsed.as_is is None else parsed.as_is


def _day(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def per_distinct_value(
    column: Column, distinct: pl.DataFrame, parsed: Parsed
) -> tuple[pl.Expr, pl.Expr | None]:
    """The typed value and the refusal flag of every row, from the verdicts on the column's
    distinct raw values (`distinct`): one hash lookup a row instead of a join. The flag is None
    when no value is refused."""
    name = column.name
    verdicts = distinct.select(
        pl.col(name), parsed.value.alias("value"), parsed.refused.fill_null(True).alias("bad")
    )
    present = verdicts.filter(pl.col(name).is_not_null())
    dtype = verdicts.schema["value"]
    col = pl.col(name)
    bad = present.filter(pl.col("bad")).get_column(name)
    null_bad = bool(verdicts.filter(pl.col(name).is_null()).get_column("bad").any())
    as_written = present.select(pl.col(name).eq_missing(pl.col("value").cast(pl.String)).all())
    if isinstance(dtype, pl.Enum) and bad.len() == 0 and as_written.item():
        value = col.cast(dtype)  # every word is written as the canonical one already
    else:
        value = col.replace_strict(
            present.get_column(name), present.get_column("value"), default=None, return_dtype=dtype
        )
    if bad.len() == 0 and not null_bad:
        return value, None
    refused = col.is_in(bad.implode()).fill_null(False) | (col.is_null() & pl.lit(null_bad))
    return value, refused
