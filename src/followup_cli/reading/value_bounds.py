"""What a value may be, whatever the file's format: the limits on text, money, sessions and
dates, and a column's verdict (`Parsed`), shared by the parsing of text and of Parquet's native
types."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

MAX_TEXT = 1000
# The largest amount accepted: far above any gym's fee, and small enough that one customer's
# century of monthly charges, over hundreds of thousands of agreements, still adds up exactly in
# 64-bit cents. That holds per customer only: the ledger's sums and running totals are taken
# per customer (group_by, cum_sum().over), never across everyone, where they could overflow.
MAX_UNITS = 10**8 - 1
# The largest number of sessions: nine digits, as the text form allows.
MAX_COUNT = 10**9 - 1
# Dates outside these bounds are placeholders or typos (0001-01-01, 2924 for 2024), not facts:
# a purchase in year 1 would also bill 24,000 months.
EARLIEST_DATE = dt.date(1900, 1, 1)
YEARS_AHEAD = 100  # the latest plausible date is this many years after the as-of date


@dataclass(frozen=True)
class Parsed:
    """A column's typed value, the reason it is refused (null if fine), and `refused`: the same
    verdict as a cheap true/false, for the pass over every row; the reason's text is only
    needed for the few rows set aside."""

    value: pl.Expr
    reason: pl.Expr
    refused: pl.Expr
    # The value without its refused rows made null, for a column proven clean as a whole
    # (`whole_column.trusted`), where masking would only cost a pass; None: `value` is that.
    as_is: pl.Expr | None = None


def latest_plausible_date(as_of: dt.date) -> dt.date:
    """`as_of` plus 100 years (29 February becomes the 28th in a year that has none)."""
    year = as_of.year + YEARS_AHEAD
    try:
        return as_of.replace(year=year)
    except ValueError:
        return as_of.replace(year=year, day=28)


def implausible(value: pl.Expr, as_of: dt.date | None) -> tuple[pl.Expr, pl.Expr]:
    """Whether a date or datetime is one no real export holds, and why (null when plausible).

    The flag is cheap; the reason formats text for every row it is evaluated on."""
    day = value.dt.date()
    early = day < EARLIEST_DATE
    reason = pl.when(early).then(
        pl.format("implausible date {}: before {}; a placeholder?", day, pl.lit(EARLIEST_DATE))
    )
    if as_of is None:
        return early, reason
    latest = latest_plausible_date(as_of)
    late = day > latest
    return early | late, reason.when(late).then(
        pl.format(
            "implausible date {}: after {} ({} years after the as-of date); a typo?",
            day,
            pl.lit(latest),
            pl.lit(YEARS_AHEAD),
        )
    )


NO_REASON = pl.lit(None, dtype=pl.String)
MONEY_TOO_LARGE = f"too large for an amount of money (at most {MAX_UNITS:,}.99)"
COUNT_TOO_LARGE = f"too large for a number of sessions (at most {MAX_COUNT:,})"
