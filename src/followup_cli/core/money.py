"""Money is integer cents inside and two-place decimals outside; never a binary float."""

from __future__ import annotations

import polars as pl

MONEY_DTYPE = pl.Decimal(18, 2)


def as_decimal(cents: pl.Expr) -> pl.Expr:
    """Cents as an exact two-place decimal (400 -> 4.00)."""
    # The scale must be 2 before dividing: Polars keeps the dividend's scale, so a scale-0
    # division would round 1.99 to 2.00.
    return (cents.cast(pl.Decimal(38, 2)) / 100).cast(MONEY_DTYPE)


def as_text(cents: pl.Expr) -> pl.Expr:
    """Cents as text for a person (-800 -> "-8.00")."""
    whole = cents.abs()
    return pl.format(
        "{}{}.{}",
        pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        whole // 100,
        (whole % 100).cast(pl.String).str.zfill(2),
    )


def cents_text(cents: int) -> str:
    """One Python integer of cents as text for a person, with thousands separators
    (-123456 -> "-1,234.56"): the summary, explain, and the run report (which drops the commas).
    Unlike `as_text`, which writes the reasons in the output rows without separators."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
