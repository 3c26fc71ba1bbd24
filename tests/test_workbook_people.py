"""The workbook people open (issue 22): money call lists, contact columns without --carry,
headers in words, widths that fit every table on a sheet, a chart of plain cell ranges with
cached values, and every sheet set to print landscape, one page wide, header row repeated.

The LibreOffice side (what a real spreadsheet program draws and prints) is
tests/test_libreoffice.py.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import polars as pl

from tests.conftest import SAMPLE, SPEC_COLUMNS, write_exports

AS_OF = "2024-07-31"
SAMPLE_ARGS = ("reconcile", "--data", str(SAMPLE), "--as-of", AS_OF, "-q")
CUSTOMERS = "customer_id,name,origin,created_on,Phone,EMAIL"
WORDS = [
    "Customer",
    "Name",
    "Type",
    "Follow-up list",
    "Reason",
    "Account status",
    "Balance",
    "Past due",
    "Oldest unpaid",
    "Days in arrears",
]


def _header(sheet) -> list[str]:
    return [cell.value for cell in next(sheet.iter_rows(min_row=1, max_row=1))]


def _column(sheet, name: str) -> list[object]:
    index = _header(sheet).index(name)
    return [row[index] for row in sheet.iter_rows(min_row=2, values_only=True)]


def _owing_exports(folder: Path) -> Path:
    """Seven subscribers owing different sums, with phone and email columns spelled as an
    export might (`Phone`, `EMAIL`): D-1 to D-3 Due (two owe the same), W-1 and W-2 Warning,
    X-1 Disabled owing 1,500,000.00, and P-1 who paid."""
    people = ["D-1", "D-2", "D-3", "W-1", "W-2", "X-1", "P-1"]
    customers = [
        f"{c},Person {c},web,2024-01-01,555-{i:04d},{c.lower()}@example.com"
        for i, c in enumerate(people)
    ]
    fees = {
        "D-1": "4.00",
        "D-2": "9.00",
        "D-3": "4.00",
        "W-1": "5.00",
        "W-2": "50.00",
        "X-1": "500000.00",
        "P-1": "4.00",
    }
    # Due: the July charge (due 2024-07-31) unpaid; Warning: June's too (due 2024-06-28,
    # 33 days); Disabled: unpaid since May (2024-05-31, two months by 2024-07-31).
    start = {
        "D-1": "2024-07-01",
        "D-2": "2024-07-01",
        "D-3": "2024-07-01",
        "W-1": "2024-06-01",
        "W-2": "2024-06-01",
        "X-1": "2024-05-01",
        "P-1": "2024-07-01",
    }
    agreements = [f"A-{c},{c},{start[c]},,,active,,{fees[c]}," for c in people]
    payments = ["P-1,P-1,2024-07-31,4.00,recurring"]
    write_exports(
        folder, {"customers": [], "agreements": agreements, "payments": payments, "events": []}
    )
    (folder / "customers.csv").write_text("\n".join([CUSTOMERS, *customers]) + "\n")
    return folder


def test_a_call_list_per_account_status_that_owes_biggest_debt_first(invoke, tmp_path) -> None:
    """Owing - Warning, Owing - Disabled, Owing - Due: the most negative balance first, ties in
    the customers file's order, with the columns a call needs (phone and email too)."""
    folder = _owing_exports(tmp_path / "exports")
    out = tmp_path / "lists.xlsx"
    # X-1 is Disabled from 2024-07-31: its May charge (due 2024-05-31) plus two months.
    result = invoke("reconcile", "--data", str(folder), "--as-of", AS_OF, "-q", "-o", str(out))
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    owing = [name for name in book.sheetnames if name.startswith("Owing")]
    assert owing == ["Owing - Warning", "Owing - Disabled", "Owing - Due"]
    due = book["Owing - Due"]
    assert _header(due)[:6] == ["Customer", "Name", "Phone", "Email", "Account status", "Balance"]
    assert {"Past due", "Days in arrears", "Oldest unpaid"} <= set(_header(due))
    assert _column(due, "Customer") == ["D-2", "D-1", "D-3"]  # 9.00, then 4.00 and 4.00
    assert _column(due, "Balance") == [-9, -4, -4]
    assert _column(due, "Phone") == ["555-0001", "555-0000", "555-0002"]
    assert _column(book["Owing - Warning"], "Customer") == ["W-2", "W-1"]
    disabled = book["Owing - Disabled"]
    assert _column(disabled, "Customer") == ["X-1"]
    assert _column(disabled, "Balance") == [-1_500_000]
    assert set(_column(disabled, "Account status")) == {"Disabled"}


def test_contact_columns_in_the_workbook_without_carry_and_not_in_the_csv(invoke, tmp_path) -> None:
    """The customers file's phone and email ride in the workbook's lists; the CSV keeps the
    contract unless --carry asks."""
    book_path, csv_path = tmp_path / "lists.xlsx", tmp_path / "lists.csv"
    assert invoke(*SAMPLE_ARGS, "-o", str(book_path)).exit_code == 0
    assert invoke(*SAMPLE_ARGS, "-o", str(csv_path)).exit_code == 0
    sheet = openpyxl.load_workbook(book_path)["Delinquent Customer"]
    assert _header(sheet)[-2:] == ["Phone", "Email"]
    assert _column(sheet, "Phone") == ["555-0105"]
    assert "phone" not in pl.read_csv(csv_path).columns
    assert "email" not in pl.read_csv(csv_path).columns


def test_headers_are_words_in_the_workbook_and_the_contracts_names_in_the_csv(
    invoke, tmp_path
) -> None:
    """`Days in arrears`, `Last visit` in the workbook; `days_in_arrears` in the CSV."""
    book_path, csv_path = tmp_path / "lists.xlsx", tmp_path / "lists.csv"
    assert invoke(*SAMPLE_ARGS, "-o", str(book_path)).exit_code == 0
    assert invoke(*SAMPLE_ARGS, "-o", str(csv_path)).exit_code == 0
    book = openpyxl.load_workbook(book_path)
    assert _header(book["Active Customer"])[: len(WORDS)] == WORDS
    assert pl.read_csv(csv_path).columns[: len(SPEC_COLUMNS)] == SPEC_COLUMNS
    summary = _header(book["Summary"])
    assert summary[:2] == ["Follow-up list", "People"]
    assert "Rejected rows" in summary


def _shown(cell) -> str:
    """A cell's value as the workbook's number formats show it."""
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if "#,##0.00" in cell.number_format:
        return f"{value:,.2f}"
    return str(value)


def test_summary_widths_fit_every_table_with_seven_digit_sums(invoke, tmp_path) -> None:
    """1,500,127.00 owed: every Summary cell's text fits its column (Run, Accounts and Files
    share columns D to H), and so does each header (`Rejected rows`)."""
    folder = _owing_exports(tmp_path / "exports")
    out = tmp_path / "lists.xlsx"
    assert (
        invoke("reconcile", "--data", str(folder), "--as-of", AS_OF, "-q", "-o", str(out)).exit_code
        == 0
    )
    summary = openpyxl.load_workbook(out)["Summary"]
    shown = {_shown(cell) for row in summary.iter_rows() for cell in row}
    assert "1,500,127.00" in shown  # the total owed, 7 digits
    for row in summary.iter_rows():
        for cell in row:
            text = _shown(cell)
            if not text:
                continue
            width = summary.column_dimensions[cell.column_letter].width
            # Excel's width is in characters of the default font's digits; one to spare.
            assert len(text) + 1 <= width, (cell.coordinate, text, width)


def test_the_chart_reads_plain_cell_ranges_with_cached_values(invoke, tmp_path) -> None:
    """No table references: the categories are the list names as text, the values the
    people, both cached in the chart."""
    out = tmp_path / "lists.xlsx"
    assert invoke(*SAMPLE_ARGS, "-o", str(out)).exit_code == 0
    chart = zipfile.ZipFile(out).read("xl/charts/chart1.xml").decode()
    assert "[" not in "".join(re.findall(r"<c:f>(.*?)</c:f>", chart))
    categories = re.search(r"<c:cat>(.*?)</c:cat>", chart)
    assert categories is not None and "<c:strRef>" in categories.group(1)
    names = re.findall(r"<c:v>(.*?)</c:v>", categories.group(1))
    assert names[:2] == ["Collections Customer", "Delinquent Customer"] and len(names) == 15
    values = re.search(r"<c:val>(.*?)</c:val>", chart)
    assert values is not None
    people = [int(v) for v in re.findall(r"<c:v>(.*?)</c:v>", values.group(1))]
    assert sum(people) == 18 and len(people) == 15


def test_every_sheet_prints_landscape_one_page_wide_with_the_header_row(invoke, tmp_path) -> None:
    """Landscape, fit to one page wide (any number of pages long), row 1 on every page, and
    the sheet's name and the as-of date in the page header."""
    out = tmp_path / "lists.xlsx"
    assert invoke(*SAMPLE_ARGS, "-o", str(out)).exit_code == 0
    book = openpyxl.load_workbook(out)
    assert len(book.sheetnames) > 15
    for sheet in book.worksheets:
        assert sheet.page_setup.orientation == "landscape", sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert sheet.page_setup.fitToWidth in (None, 1), sheet.title  # 1 when left out
        assert sheet.page_setup.fitToHeight == 0, sheet.title
        assert sheet.print_title_rows == "$1:$1", sheet.title
        assert sheet.title in sheet.oddHeader.left.text, sheet.title
        assert AS_OF in sheet.oddHeader.right.text, sheet.title


def test_a_list_named_like_a_call_list_keeps_both_sheets() -> None:
    """A rules file's list called `Owing - Due` and the Due call list: two sheets."""
    from followup_cli.outputs import workbook

    lists = pl.DataFrame(
        {
            "customer_id": ["C-1"],
            "follow_up_status": ["Owing - Due"],
            "account_status": ["Due"],
            "balance": [-4],
        },
        schema_overrides={"balance": pl.Decimal(18, 2)},
    )
    sink = io.BytesIO()
    sheets = workbook.Sheets(dt.date(2024, 7, 31), order=("Owing - Due",))
    workbook.write_workbook(sink, lists, sheets)
    book = openpyxl.load_workbook(io.BytesIO(sink.getvalue()))
    assert book.sheetnames == ["Owing - Due", "Owing - Due (2)"]
    assert _column(book["Owing - Due (2)"], "Balance") == [-4]
