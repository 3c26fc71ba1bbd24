"""The billing calendar (SPEC 3): a month bills on its last weekday, Monday to Friday.

Months are counted as whole numbers (year * 12 + month - 1) so that a run of months is an
integer range and a month's billing date is computed from its number, never by chaining
month offsets (which drift at month ends).
"""

from __future__ import annotations

import polars as pl

SATURDAY_OR_LATER = 5  # polars weekdays: Monday = 1 ... Friday = 5, Saturday = 6, Sunday = 7


def month_number(date: pl.Expr) -> pl.Expr:
    """The month a date falls in, as one integer (2024-03-15 -> 2024 * 12 + 2)."""
    return date.dt.year().cast(pl.Int32) * 12 + date.dt.month().cast(pl.Int32) - 1


def billing_date(month: pl.Expr) -> pl.Expr:
    """The last Monday-to-Friday of the month: a weekend month end bills on the Friday before."""
    last_day = pl.date(month // 12, month % 12 + 1, 1).dt.month_end()
    weekend_days = (last_day.dt.weekday().cast(pl.Int32) - SATURDAY_OR_LATER).clip(lower_bound=0)
    return last_day - pl.duration(days=weekend_days)


def add_months(date: pl.Expr, months: int) -> pl.Expr:
    """Calendar months later, clipped to the month's end (2023-12-31 + 2 -> 2024-02-29)."""
    return date.dt.offset_by(f"{months}mo")
