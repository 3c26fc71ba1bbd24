"""Values a workbook showed wrongly without a word (issue 18's class: a silent wrong value).

An Excel number is a double shown with 15 significant digits and an Excel date a day number
from 1900-01-01. Before this, a carried UInt64 18446744073709551615 became
1.8446744073709552e19 (a long card or member number damaged), a Decimal(38,10) lost its last
digits, a Decimal of ten places showed two, a date before 1900 became a negative day (Excel's
#####, openpyxl's wrong day), and one in January or February 1900 was a day off in
LibreOffice (which has no 29 February 1900) or, as a timestamp on 1900-01-01, day 0. Now such
a column is text, every digit kept, and the rest stays numbers and dates. The exports are the
sample's, customers as Parquet with extra columns carried into `-o lists.xlsx`; LibreOffice
(when installed) reads the digits back too.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from followup_cli.outputs.workbook import Sheets, write_workbook
from tests.conftest import SAMPLE
from tests.libreoffice import convert

DAY = "2024-07-31"
CARD = 4_111_111_111_111_111  # 16 digits, below 2**53: Excel shows 4111111111111110
LONG_DECIMAL = Decimal("1234567890123456789.0123456789")
# Each carried column: its values (the first is C-1's, the rest repeated) and its Polars type.
COLUMNS: dict[str, tuple[list[Any], pl.DataType]] = {
    "u64": ([2**64 - 1, 7], pl.UInt64()),
    "card": ([CARD, 4_000_000_000_000_002], pl.Int64()),
    "beyond_2_53": ([2**53 + 1, -(2**63)], pl.Int64()),
    "i128": ([2**100, 1], pl.Int128()),
    "small": ([123_456_789_012_345, -5], pl.Int64()),  # 15 digits: stays a number
    "ratio": ([LONG_DECIMAL, Decimal("-1.5")], pl.Decimal(38, 10)),
    "rate": ([Decimal("0.1234567891"), Decimal("2")], pl.Decimal(38, 10)),
    "fee": ([Decimal("12.34"), Decimal("-0.01")], pl.Decimal(18, 2)),
    "born": ([dt.date(1850, 5, 6), dt.date(1990, 1, 2)], pl.Date()),
    "seen": (
        [dt.datetime(1899, 12, 31, 10, 0, 0, 450_000), dt.datetime(2001, 2, 3, 4, 5, 6)],
        pl.Datetime("us"),
    ),
    "winter_1900": ([dt.date(1900, 1, 1), dt.date(1900, 2, 28)], pl.Date()),
    "stamped_1900": ([dt.datetime(1900, 1, 1, 9), dt.datetime(1900, 2, 28, 12)], pl.Datetime("us")),
    "joined": ([dt.date(1900, 3, 1), dt.date(2024, 1, 1)], pl.Date()),
}  # fmt: skip
HEADER = {name: name[:1].upper() + name[1:].replace("_", " ") for name in COLUMNS}


def _exports(folder: Path) -> Path:
    shutil.copytree(SAMPLE, folder)
    (folder / "customers.csv").unlink()
    customers = pl.read_csv(SAMPLE / "customers.csv", infer_schema=False)
    rows = customers.height
    customers = customers.with_columns(
        pl.col("created_on").str.to_date(),
        *(
            pl.Series(name, values + [values[-1]] * (rows - 2), dtype=dtype)
            for name, (values, dtype) in COLUMNS.items()
        ),
    )
    customers.write_parquet(folder / "customers.parquet")
    # A payment validation accepts (from 1900-01-01) in the first two months of 1900.
    with (folder / "payments.csv").open("a") as payments:
        payments.write("P-1900,C-12,1900-01-15,1.00,one-off\n")
    return folder


@pytest.fixture
def book(invoke: Any, tmp_path: Path) -> Path:
    out = tmp_path / "lists.xlsx"
    carried = ",".join(COLUMNS)
    result = invoke(
        "reconcile", "--data", str(_exports(tmp_path / "d")), "--as-of", DAY,
        "--carry", carried, "-o", str(out), "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _cells(book: Path, customer: str) -> dict[str, Any]:
    """The customer's row on its list sheet: header -> openpyxl cell."""
    for sheet in openpyxl.load_workbook(book).worksheets[1:]:
        rows = list(sheet.iter_rows())
        for row in rows[1:]:
            if row[0].value == customer:
                return {str(head.value): cell for head, cell in zip(rows[0], row, strict=True)}
    raise AssertionError(f"{customer} is on no sheet")


def test_integers_beyond_15_digits_are_text_with_every_digit(book: Path) -> None:
    first, second = _cells(book, "C-1"), _cells(book, "C-2")
    for name, expected in [
        ("u64", "18446744073709551615"),
        ("card", "4111111111111111"),
        ("beyond_2_53", "9007199254740993"),
        ("i128", "1267650600228229401496703205376"),
    ]:
        cell = first[HEADER[name]]
        assert (cell.value, cell.data_type) == (expected, "s"), name
        assert (cell.number_format, cell.alignment.horizontal) == ("@", "right"), name
    # The whole column is text, its small values too, so it sorts and filters one way.
    assert second[HEADER["u64"]].value == "7"
    assert second[HEADER["beyond_2_53"]].value == "-9223372036854775808"
    # 15 digits fit a double and Excel's display: a number still.
    assert first[HEADER["small"]].value == 123_456_789_012_345
    assert second[HEADER["small"]].value == -5


def test_decimals_beyond_15_digits_are_text_and_the_others_show_their_places(book: Path) -> None:
    first, second = _cells(book, "C-1"), _cells(book, "C-2")
    ratio = first[HEADER["ratio"]]
    assert (ratio.value, ratio.data_type, ratio.number_format) == (str(LONG_DECIMAL), "s", "@")
    assert second[HEADER["ratio"]].value == "-1.5000000000"
    # Ten places used: shown with ten, not two (0.12); a number still.
    rate = first[HEADER["rate"]]
    assert rate.value == pytest.approx(0.1234567891, abs=0)
    assert rate.number_format == "#,##0.0000000000;[Red]-#,##0.0000000000"
    # Money stays money: the carried two-place column and the contract's balance.
    fee = first[HEADER["fee"]]
    assert (fee.value, fee.number_format) == (12.34, "#,##0.00;[Red]-#,##0.00")
    assert first["Balance"].data_type == "n"


def test_dates_before_march_1900_are_iso_text_and_later_ones_stay_dates(book: Path) -> None:
    first, second = _cells(book, "C-1"), _cells(book, "C-2")
    born, seen = first[HEADER["born"]], first[HEADER["seen"]]
    assert (born.value, born.data_type, born.alignment.horizontal) == ("1850-05-06", "s", "right")
    assert (seen.value, seen.data_type) == ("1899-12-31 10:00:00.450", "s")
    assert second[HEADER["born"]].value == "1990-01-02"
    assert second[HEADER["seen"]].value == "2001-02-03 04:05:06"
    # January and February 1900: not the same day in every program.
    assert first[HEADER["winter_1900"]].value == "1900-01-01"
    assert second[HEADER["winter_1900"]].value == "1900-02-28"
    assert first[HEADER["stamped_1900"]].value == "1900-01-01 09:00:00"
    assert second[HEADER["stamped_1900"]].value == "1900-02-28 12:00:00"
    # From 1900-03-01 on a date is a date, as are the contract's own here.
    assert first[HEADER["joined"]].value == dt.datetime(1900, 3, 1)
    assert second[HEADER["joined"]].value == dt.datetime(2024, 1, 1)
    assert isinstance(_cells(book, "C-6")["Oldest unpaid"].value, dt.datetime)
    # The contract's last_paid_on with a payment of 1900-01-15: that column is text in that
    # person's sheet; decided per table, it stays dates on the other sheets.
    assert _cells(book, "C-12")["Last payment"].value == "1900-01-15"
    assert _cells(book, "C-1")["Last payment"].value == dt.datetime(2024, 6, 15)


def test_the_changes_and_history_sheets_keep_every_digit_and_early_date() -> None:
    """Every sheet is written one way: a Changes or history sheet holding such values too."""
    odd = pl.DataFrame(
        {
            "customer_id": ["C-1"],
            "number": pl.Series([2**64 - 1], dtype=pl.UInt64),
            "on": [dt.date(1899, 12, 31)],
        }
    )
    sink = io.BytesIO()
    lists = pl.DataFrame({"customer_id": ["C-1"], "follow_up_status": ["Lead"]})
    write_workbook(
        sink, lists, Sheets(dt.date(2024, 7, 31), changes=odd, tables=(("History", odd),))
    )
    book = openpyxl.load_workbook(io.BytesIO(sink.getvalue()))
    for name in ("Changes", "History"):
        row = next(book[name].iter_rows(min_row=2, values_only=True))
        assert row == ("C-1", "18446744073709551615", "1899-12-31"), name


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
def test_libreoffice_reads_every_digit(book: Path, tmp_path: Path) -> None:
    """What a spreadsheet program shows: LibreOffice converts the list sheet to CSV as it
    displays it."""
    sheet = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
    convert(book, sheet, tmp_path / "csv", tmp_path)
    rows: dict[str, dict[str, str]] = {}
    for path in (tmp_path / "csv").glob("lists-*.csv"):
        frame = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True)
        if "U64" in frame.columns and not path.name.startswith("lists-Owing"):
            rows |= {row["Customer"]: row for row in frame.iter_rows(named=True)}
    first = rows["C-1"]
    assert first[HEADER["u64"]] == "18446744073709551615"
    assert first[HEADER["card"]] == "4111111111111111"
    assert first[HEADER["i128"]] == "1267650600228229401496703205376"
    assert first[HEADER["ratio"]] == str(LONG_DECIMAL)
    assert first[HEADER["rate"]] == "0.1234567891"
    assert first[HEADER["born"]] == "1850-05-06"
    assert first[HEADER["winter_1900"]] == "1900-01-01"
    assert first[HEADER["joined"]] == "1900-03-01"
