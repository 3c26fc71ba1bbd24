"""Checks across one row's columns, and how a value is shown in a rejects row (SPEC 6).

`ROW_CHECKS` is the one table of whole-row checks: `validation` evaluates each check's
refused-when expression in its main pass (the verdict) and again on the few rows set aside
(the reason), so a check is declared once. Per-value checks follow from a column's kind
(`parsing.py`); a repeated id is found across the whole file, in `validation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from followup_cli.reading.csv_grammar import NUL

# A rejects row's record_id, value and reason are cut to this many characters (SPEC 6), and a
# value quoted inside a reason to QUOTED: a 10 MB id must not make a 10 MB reason.
MAX_REJECT_TEXT = 200
QUOTED = 40


# One row's typed value of a column, by name: `pl.col` in the main pass, where the typed values
# have replaced the raw ones, and the `_value_` columns in the rejects pass, which keeps both.
Value = Callable[[str], pl.Expr]


@dataclass(frozen=True)
class RowCheck:
    """A check across one row's columns: the row is refused when `refused_when` holds, and
    `reason` (evaluated only for those rows) goes on `column` in the rejects file.

    The same expressions decide in the main pass and explain in the rejects pass. A row whose
    id repeats an earlier row's is the one check not here: it needs the whole file, not a row.
    """

    tables: tuple[str, ...]
    column: str
    refused_when: Callable[[Value], pl.Expr]
    reason: Callable[[Value], pl.Expr]


def _unknown_customer(value: Value) -> pl.Expr:
    # `_customer_line` comes from the join with the customers on file: null, no such customer.
    return value("customer_id").is_not_null() & pl.col("_customer_line").is_null()


def _unknown_customer_reason(value: Value) -> pl.Expr:
    # `_refused_line`: the customers line of a person whose own row was set aside.
    return (
        pl.when(pl.col("_refused_line").is_not_null())
        .then(
            pl.format(
                "customer '{}' was set aside (customers line {}); fix that row first",
                quoted(value("customer_id")),
                pl.col("_refused_line"),
            )
        )
        .otherwise(
            pl.format("customer '{}' is not in the customers file", quoted(value("customer_id")))
        )
    )


ROW_CHECKS = (
    RowCheck(
        ("agreements", "payments", "events"),
        "customer_id",
        _unknown_customer,
        _unknown_customer_reason,
    ),
    # More sessions left than bought is fine (bonus or transferred sessions, SPEC 2).
    RowCheck(
        ("agreements",),
        "end_date",
        lambda value: value("end_date") < value("purchase_date"),
        lambda value: pl.format(
            "end_date {} is before purchase_date {}", value("end_date"), value("purchase_date")
        ),
    ),
)


def row_checks(table: str) -> list[RowCheck]:
    return [check for check in ROW_CHECKS if table in check.tables]


def cut(text: pl.Expr) -> pl.Expr:
    """Text for the rejects file: a zero byte written \\x00 (as the CSV reader shows it), at
    most MAX_REJECT_TEXT characters."""
    return text.str.replace_all(NUL, "\\x00", literal=True).str.slice(0, MAX_REJECT_TEXT)


def quoted(text: pl.Expr) -> pl.Expr:
    """A value as quoted inside a reason: at most QUOTED characters, "..." marking a cut."""
    return (
        pl.when(text.str.len_chars() > QUOTED)
        .then(text.str.slice(0, QUOTED - 3) + "...")
        .otherwise(text)
    )
