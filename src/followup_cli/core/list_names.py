"""A follow-up list's name (a rule's `status`, SPEC 11) as every output can hold it: each list
can become a workbook sheet and a column of the Trends table, so its name must be one that
Excel takes for a sheet and that no sheet or column of the tool's own already has."""

from __future__ import annotations

import unicodedata

STATUS_FORBIDDEN = "[]:*?/\\"
STATUS_MAX = 31
# The workbook's own sheets (and Excel's reserved History): a list named so would be a second
# sheet of that name, which Excel refuses whatever the case. And the Trends table's own columns
# (nightly.trends: as_of, Owed (Due), ...; as_of is Night on the sheet), where a list is a column.
STATUS_RESERVED = ("Summary", "Changes", "Rejected rows", "Trends", "History")
OWED_COLUMNS = ("Owed (Due)", "Owed (Warning)", "Owed (Disabled)")
# What the changes (nightly.changes) say in place of a list: a person new tonight, gone since
# the night before, or without an account status. A list named so would read as one of them.
CHANGE_WORDS = ("(new)", "(gone)", "(none)")
TRENDS_COLUMNS = ("as_of", "Night", *OWED_COLUMNS)


def checked_status(value: object, where: str, problems: list[str]) -> str | None:
    """`value` when it can name a list; else None, with the problem added to `problems`."""
    if value is None:
        problems.append(f"{where} status: missing (the list's name)")
        return None
    # Excel counts a sheet name's characters in UTF-16: an emoji is two of its 31.
    if not isinstance(value, str) or not 1 <= excel_length(value.strip()) <= STATUS_MAX:
        wide = isinstance(value, str) and excel_length(value) != len(value)
        wide_note = " (Excel counts an emoji as 2)" if wide else ""
        problems.append(
            f"{where} status: {value!r} must be 1 to {STATUS_MAX} characters{wide_note}"
        )
        return None
    bad = sorted({c for c in value if c in STATUS_FORBIDDEN})
    if bad or value != value.strip():
        problems.append(
            f"{where} status: {value!r} may not contain "
            f"{' '.join(bad) or 'leading or trailing spaces'}"
            f" (each list can become a workbook sheet; none of [ ] : * ? / \\)"
        )
        return None
    if any(unicodedata.category(c) == "Cc" for c in value) or value[0] == "'" or value[-1] == "'":
        problems.append(
            f"{where} status: {value!r} may not contain control characters (tab, new line) "
            f"nor start or end with ' (each list can become a workbook sheet)"
        )
        return None
    if value.casefold() in (name.casefold() for name in STATUS_RESERVED):
        problems.append(
            f"{where} status: {value!r} is taken (any case): the workbook's own sheets are "
            f"Summary, Changes, Rejected rows and Trends, and Excel keeps History"
        )
        return None
    if value.casefold() in (name.casefold() for name in TRENDS_COLUMNS):
        problems.append(
            f"{where} status: {value!r} is taken (any case): a column of the Trends table "
            f"(as_of, Night on its sheet, then the lists, then Owed (Due), Owed (Warning), "
            f"Owed (Disabled))"
        )
        return None
    if value.casefold() in CHANGE_WORDS:
        problems.append(
            f"{where} status: {value!r} is taken (any case): the changes say "
            f"{', '.join(CHANGE_WORDS)} for a person who is new, who is gone, or who has no "
            f"account status"
        )
        return None
    return value


def excel_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
