"""Parquet's native types (SPEC 2): used as they are when they fit the column, refused as a whole
file when they cannot be right (a float for money, text for a date)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from followup_cli.core.errors import InputFileError
from followup_cli.core.schema import Column, Kind
from followup_cli.reading.value_bounds import (
    COUNT_TOO_LARGE,
    MAX_COUNT,
    MAX_UNITS,
    MONEY_TOO_LARGE,
    NO_REASON,
    Parsed,
    implausible,
)


def parse_native_date(column: Column, dtype: pl.DataType, as_of: dt.date | None) -> Parsed:
    """A Parquet date or timestamp: checked row by row, so the verdict avoids building text."""
    col = pl.col(column.name)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        col = col.dt.replace_time_zone(None)
    missing = col.is_null() & pl.lit(column.required)
    unlikely, why = implausible(col, as_of)
    reason = pl.when(missing).then(pl.lit(f"{column.name} is missing; it is required"))
    value = col.cast(pl.Datetime("us")) if column.kind is Kind.DATETIME else col
    refused = missing | unlikely.fill_null(False)
    # Null when refused, as text's value is: a row check (end_date before purchase_date) must
    # not also fire on an implausible date that is already the row's reason.
    return Parsed(pl.when(~refused).then(value), reason.otherwise(why), refused, as_is=value)


def parse_native(
    column: Column, dtype: pl.DataType, file: str
) -> tuple[pl.Expr, pl.Expr, pl.Expr] | None:
    """Parquet's native types: the value, the reason and the value as it is for a column
    proven clean (`Parsed.as_is`); None means "parse as text". Refuses types that cannot be
    right."""
    col = pl.col(column.name)
    missing = pl.when(col.is_null() & pl.lit(column.required)).then(
        pl.lit(f"{column.name} is missing; it is required")
    )
    text_like = dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    kind = column.kind
    if kind in (Kind.TEXT, Kind.KEY, Kind.CUSTOMER_REF) and (text_like or dtype.is_integer()):
        return None
    if kind is Kind.VOCAB and text_like:
        return None
    if kind is Kind.COUNT and dtype.is_integer():
        # Widened before anything else; an unsigned 64-bit value beyond Int64 becomes null.
        wide = col.cast(pl.Int64, strict=False)
        too_large = col.is_not_null() & (wide.is_null() | (wide > MAX_COUNT))
        reason = (
            missing.when(col < 0)
            .then(pl.lit(f"{column.name} must be 0 or more"))
            .when(too_large)
            .then(pl.lit(COUNT_TOO_LARGE))
        )
        return pl.when((col >= 0) & ~too_large).then(wide), reason.otherwise(NO_REASON), wide
    if kind is Kind.MONEY and (dtype.is_integer() or _cents_fit(dtype)):
        # Whole units, or a decimal of at most 2 places: cents are exact by multiplication, but
        # only in a type wide enough. In the column's own type "times 100" wraps silently
        # (Int16 400 -> -25536, UInt8 3 -> 44), and a Decimal(38, s) multiplication that
        # overflows stops the run; so the value is widened first (an unsigned 64-bit value
        # beyond Int64, or a decimal beyond 36 digits, becomes null and is refused as too
        # large) and only amounts within MAX_UNITS are multiplied.
        if dtype.is_integer():
            wide = col.cast(pl.Int64, strict=False)
        else:
            wide = col.cast(pl.Decimal(38, 2), strict=False)
        lowest = "0 or more" if column.allow_zero else "more than 0"
        # The same order of verdicts as text: a sign first, then the size, then zero.
        negative = col < 0
        # Beyond MAX_UNITS.99, as text is judged: a decimal's cents count (99,999,999.99 is an
        # amount), so the bound is the next whole unit, not MAX_UNITS.
        huge = col.is_not_null() & ~negative & (wide.is_null() | (wide >= MAX_UNITS + 1))
        cents = (pl.when(~negative & ~huge).then(wide) * 100).cast(pl.Int64)
        too_small = negative | ((cents == 0) & pl.lit(not column.allow_zero))
        reason = (
            missing.when(negative)
            .then(pl.lit(f"{column.name} must be {lowest}"))
            .when(huge)
            .then(pl.lit(MONEY_TOO_LARGE))
            .when(too_small)
            .then(pl.lit(f"{column.name} must be {lowest}"))
        )
        # Proven within 0 to MAX_UNITS as a whole (`whole_column.trusted`): no row's checks.
        as_is = wide * 100 if dtype.is_integer() else _decimal_cents(col, dtype)
        return pl.when(~too_small).then(cents), reason.otherwise(NO_REASON), as_is
    if kind is Kind.MONEY and isinstance(dtype, pl.Decimal):
        return None  # more than 2 places: checked exactly from its text form
    holds, wanted = _NATIVE_TYPES[kind]
    raise InputFileError(
        f"{file}: column {column.name} is stored as {dtype}, but it holds {holds}; "
        f"re-export it as {wanted}"
    )


def _decimal_cents(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A decimal amount's cents when every amount of the column is proven within 0 to
    MAX_UNITS, so none needs a check of its sign and size or a guard against an overflow.

    A decimal of at most 2 places is stored as a whole number of its smallest unit (4.50 is
    450 at scale 2, 45 at scale 1), so its cents are that number times 1, 10 or 100 (at
    9,792,743 payments 0.05 s, against 0.17 s through Decimal(38, 2) and each row's checks)."""
    assert isinstance(dtype, pl.Decimal) and _cents_fit(dtype), dtype
    cents = col.to_physical().cast(pl.Int64)
    return cents if dtype.scale == 2 else cents * 10 ** (2 - (dtype.scale or 0))


def _cents_fit(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Decimal) and (dtype.scale or 0) <= 2


# What a column holds, and the Parquet type to export it as, for the message refusing a file.
_NATIVE_TYPES = {
    Kind.TEXT: ("text", "text"),
    Kind.KEY: ("ids", "text or integers"),
    Kind.CUSTOMER_REF: ("customer ids", "text or integers"),
    Kind.DATE: ("dates", "a Parquet date (not text)"),
    Kind.DATETIME: ("dates or times", "a Parquet date or timestamp (not text)"),
    Kind.COUNT: ("whole numbers", "a Parquet integer"),
    Kind.MONEY: ("money", "a decimal with 2 places (money is never a binary float)"),
    Kind.VOCAB: ("words", "text"),
}
