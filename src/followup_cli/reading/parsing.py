"""Turning one raw column into typed values plus a reason for every value that is refused.

Each parser returns two expressions over the raw column: the typed value (null when refused or
empty) and the reason (null when the value is fine). CSV columns are text; Parquet columns come
with native types, which are used as they are when they fit and refused as a whole file when
they do not (a float for money, text for a date: `native_values`). What a value may be is in
`value_bounds`.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from followup_cli.core.schema import Column, Kind
from followup_cli.reading.csv_grammar import NUL, nul_character
from followup_cli.reading.native_values import parse_native, parse_native_date
from followup_cli.reading.value_bounds import (
    COUNT_TOO_LARGE,
    MAX_TEXT,
    MAX_UNITS,
    MONEY_TOO_LARGE,
    Parsed,
    implausible,
)

# [0-9], not \d: the regex engine's \d also matches other scripts' digits (Arabic-Indic,
# full-width), which would pass the shape check and then fail the number cast quietly.
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?$"
_MONEY = r"^[£$€]?([0-9]{1,12})(?:\.([0-9]{1,2})0*)?$"
_COUNT = r"^\+?[0-9]{1,9}$"
# More significant digits than the shapes above allow: too large, said as such, whatever the
# file's format (a Parquet UInt64 says the same of the same number).
_LONG_COUNT = r"^\+?0*[1-9][0-9]{9,}$"
_LONG_MONEY = r"^[£$€]?0*[1-9][0-9]{12,}(?:\.[0-9]*)?$"
# Another currency's sign before an amount (¥5, ₹ 40): any Unicode currency symbol but ours.
_OTHER_CURRENCY = r"^([\p{Sc}--[£$€]])\s*[0-9]"


# Kinds whose text has few distinct values in a real export (dates, amounts, words), so
# parsing each distinct value once and joining the verdicts back is far cheaper than running
# the regular expressions over every row.
DISTINCT_KINDS = frozenset({Kind.DATE, Kind.DATETIME, Kind.COUNT, Kind.MONEY, Kind.VOCAB})


def parse_once_per_value(column: Column, dtype: pl.DataType, typed: bool) -> bool:
    """Whether `parse` should run on the column's distinct values rather than on every row."""
    return column.kind in DISTINCT_KINDS and (not typed or dtype == pl.String)


def parse(
    column: Column, dtype: pl.DataType, file: str, typed: bool, as_of: dt.date | None
) -> Parsed:
    """Value, refusal reason and refusal flag for `column`, whose raw values have type `dtype`.

    `typed` says the file carries its own types (Parquet); CSV values are all text. Dates
    after `as_of` plus 100 years are refused (None: no upper bound, for values that are not
    from an export).
    """
    if dtype == pl.Null or not typed:
        if dtype == pl.Null:
            raw = pl.lit(None, dtype=pl.String)
        elif dtype == pl.String:
            raw = pl.col(column.name)
        else:  # a CSV file's dates, amounts and words come as categories (`read_table`)
            raw = pl.col(column.name).cast(pl.String)
        return _parse_text(column, raw, as_of)
    timestamp = isinstance(dtype, pl.Datetime)
    if (column.kind is Kind.DATE and dtype == pl.Date) or (
        column.kind is Kind.DATETIME and (dtype == pl.Date or timestamp)
    ):
        return parse_native_date(column, dtype, as_of)
    native = parse_native(column, dtype, file)
    if native is not None:
        value, reason, as_is = native
        return Parsed(value, reason, reason.is_not_null(), as_is=as_is)
    raw = pl.col(column.name)
    if dtype != pl.String:
        raw = raw.cast(pl.String)
    return _without_zero_bytes(raw, _parse_text(column, raw, as_of))


def _without_zero_bytes(raw: pl.Expr, parsed: Parsed) -> Parsed:
    """A Parquet text value holding a zero byte (NUL) refused, as a CSV row holding one is
    (`csv_reader`): NUL is not text, and many tools end a string at it."""
    nul = raw.str.contains(NUL, literal=True).fill_null(False)
    reason = (
        pl.when(nul)
        .then(
            pl.format(
                "holds a zero byte (NUL) at character {} of its value; text never does "
                "(many programs end the text there)",
                nul_character(raw),
            )
        )
        .otherwise(parsed.reason)
    )
    return Parsed(pl.when(~nul).then(parsed.value), reason, parsed.refused | nul)


FREE_TEXT = frozenset({Kind.TEXT, Kind.KEY, Kind.CUSTOMER_REF})


def _parse_text(column: Column, raw: pl.Expr, as_of: dt.date | None) -> Parsed:
    stripped = raw.str.strip_chars()
    empty = stripped.is_null() | (stripped.str.len_bytes() == 0)
    text = pl.when(~empty).then(stripped)
    missing = empty & pl.lit(column.required)
    length = stripped.str.len_chars()
    too_long = (length > MAX_TEXT).fill_null(False)
    value, problem = _TEXT_PARSERS[column.kind](column, text)
    if column.kind in (Kind.DATE, Kind.DATETIME):
        problem = pl.coalesce(problem, implausible(value, as_of)[1])
    reason = (
        pl.when(missing)
        .then(pl.lit(f"{column.name} is missing; it is required"))
        .when(too_long)
        .then(
            pl.format(
                "value is {} characters long; at most {} are accepted", length, pl.lit(MAX_TEXT)
            )
        )
        .otherwise(problem)
    )
    if column.kind in FREE_TEXT:
        # Ids and free text can only be missing or too long: both verdicts come from lengths,
        # with no text built, and the value needs no second pass (refused rows are dropped).
        # A required key that is empty is refused, so it may stay "" rather than become null.
        # A customer reference may not: the unknown-customer check reads it, and a blank
        # reference ("" or "  " in Parquet) was named "not in the customers file" instead of
        # missing, as the same row in CSV (where an empty field is null) is.
        kept = stripped if column.kind is Kind.KEY else value
        return Parsed(kept, reason, missing | too_long)
    return Parsed(pl.when(reason.is_null()).then(value), reason, reason.is_not_null())


def _text(column: Column, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    return text, pl.lit(None, dtype=pl.String)


def _date(column: Column, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    shaped = text.str.contains(_DATE)
    value = pl.when(shaped).then(text.str.to_date("%Y-%m-%d", strict=False))
    reason = (
        pl.when(text.is_null())
        .then(None)
        .when(~shaped)
        .then(pl.lit("not a date; expected YYYY-MM-DD, e.g. 2024-07-31"))
        .when(value.is_null())
        .then(pl.lit("not a real calendar date"))
    )
    return value, reason


def _datetime(column: Column, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    shaped = text.str.contains(_DATETIME)
    # One shape for the parser: a date alone is midnight, a time without seconds is :00.
    full = (
        text.str.replace("T", " ", literal=True)
        .str.pad_end(19, "_")
        .str.replace(r"^(.{10})_{9}$", "$1 00:00:00")
        .str.replace(r"^(.{16})_{3}$", "$1:00")
    )
    # A 60th second is no time of day: chrono would read it as a leap second, the next minute.
    real = shaped & ~full.str.ends_with(":60")
    value = pl.when(real).then(full.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False))
    reason = (
        pl.when(text.is_null())
        .then(None)
        .when(~shaped)
        .then(pl.lit("not a date; expected YYYY-MM-DD or YYYY-MM-DD HH:MM"))
        .when(value.is_null())
        .then(pl.lit("not a real calendar date or time"))
    )
    return value.cast(pl.Datetime("us")), reason


def _count(column: Column, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    shaped = text.str.contains(_COUNT)
    value = pl.when(shaped).then(text.str.strip_prefix("+").cast(pl.Int64, strict=False))
    reason = (
        pl.when(text.is_null())
        .then(None)
        .when(text.str.contains(r"^-[0-9]+$"))
        .then(pl.lit(f"{column.name} must be 0 or more"))
        .when(text.str.contains(_LONG_COUNT))
        .then(pl.lit(COUNT_TOO_LARGE))
        .when(~shaped)
        .then(pl.lit("not a whole number"))
    )
    return value, reason


def _money(column: Column, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    parts = text.str.extract_groups(_MONEY)
    units = parts.struct.field("1").cast(pl.Int64, strict=False)
    hundredths = parts.struct.field("2").fill_null("0").str.pad_end(2, "0").cast(pl.Int64)
    cents = units * 100 + hundredths
    lowest = "0 or more" if column.allow_zero else "more than 0"
    symbol = text.str.extract(_OTHER_CURRENCY, 1)
    reason = (
        pl.when(text.is_null())
        .then(None)
        .when(text.str.contains(r"^[£$€]?\s*-[0-9.]|^-[£$€]?[0-9.]"))
        .then(pl.lit(f"{column.name} must be {lowest}"))
        .when(text.str.contains(_LONG_MONEY))
        .then(pl.lit(MONEY_TOO_LARGE))
        .when(text.str.contains(r"^[£$€]?[0-9]+\.[0-9]*[1-9][0-9]*$") & units.is_null())
        .then(pl.lit("more than 2 decimal places; money is in whole pence/cents"))
        .when(symbol.is_not_null())
        .then(
            pl.format(
                "unknown currency symbol '{}'; only £ $ € (or none) are accepted",
                symbol,
            )
        )
        .when(units.is_null())
        .then(pl.lit("not an amount of money; expected e.g. 4.00 or £4.00"))
        .when(units > MAX_UNITS)
        .then(pl.lit(MONEY_TOO_LARGE))
        .when((cents == 0) & pl.lit(not column.allow_zero))
        .then(pl.lit(f"{column.name} must be {lowest}"))
    )
    return cents, reason


def _vocabulary(column: Column, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    # An Enum of the canonical words: one byte a row instead of a string, and a typo in a
    # rule's comparison fails loudly instead of matching nothing.
    value = text.str.to_lowercase().replace_strict(
        column.vocabulary, default=None, return_dtype=pl.Enum(column.canonical_words)
    )
    expected = ", ".join(column.canonical_words)
    reason = pl.when(text.is_not_null() & value.is_null()).then(
        pl.format(
            "unknown {} '{}'; expected one of: {}", pl.lit(column.name), text, pl.lit(expected)
        )
    )
    return value, reason


_TEXT_PARSERS = {
    Kind.TEXT: _text,
    Kind.KEY: _text,
    Kind.CUSTOMER_REF: _text,
    Kind.DATE: _date,
    Kind.DATETIME: _datetime,
    Kind.COUNT: _count,
    Kind.MONEY: _money,
    Kind.VOCAB: _vocabulary,
}


def amount_cents(text: str, name: str) -> int:
    """One amount given on the command line, read by the same rules as money in the exports."""
    column = Column(name, Kind.MONEY, required=True)
    parsed = parse(column, pl.String(), name, typed=False, as_of=None)
    value, reason = (
        pl.DataFrame({name: [text]})
        .select(parsed.value.alias("value"), parsed.reason.alias("reason"))
        .row(0)
    )
    if reason is not None:
        raise ValueError(reason)
    return int(value)
