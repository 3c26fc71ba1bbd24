"""CSV that is safe to open in a spreadsheet (SPEC 9; OWASP "CSV injection").

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (tab and carriage
return are stripped first by some), so a customer named `=HYPERLINK("http://x","click")` would
become a live link in the manager's sheet. A leading `'` makes the spreadsheet show the text as
text. Only text columns are touched: money (Decimal), counts and dates are written as they are,
and a text value that is a plain number (`-4.00` in a rejects file's value column) cannot be a
formula, so it is left alone too.
"""

from __future__ import annotations

import re

import polars as pl

from followup_cli.core.errors import UsageError
from followup_cli.core.frames import column
from followup_cli.core.schema import Rows

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"


def is_text(dtype: pl.DataType) -> bool:
    """String, and the dictionary-coded text types Parquet exports carry (Categorical, Enum)."""
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def guard_formulas(frame: Rows) -> Rows:
    """Every text value that a spreadsheet would run as a formula, with a leading `'`; and
    so every column name (the header is a row of cells too: a list or carried column named
    `=1+1` came out raw in `followup trends` and `--carry`)."""
    schema = frame.collect_schema()
    text = [name for name, dtype in schema.items() if is_text(dtype)]
    guarded = []
    for name in text:
        value = column(name).cast(pl.String)  # an Enum cannot take a new value such as '=...
        guarded.append(
            pl.when(value.str.contains(FORMULA_START) & ~value.str.contains(PLAIN_NUMBER))
            .then(pl.lit("'") + value)
            .otherwise(value)
            .alias(name)
        )
    clash = guarded_clash(list(schema))
    if clash is not None:
        raise UsageError(
            f"columns {clash[0]!r} and {clash[1]!r} would both be headed {clash[2]!r} once "
            f"guarded as formulas (a leading '); rename one, or use --raw-text"
        )
    names = {name: f"'{name}" for name in schema if _runs(name)}
    return frame.with_columns(guarded).rename(names)


def guarded_clash(names: list[str]) -> tuple[str, str, str] | None:
    """Two column names `guard_formulas` would head alike (`=x`, guarded `'=x`, beside a
    column named `'=x`), the first such pair and their header; None when every header stays
    its own."""
    seen: dict[str, str] = {}
    for name in names:
        header = f"'{name}" if _runs(name) else name
        if header in seen:
            return seen[header], name, header
        seen[header] = name
    return None


def _runs(text: str) -> bool:
    """Whether a spreadsheet would run `text` as a formula (as `guard_formulas` judges)."""
    return re.match(FORMULA_START, text) is not None and re.match(PLAIN_NUMBER, text) is None


def unguard_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Exactly what `guard_formulas` added taken off again, for a CSV followup wrote and reads
    back (--previous): the `'` before a value it would have guarded, and no other `'`."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    rest = {name: column(name).str.slice(1) for name in text}
    return frame.with_columns(
        pl.when(
            column(name).str.starts_with("'")
            & rest[name].str.contains(FORMULA_START)
            & ~rest[name].str.contains(PLAIN_NUMBER)
        )
        .then(rest[name])
        .otherwise(column(name))
        .alias(name)
        for name in text
    )
