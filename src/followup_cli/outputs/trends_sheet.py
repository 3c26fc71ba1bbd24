"""The workbook's Trends sheet (SPEC 9): one row per stored night, people per list and money
owed per account status (nightly.trends makes the figures), with two line charts.

The charts draw in every spreadsheet program: their series are plain cell ranges over values
written in the cells (so the file carries them cached), and the nights, their categories, are
text (`2024-07-31`, which sorts and filters as the date does): a date is a number in a cell,
and LibreOffice draws number categories as an empty axis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from followup_cli.core.frames import column
from followup_cli.core.list_names import OWED_COLUMNS

if TYPE_CHECKING:
    from xlsxwriter import Workbook

TRENDS = "Trends"
NIGHT = "Night"
AS_OF = "as_of"

# The workbook's table writer (outputs.workbook): frozen header, filter, widths, formats.
TableWriter = Callable[[Any, Any, pl.DataFrame, tuple[int, int], str], None]

_CHART_ROWS = 22  # rows a chart covers at its size, and a blank row
_CHART_SIZE = {"width": 760, "height": 420}


def trends_sheet(workbook: Workbook, trends: pl.DataFrame, write_table: TableWriter) -> Any:
    """The Trends sheet (returned): the table of nights, then a chart of people per list (the
    lists that ever had anybody) and a chart of money owed per account status, both over the
    nights."""
    table = trends.with_columns(pl.col(AS_OF).dt.to_string("%Y-%m-%d").alias(AS_OF)).rename(
        {AS_OF: NIGHT}
    )
    sheet = workbook.add_worksheet(TRENDS)
    write_table(workbook, sheet, table, (0, 0), "Trends")
    nights = table.height
    if nights == 0:
        return sheet
    # The money columns by their exact names, which no list may take: a list may be named
    # `Owed (Late)`, and was once drawn as money.
    owed = [name for name in table.columns[1:] if name in OWED_COLUMNS]
    lists = [name for name in table.columns[1:] if name not in owed]
    ever = table.select(column(*lists).max()).row(0, named=True) if lists else {}
    people = [name for name in lists if ever[name]]
    below = nights + 2
    for at, (columns, title, number_format) in enumerate(
        (
            (people, "People per follow-up list", "#,##0"),
            (owed, "Money owed per account status", "#,##0.00"),
        )
    ):
        chart = workbook.add_chart({"type": "line"})
        for name in columns:
            place = table.columns.index(name)
            chart.add_series(
                {
                    "name": [TRENDS, 0, place],
                    "categories": [TRENDS, 1, 0, nights, 0],
                    "values": [TRENDS, 1, place, nights, place],
                    "marker": {"type": "circle"},  # one night is a point, not a line
                }
            )
        chart.set_title({"name": f"{title}, night by night"})
        chart.set_x_axis({"name": NIGHT})
        chart.set_y_axis({"num_format": number_format, "min": 0})
        chart.set_legend({"position": "right"})
        chart.set_size(_CHART_SIZE)
        sheet.insert_chart(below + at * _CHART_ROWS, 0, chart)
    return sheet
