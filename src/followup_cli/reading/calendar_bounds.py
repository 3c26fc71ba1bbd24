"""Dates beyond the calendar (SPEC 6): a Parquet date or timestamp outside years 1 to 9999 (a
damaged page, or a number exported as a date) is a rejected row naming what the file stores,
never a panic or a date taken for none."""

from __future__ import annotations

import datetime as dt

import polars as pl

from followup_cli.core.schema import Kind
from followup_cli.reading.loading import RawTable

# The calendar that Python and every Polars operation can hold: years 1 to 9999 (less a day at
# either end for a timestamp with a time zone, whose local time may fall a day further). A
# Parquet date is any 32-bit number of days (a damaged page, or a number exported as a date,
# gives year 5,000,000), a timestamp any 64-bit number of its units; beyond this calendar Polars
# panics when it shows or converts the value ("out-of-range date"), takes it for no date at all
# (null), or Python cannot hold it.
_EPOCH = dt.date(1970, 1, 1)
_PER_DAY = {"ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_INT64 = (-(2**63), 2**63 - 1)
_DATED_KINDS = (Kind.DATE, Kind.DATETIME)

AS_STORED = "_as_stored_"  # a date beyond the calendar, as the number the file stores
_BEYOND = "_beyond_"  # why that date is refused
_UNIT_NAMES = {"ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def _native_dates(raw: RawTable) -> list[tuple[str, pl.DataType]]:
    """The Parquet date and timestamp columns that hold dates (other kinds refuse the type)."""
    if raw.format != "parquet":
        return []
    dated = [(c.name, raw.schema[c.name]) for c in raw.table.columns if c.kind in _DATED_KINDS]
    return [(name, dtype) for name, dtype in dated if isinstance(dtype, (pl.Date, pl.Datetime))]


def _calendar_days(dtype: pl.DataType) -> tuple[dt.date, dt.date]:
    """The first and last day of the calendar for a column of this type."""
    zoned = isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    day = dt.timedelta(days=1 if zoned else 0)
    return dt.date.min + day, dt.date.max - day


def _calendar(dtype: pl.DataType) -> tuple[int, int]:
    """The first and last moment of the calendar as the type's stored number (days, or the
    timestamp's units since 1970-01-01), within the numbers the type can store."""
    first, last = ((day - _EPOCH).days for day in _calendar_days(dtype))
    if not isinstance(dtype, pl.Datetime):
        return first, last
    per_day = _PER_DAY[dtype.time_unit or "us"]
    return max(first * per_day, _INT64[0]), min((last + 1) * per_day - 1, _INT64[1])


def within_calendar(raw: RawTable) -> pl.LazyFrame:
    """`raw.frame` with each date or timestamp beyond the calendar moved to its nearer end
    (0001-01-01 or 9999-12-31): still refused as implausible, as it was, but safe to compare,
    convert and show. The rejects file says what was there (`beyond_calendar`)."""
    dates = _native_dates(raw)
    if not dates:
        return raw.frame
    return raw.frame.with_columns(
        pl.col(name).to_physical().clip(*_calendar(dtype)).cast(dtype).alias(name)
        for name, dtype in dates
    )


def beyond_calendar(raw: RawTable, rows: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, pl.Expr]]:
    """The bad rows made safe to check and show when a date lies beyond the calendar (see
    `within_calendar`): the date moves to the calendar's nearer end, the number the file
    stores goes to `_as_stored_<column>` (the rejects file's value) and the reason naming it
    to `_beyond_<column>`, whose expression is returned per column (null for other rows)."""
    reasons: dict[str, pl.Expr] = {}
    for name, dtype in _native_dates(raw):
        first, last = _calendar(dtype)
        first_day, last_day = _calendar_days(dtype)
        number = pl.col(name).to_physical()
        if rows.select(number.is_between(first, last).fill_null(True).all()).item():
            continue
        unit = _UNIT_NAMES[dtype.time_unit or "us"] if isinstance(dtype, pl.Datetime) else "days"
        early = number < first
        stored = pl.format(f"{{}} {unit} from 1970-01-01", number)
        rows = rows.with_columns(
            pl.when(early | (number > last)).then(stored).alias(f"{AS_STORED}{name}"),
            pl.when(early)
            .then(pl.lit(f"before {first_day}"))
            .when(number > last)
            .then(pl.lit(f"after {last_day}"))
            .alias(f"{_BEYOND}{name}"),
        ).with_columns(
            pl.format(
                "implausible date {}: {}, beyond the calendar; a damaged export?",
                pl.col(f"{AS_STORED}{name}"),
                pl.col(f"{_BEYOND}{name}"),
            ).alias(f"{_BEYOND}{name}"),
            number.clip(first, last).cast(dtype).alias(name),
        )
        reasons[name] = pl.col(f"{_BEYOND}{name}")
    return rows, reasons
