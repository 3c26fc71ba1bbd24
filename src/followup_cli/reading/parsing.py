"""Turning one raw column into typed values plus a reason for every value that is refused.

Each parser returns two expressions over the raw column: the typed value (null when refused or
empty) and the reason (null when the value is fine). CSV columns are text; Parquet columns come
with native types, which are used as they are when they fit and refused as a whole file when
they do not (a float for money, text for a date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from followup_cli.core.errors import InputFileError
from followup_cli.core.schema import Column, Kind
from followup_cli.reading.csv_grammar import NUL

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
        return _parse_native_date(column, dtype, as_of)
    native = _parse_native(column, dtype, file)
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
    at = raw.str.find(NUL, literal=True)
    nul = at.is_not_null()
    reason = (
        pl.when(nul)
        .then(
            pl.format(
                "holds a zero byte (NUL) at character {} of its value; text never does "
                "(many programs end the text there)",
                at + 1,
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
        problem = pl.coalesce(problem, _implausible(value, as_of)[1])
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


def latest_plausible_date(as_of: dt.date) -> dt.date:
    """`as_of` plus 100 years (29 February becomes the 28th in a year that has none)."""
    year = as_of.year + YEARS_AHEAD
    try:
        return as_of.replace(year=year)
    except ValueError:
        return as_of.replace(year=year, day=28)


def _implausible(value: pl.Expr, as_of: dt.date | None) -> tuple[pl.Expr, pl.Expr]:
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
        .then(pl.lit(_COUNT_TOO_LARGE))
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
        .then(pl.lit(_MONEY_TOO_LARGE))
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
        .then(pl.lit(_MONEY_TOO_LARGE))
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

_NO_REASON = pl.lit(None, dtype=pl.String)
_MONEY_TOO_LARGE = f"too large for an amount of money (at most {MAX_UNITS:,}.99)"
_COUNT_TOO_LARGE = f"too large for a number of sessions (at most {MAX_COUNT:,})"


def _parse_native_date(column: Column, dtype: pl.DataType, as_of: dt.date | None) -> Parsed:
    """A Parquet date or timestamp: checked row by row, so the verdict avoids building text."""
    col = pl.col(column.name)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        col = col.dt.replace_time_zone(None)
    missing = col.is_null() & pl.lit(column.required)
    implausible, why = _implausible(col, as_of)
    reason = pl.when(missing).then(pl.lit(f"{column.name} is missing; it is required"))
    value = col.cast(pl.Datetime("us")) if column.kind is Kind.DATETIME else col
    refused = missing | implausible.fill_null(False)
    # Null when refused, as text's value is: a row check (end_date before purchase_date) must
    # not also fire on an implausible date that is already the row's reason.
    return Parsed(pl.when(~refused).then(value), reason.otherwise(why), refused, as_is=value)


def _parse_native(
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
            .then(pl.lit(_COUNT_TOO_LARGE))
        )
        return pl.when((col >= 0) & ~too_large).then(wide), reason.otherwise(_NO_REASON), wide
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
            .then(pl.lit(_MONEY_TOO_LARGE))
            .when(too_small)
            .then(pl.lit(f"{column.name} must be {lowest}"))
        )
        # Proven within 0 to MAX_UNITS as a whole (`whole_column.trusted`): no row's checks.
        as_is = wide * 100 if dtype.is_integer() else _decimal_cents(col, dtype)
        return pl.when(~too_small).then(cents), reason.otherwise(_NO_REASON), as_is
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
