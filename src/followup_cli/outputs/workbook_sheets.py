"""The workbook's sheets as a person reads them (SPEC 9): headers in words, the money call lists
(who owes the most, to phone them), and column widths that fit every table on a sheet.

The CSV, Parquet and JSON Lines outputs keep the contract's column names; only the workbook
shows these words.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from followup_cli.core.account_status import DISABLED, DUE, WARNING
from followup_cli.core.frames import column

# The contract's columns (SPEC 5), the two dates after them and the usual contact columns, as
# a manager reads them. Any other column (a carried one, a Changes or Rejected rows column) is
# its name with spaces for underscores and a capital first letter: `home_club` is `Home club`.
HEADERS = {
    "customer_id": "Customer",
    "name": "Name",
    "customer_type": "Type",
    "follow_up_status": "Follow-up list",
    "reason": "Reason",
    "account_status": "Account status",
    "balance": "Balance",
    "past_due": "Past due",
    "oldest_unpaid_on": "Oldest unpaid",
    "days_in_arrears": "Days in arrears",
    "last_visit_on": "Last visit",
    "last_paid_on": "Last payment",
    "phone": "Phone",
    "email": "Email",
    "as_of": "As of",
    "after_as_of": "After as-of",
    "from_status": "From list",
    "to_status": "To list",
}

# The account statuses that owe (SPEC 3), each a call list: their names are SPEC 3's whatever
# the rules file (SPEC 11 changes the thresholds, not the names).
OWING = (WARNING, DISABLED, DUE)
# What a call needs, in this order; the two dates and the contact columns when the frame has
# them.
CALL_COLUMNS = (
    "customer_id",
    "name",
    "phone",
    "email",
    "account_status",
    "balance",
    "past_due",
    "days_in_arrears",
    "oldest_unpaid_on",
    "last_paid_on",
    "last_visit_on",
)


def call_list_name(status: str) -> str:
    """The sheet of the people whose account status is `status`: `Owing - Warning`."""
    return f"Owing - {status}"


def owing_counts(lists: pl.DataFrame) -> list[tuple[str, int]]:
    """How many rows each call list would have (for the check that every sheet fits)."""
    if "account_status" not in lists.columns:
        return []
    owing = lists.filter(pl.col("account_status").is_in(OWING))
    sizes = dict(owing.group_by("account_status").len().iter_rows())
    return [(call_list_name(status), sizes[status]) for status in OWING if status in sizes]


def call_lists(lists: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    """One sheet per account status that owes, biggest debt first (the most negative balance;
    ties keep the lists' order, the customers file's unless --sort asked another), with the
    columns a call needs. A status nobody has gives no sheet."""
    if not {"account_status", "balance"} <= set(lists.columns):
        return []
    columns = [name for name in CALL_COLUMNS if name in lists.columns]
    sheets = []
    for status in OWING:
        owing = (
            lists.filter(pl.col("account_status") == status)
            .select(columns)
            .sort("balance", nulls_last=True, maintain_order=True)
        )
        if owing.height:
            sheets.append((call_list_name(status), owing))
    return sheets


def readable(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with headers in words. A word another column already has (a carried column
    called `customer`, say) leaves that column its own name, so no two headers are the same."""
    taken = {name.casefold() for name in frame.columns}
    renamed: dict[str, str] = {}
    for name in frame.columns:
        word = HEADERS.get(name) or (name[:1].upper() + name[1:].replace("_", " "))
        if word == name:
            continue
        if word.casefold() == name.casefold() or word.casefold() not in taken:
            renamed[name] = word
            taken.add(word.casefold())
    return frame.rename(renamed)


# Widths in pixels from the longest text per column, measured by Polars in one pass:
# xlsxwriter's own autofit walks every cell in Python and took a fifth of the writing time.
PIXELS_PER_CHARACTER = 7
PADDING_PIXELS = 12
FILTER_BUTTON_PIXELS = 20
WIDEST_CHARACTERS = 80  # a long reason wraps the view no further than this
DATE_CHARACTERS = len("yyyy-mm-dd")


def fitted_widths(frame: pl.DataFrame, places: dict[str, int] | None = None) -> dict[Any, int]:
    """Each column's width: its header with the filter button, or its widest value as shown
    (money with thousands separators and two decimals, or a decimal column's `places`, a minus
    sign when negative)."""
    if frame.width == 0:
        return {}
    schema = frame.schema
    measured = frame.select(
        expression for name, dtype in schema.items() for expression in _measures(name, dtype)
    ).row(0, named=True)
    widths: dict[Any, int] = {}
    for name, dtype in schema.items():
        characters = _characters(name, dtype, measured, (places or {}).get(name, 2))
        cell = min(characters, WIDEST_CHARACTERS) * PIXELS_PER_CHARACTER + PADDING_PIXELS
        header = len(name) * PIXELS_PER_CHARACTER + PADDING_PIXELS + FILTER_BUTTON_PIXELS
        widths[name] = max(cell, header)
    return widths


def _measures(name: str, dtype: pl.DataType) -> list[pl.Expr]:
    values = column(name)
    if isinstance(dtype, pl.Decimal) or dtype.is_integer():
        return [values.min().alias(f"{name}\0min"), values.max().alias(f"{name}\0max")]
    if isinstance(dtype, pl.Date):
        return []
    return [values.cast(pl.String).str.len_chars().max().fill_null(0).alias(f"{name}\0len")]


def _characters(name: str, dtype: pl.DataType, measured: dict[str, Any], places: int) -> int:
    """The widest value of a column in characters, as the workbook shows it."""
    if isinstance(dtype, pl.Date):
        return DATE_CHARACTERS
    if isinstance(dtype, pl.Decimal):  # MONEY_FORMAT: 1,400,000.00 and -1,400,000.00
        ends = (measured[f"{name}\0min"], measured[f"{name}\0max"])
        return max((len(f"{value:,.{places}f}") for value in ends if value is not None), default=0)
    if dtype.is_integer():  # General: 1400000
        ends = (measured[f"{name}\0min"], measured[f"{name}\0max"])
        return max((len(str(value)) for value in ends if value is not None), default=0)
    return int(measured[f"{name}\0len"]) + (1 if dtype.is_numeric() else 0)


def shared_widths(tables: list[tuple[pl.DataFrame, int]]) -> list[dict[Any, int]]:
    """For tables that share a sheet's columns (each with its first column's index), the
    widths each should set: per sheet column the widest any of them needs, so whichever table
    is written last, every table's values fit."""
    fitted = [fitted_widths(frame) for frame, _ in tables]
    widest: dict[int, int] = {}
    for (frame, first), widths in zip(tables, fitted, strict=True):
        for index, name in enumerate(frame.columns):
            widest[first + index] = max(widest.get(first + index, 0), widths[name])
    return [
        {name: widest[first + index] for index, name in enumerate(frame.columns)}
        for frame, first in tables
    ]
