"""How every sheet of the workbook prints (SPEC 9): landscape, one page wide however many
pages long, the header row repeated on each page, and the list's name and the as-of date in
the page header, so a printed call list says what it is on every page."""

from __future__ import annotations

import datetime as dt
from typing import Any


def print_setup(sheet: Any, title: str, as_of: dt.date | None) -> None:
    """Set `sheet` (an xlsxwriter worksheet) to print as a list does; the as-of date in its
    page header when there is one."""
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)  # one page wide, as many pages long as it takes
    sheet.repeat_rows(0)
    dated = f"&Ras of {as_of.isoformat()}" if as_of is not None else ""
    sheet.set_header(f"&L&B{_literal(title)}{dated}")
    sheet.set_footer("&CPage &P of &N")


def _literal(text: str) -> str:
    """Text shown as written in a page header, where `&` starts a code (Excel writes `&&`)."""
    return text.replace("&", "&&")
