"""Values a workbook cell cannot show as they are, written so that every one is shown as it is.

An Excel number is a binary double shown with at most 15 significant digits: a carried
UInt64 18446744073709551615 became 1.8446744073709552e19, and a 16-digit card number
4111111111111111 shows as 4111111111111110. An Excel date is a day number from 1900-01-01:
an earlier date became a negative day, shown as #####; and the first two months of 1900 are
not the same day everywhere (Excel counts a 29 February 1900 that LibreOffice does not, so
LibreOffice showed 1900-01-01 as 1899-12-31, and xlsxwriter wrote a timestamp on 1900-01-01
as day 0). From 1900-03-01 on, every program shows the day written. So a column holding any
such value is
written as text, every digit kept (numbers in their plain form, dates and timestamps in ISO
form), right-aligned as numbers and dates are. The decision is per column, so a column sorts
and filters one way; a column whose values all fit stays numbers or dates (the contract's
money, bounded far below 15 digits by validation, always does). A decimal column with more
than two places shows the places its values use, not two.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl

from followup_cli.core.frames import column

# The significant digits Excel shows and keeps of a number.
EXCEL_DIGITS = 15
# The first day every spreadsheet program shows as written (see above).
FIRST_SHARED_DAY = dt.date(1900, 3, 1)
TIMESTAMP_TEXT = "%Y-%m-%d %H:%M:%S%.f"  # %.f: the fraction when there is one
# A number or date written as text: Excel's text format (an edit keeps it text), on the right.
TEXT_CELL = {"num_format": "@", "align": "right"}
_MONEY_PLACES = 2


# Polars' column_formats: a column's name (Any: Polars' key type is a union) to its format.
Formats = dict[Any, str | dict[str, str]]


def exact_cells(frame: pl.DataFrame) -> tuple[pl.DataFrame, Formats, dict[str, int]]:
    """The frame with each column Excel would show wrongly as text; the column formats for
    those columns and for decimals of more than two places; and those decimals' places."""
    ends = _ends(frame)
    long = _longer_than_excel(frame, ends)
    early = [name for name, dtype in frame.schema.items() if _early(dtype, ends.get(name))]
    places = _decimal_places(frame, [name for name in ends if name not in long])
    formats: Formats = {name: dict(TEXT_CELL) for name in long + early}
    formats |= {name: _number_format(count) for name, count in places.items()}
    texts = [column(name).cast(pl.String) for name in long]
    texts += [_iso(name, frame.schema[name]) for name in early]
    return (frame.with_columns(texts) if texts else frame), formats, places


def _ends(frame: pl.DataFrame) -> dict[str, tuple[Any, Any]]:
    """The smallest and largest value of every number, decimal, date and timestamp column."""
    names = [
        name
        for name, dtype in frame.schema.items()
        if dtype.is_integer() or isinstance(dtype, pl.Decimal | pl.Date | pl.Datetime)
    ]
    if not names or frame.height == 0:
        return {}
    row = frame.select(
        expression
        for name in names
        for expression in (column(name).min().alias(f"{name}\0min"), column(name).max())
    ).row(0)
    return {name: (row[2 * at], row[2 * at + 1]) for at, name in enumerate(names)}


def _longer_than_excel(frame: pl.DataFrame, ends: dict[str, tuple[Any, Any]]) -> list[str]:
    """The integer and decimal columns with a value of more than 15 significant digits."""
    schema = frame.schema
    maybe = []
    for name, (low, high) in ends.items():
        dtype = schema[name]
        if low is None or not (dtype.is_integer() or isinstance(dtype, pl.Decimal)):
            continue
        # Below 10^(15 - places) in size, no value can have more than 15 digits.
        bound = Decimal(10) ** (EXCEL_DIGITS - _scale(dtype))
        if max(abs(Decimal(low)), abs(Decimal(high))) >= bound:
            maybe.append(name)
    if not maybe:
        return []
    digits = frame.select(
        column(name)
        .cast(pl.String)
        .str.replace_all(r"[-.]", "")
        .str.strip_chars_start("0")
        .str.strip_chars_end("0")
        .str.len_chars()
        .max()
        for name in maybe
    ).row(0)
    return [name for name, count in zip(maybe, digits, strict=True) if count > EXCEL_DIGITS]


def _early(dtype: pl.DataType, ends: tuple[Any, Any] | None) -> bool:
    if ends is None or ends[0] is None or not isinstance(dtype, pl.Date | pl.Datetime):
        return False
    low = ends[0]
    return (low.date() if isinstance(low, dt.datetime) else low) < FIRST_SHARED_DAY


def _iso(name: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Date):
        return column(name).dt.to_string("%Y-%m-%d")
    return column(name).dt.to_string(TIMESTAMP_TEXT)


def _decimal_places(frame: pl.DataFrame, names: list[str]) -> dict[str, int]:
    """For each decimal column of more than two places, the places its values use (two at
    least, as money shows)."""
    wide = [name for name in names if _scale(frame.schema[name]) > _MONEY_PLACES]
    if not wide:
        return {}
    used = frame.select(
        column(name).cast(pl.String).str.extract(r"\.([0-9]*?)0*$", 1).str.len_chars().max()
        for name in wide
    ).row(0)
    return {name: max(_MONEY_PLACES, count or 0) for name, count in zip(wide, used, strict=True)}


def _scale(dtype: pl.DataType) -> int:
    return dtype.scale if isinstance(dtype, pl.Decimal) else 0


def _number_format(places: int) -> str:
    shown = "#,##0." + "0" * places
    return f"{shown};[Red]-{shown}"
