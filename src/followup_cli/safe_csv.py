"""CSV that is safe to open in a spreadsheet (SPEC 9; OWASP "CSV injection").

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (tab and carriage
return are stripped first by some), so a customer named `=HYPERLINK("http://x","click")` would
become a live link in the manager's sheet. A leading `'` makes the spreadsheet show the text as
text. Only text columns are touched: money (Decimal), counts and dates are written as they are,
and a text value that is a plain number (`-4.00` in a rejects file's value column) cannot be a
formula, so it is left alone too.
"""

from __future__ import annotations

import polars as pl

from followup_cli.schema import Rows

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"


def guard_formulas(frame: Rows) -> Rows:
    """Every text value that a spreadsheet would run as a formula, with a leading `'`."""
    text = [name for name, dtype in frame.collect_schema().items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START) & ~pl.col(name).str.contains(PLAIN_NUMBER))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )


def unguard_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Exactly what `guard_formulas` added taken off again, for a CSV followup wrote and reads
    back (--previous): the `'` before a value it would have guarded, and no other `'`."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    rest = {name: pl.col(name).str.slice(1) for name in text}
    return frame.with_columns(
        pl.when(
            pl.col(name).str.starts_with("'")
            & rest[name].str.contains(FORMULA_START)
            & ~rest[name].str.contains(PLAIN_NUMBER)
        )
        .then(rest[name])
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )
