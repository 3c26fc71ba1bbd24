"""The Excel workbook for managers (SPEC 9): a Summary sheet with a chart, one sheet per list.

Written by Polars' `write_excel` into one xlsxwriter workbook, so every sheet is a real Excel
table: a frozen header row, a filter, fitted widths, money as numbers with two decimals
(negative in red), dates as dates and ids as text. Text is never turned into a formula, a
number or a link, whatever a name in the export says.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO

import polars as pl
import polars.selectors as cs

from followup_cli.core import money
from followup_cli.core.errors import UsageError

if TYPE_CHECKING:
    from xlsxwriter import Workbook
from followup_cli.outputs.lists import LIST_ORDER
from followup_cli.outputs.summary import Summary
from followup_cli.outputs.trends_sheet import TRENDS, trends_sheet
from followup_cli.outputs.workbook_chart import lists_chart
from followup_cli.outputs.workbook_print import print_setup
from followup_cli.outputs.workbook_sheets import (
    call_lists,
    fitted_widths,
    owing_counts,
    readable,
    shared_widths,
)
from followup_cli.outputs.workbook_values import exact_cells

# A sheet holds 1,048,576 rows, one of them the header.
EXCEL_MAX_DATA_ROWS = 1_048_575
MONEY_FORMAT = "#,##0.00;[Red]-#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
SUMMARY = "Summary"
CHANGES = "Changes"
REJECTED = "Rejected rows"
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")
_SHEET_NAME_MAX = 31

_FORMATS: dict[Any, str] = {pl.Decimal: MONEY_FORMAT, pl.Date: DATE_FORMAT}


@dataclass(frozen=True)
class Sheets:
    """What goes in the workbook beside the lists."""

    as_of: dt.date
    summary: Summary | None = None
    rejects: pl.DataFrame | None = None  # a sheet only when rows were set aside
    changes: pl.DataFrame | None = None  # a sheet whenever a previous run is known
    order: tuple[str, ...] = LIST_ORDER  # the lists' sheets, in the rules file's order
    trends: pl.DataFrame | None = None  # the Trends sheet: --history, followup trends
    tables: tuple[tuple[str, pl.DataFrame], ...] = ()  # sheets of one table: followup history


def no_lists() -> pl.DataFrame:
    """The lists of a workbook that holds only the sheets `Sheets` gives (the Changes of
    `--changes NAME.xlsx`, or what `followup changes`, `history` and `trends` write)."""
    return pl.DataFrame(schema={"follow_up_status": pl.String})


def sheet_name(status: str) -> str:
    """A list's sheet name: its status, without the characters Excel refuses, in 31 characters."""
    return _NOT_IN_SHEET_NAMES.sub(" ", status).strip()[:_SHEET_NAME_MAX].strip()


def check_fits(lists: pl.DataFrame, sheets: Sheets | None = None) -> None:
    """Refuse, before anything is written, a sheet longer than Excel can hold (exit 2)."""
    sizes = lists.group_by("follow_up_status").len().iter_rows()
    too_long = [(f"the {status} list", rows) for status, rows in sizes]
    too_long += [(f"the {name} sheet", rows) for name, rows in owing_counts(lists)]
    rejects, changes = (sheets.rejects, sheets.changes) if sheets else (None, None)
    too_long += [(f"the {CHANGES} sheet", f.height) for f in (changes,) if f is not None]
    too_long += [(f"the {REJECTED} sheet", f.height) for f in (rejects,) if f is not None]
    for what, rows in sorted(too_long):
        if rows > EXCEL_MAX_DATA_ROWS:
            raise UsageError(
                f"{what} has {rows:,} rows, more than an Excel sheet holds "
                f"({EXCEL_MAX_DATA_ROWS:,}); write CSV or Parquet instead (-o followup.csv), "
                f"or pick lists with --status"
            )


def write_workbook(sink: BinaryIO, lists: pl.DataFrame, sheets: Sheets) -> None:
    """The workbook: Summary, each non-empty list in the decision tables' order, Changes (when
    given), Rejected rows (when any). The same arguments give the same bytes."""
    check_fits(lists, sheets)
    buffer = _Unclosable()
    _write_workbook(buffer, lists, sheets)
    sink.write(buffer.getvalue())


class _Unclosable(io.BytesIO):
    """What xlsxwriter zips into, copied to the real file once complete. A signal in the middle
    of the zipping leaves xlsxwriter's ZipFile open, and when the garbage collector finalises
    it, it writes its end into what it was given: into the temporary file, closed by then, that
    was "Exception ignored in: ZipFile.__del__" and a traceback after a clean exit 143. This
    buffer takes those last writes, even from a collector that finalised it first."""

    def close(self) -> None:
        pass  # its memory goes with its last reference; nothing else to release


def _write_workbook(sink: BinaryIO, lists: pl.DataFrame, sheets: Sheets) -> None:
    # Imported here: most runs write no workbook, and every run would pay its import time.
    from xlsxwriter import Workbook  # noqa: PLC0415

    as_of, summary, rejects, changes = sheets.as_of, sheets.summary, sheets.rejects, sheets.changes
    workbook = Workbook(
        sink,
        {
            "in_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "default_date_format": DATE_FORMAT,
        },
    )
    # xlsxwriter stamps the file with the time it was written unless told otherwise; the
    # as-of date keeps two runs on the same exports byte-identical.
    created = dt.datetime(as_of.year, as_of.month, as_of.day)
    workbook.set_properties({"title": f"followup as of {as_of}", "created": created})
    if summary is not None:
        _summary_sheet(workbook, summary, sheets.order)
    for status in sheets.order:
        people = lists.filter(pl.col("follow_up_status") == status)
        if people.height:
            _table_sheet(workbook, sheet_name(status), people, as_of)
    # The money call lists: who owes the most, to phone them.
    for name, owing in call_lists(lists):
        _table_sheet(workbook, _unused_name(workbook, name), owing, as_of)
    if changes is not None:
        _table_sheet(workbook, CHANGES, changes, as_of)
    if rejects is not None and rejects.height:
        _table_sheet(workbook, REJECTED, rejects, as_of)
    for name, frame in sheets.tables:
        _table_sheet(workbook, name, frame, as_of)
    if sheets.trends is not None:
        # The Trends headers are the lists' names as the rules file writes them (a list named
        # at_risk is no "At risk" beside its sheet at_risk) and the sheet's own words.
        trends = trends_sheet(workbook, sheets.trends, partial(_table, in_words=False))
        print_setup(trends, TRENDS, as_of)
    if not workbook.worksheets():
        _table_sheet(workbook, SUMMARY, lists)  # nothing at all: still a workbook that opens
    workbook.close()


def _unused_name(workbook: Workbook, name: str) -> str:
    """`name`, or `name (2)`... when a list of a rules file already took it (sheet names are
    the same whatever their case)."""
    taken = {sheet.get_name().casefold() for sheet in workbook.worksheets()}
    candidate, number = name, 1
    while candidate.casefold() in taken:
        number += 1
        candidate = f"{name[: _SHEET_NAME_MAX - 4]} ({number})"
    return candidate


def _table_sheet(
    workbook: Workbook, name: str, frame: pl.DataFrame, as_of: dt.date | None = None
) -> Any:
    sheet = workbook.add_worksheet(name)
    _table(workbook, sheet, frame, (0, 0), f"Table_{len(workbook.worksheets())}")
    print_setup(sheet, name, as_of)
    # Ids such as 1234567 are text on purpose; Excel's green "number stored as text" corner
    # on every one of them would only worry the reader.
    sheet.ignore_errors({"number_stored_as_text": "A1:XFD1048576"})
    return sheet


def _table(
    workbook: Workbook,
    sheet: Any,
    frame: pl.DataFrame,
    position: tuple[int, int],
    name: str,
    widths: dict[Any, int] | None = None,
    *,
    in_words: bool = True,
) -> None:
    """`frame` as an Excel table at `position`, its headers in words (workbook_sheets.HEADERS)
    unless not `in_words`; `widths` (by those words) when the sheet's other tables share its
    columns."""
    frame = readable(frame) if in_words else frame
    # Excel has no time zones (xlsxwriter refuses an aware time): a carried timestamp with
    # one is written as the time on the clock there.
    frame = frame.with_columns(cs.datetime(time_zone="*").dt.replace_time_zone(None))
    # Numbers of more than 15 digits, dates before March 1900: text (workbook_values).
    frame, formats, places = exact_cells(frame)
    frame.write_excel(
        workbook,
        sheet,
        position=position,
        table_name=name,
        column_formats=formats,
        dtype_formats=_FORMATS,
        autofilter=True,
        column_widths=fitted_widths(frame, places) if widths is None else widths,
        freeze_panes=(1, 0),
    )


def _summary_sheet(workbook: Workbook, s: Summary, order: tuple[str, ...]) -> None:
    """The Summary: people per list (column A and B, the chart's data), the run, money owed
    per account status and rows per file (columns D on), then the chart."""
    sheet = workbook.add_worksheet(SUMMARY)
    lists, run, accounts, files = _summary_tables(s, order)
    files_at = 3 + accounts.height + 2
    placed = [
        (lists, (0, 0), "Lists"),
        (run, (0, 3), "Run"),
        (accounts, (3, 3), "Accounts"),
        (files, (files_at, 3), "Files"),
    ]
    # The Run, Accounts and Files tables share columns D to H: each gets the widths all three
    # need, or the last one written would set them (and 1,400,000.00 showed as #####).
    words = [readable(frame) for frame, _, _ in placed]
    widths = shared_widths(
        [(frame, at[1]) for frame, (_, at, _) in zip(words, placed, strict=True)]
    )
    for frame, (_, at, name), fitted in zip(words, placed, widths, strict=True):
        _table(workbook, sheet, frame, at, name, fitted)
    chart = lists_chart(workbook, SUMMARY, lists.height, s.as_of)
    sheet.insert_chart(files_at + files.height + 2, 3, chart)
    print_setup(sheet, SUMMARY, s.as_of)


def _summary_tables(
    s: Summary, order: tuple[str, ...]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The Summary's four tables: Lists, Run, Accounts and Files."""
    people = dict(s.follow_up)
    lists = pl.DataFrame(
        {"follow_up_status": list(order), "people": [people.get(x, 0) for x in order]},
        schema={"follow_up_status": pl.String, "people": pl.Int64},
    )
    run = pl.DataFrame(
        {
            "as_of": [s.as_of],
            "people": [s.people],
            "owed": [s.owed_cents],
            "rejected_rows": [s.rejected_rows],
        },
        schema={"as_of": pl.Date, "people": pl.Int64, "owed": pl.Int64, "rejected_rows": pl.Int64},
    ).with_columns(money.as_decimal(pl.col("owed")).alias("owed"))
    accounts = pl.DataFrame(
        [(status, count, owed) for status, count, owed in s.accounts]
        + [("Total", sum(c for _, c, _ in s.accounts), s.owed_cents)],
        schema={"account_status": pl.String, "accounts": pl.Int64, "owed": pl.Int64},
        orient="row",
    ).with_columns(money.as_decimal(pl.col("owed")).alias("owed"))
    files = pl.DataFrame(
        [(t.file, t.read, t.used, t.rejected, t.left_out) for t in s.tables],
        schema={
            "file": pl.String,
            "read": pl.Int64,
            "used": pl.Int64,
            "rejected": pl.Int64,
            "after_as_of": pl.Int64,
        },
        orient="row",
    )
    return lists, run, accounts, files
