"""The Summary's bar chart (SPEC 9), drawn by every spreadsheet program.

Its series are plain cell ranges of the Lists table, whose cells are written before the chart
so xlsxwriter stores their values in the chart (the cache LibreOffice draws from), and its
categories are those cells' text. A table reference (`Lists[people]`) has no cache and
LibreOffice drew an empty chart from it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xlsxwriter import Workbook

BAR_COLOUR = "#2F6EBA"


def lists_chart(workbook: Workbook, sheet: str, rows: int, as_of: dt.date) -> Any:
    """A bar per follow-up list: the names in column A and the people in column B of `sheet`,
    rows 2 to `rows` + 1 under a header row."""
    chart = workbook.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": "People",
            "categories": [sheet, 1, 0, rows, 0],
            "values": [sheet, 1, 1, rows, 1],
            "data_labels": {"value": True},
            "fill": {"color": BAR_COLOUR},
            "border": {"none": True},
            "gap": 60,
        }
    )
    chart.set_title({"name": f"People per follow-up list, as of {as_of}"})
    chart.set_legend({"none": True})
    # A bar chart draws its first category at the bottom; reversed, it reads in table order.
    chart.set_y_axis({"reverse": True})
    chart.set_x_axis({"major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}}})
    chart.set_size({"width": 640, "height": max(300, 60 + 24 * rows)})
    return chart
