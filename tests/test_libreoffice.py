"""The workbook opened in a real spreadsheet program (issue 22 item 7): LibreOffice Calc in
headless mode converts a workbook with every sheet this tree makes (Summary, the lists, the
money call lists, Changes, Rejected rows, Trends) to PDF and to CSV, and the test reads back what it
drew: the values, a chart with bars and list names, money that fits its column, and a
200-person list printed one page wide with its header row on every page.

`.ci/run` installs LibreOffice (Debian's libreoffice-calc-nogui) and poppler-utils first; on a
machine without them every test here is skipped, saying so.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from followup_cli.outputs.workbook_chart import BAR_COLOUR
from tests.conftest import SAMPLE
from tests.libreoffice import convert

NEEDED = ("soffice", "pdftoppm", "pdftotext", "pdfinfo")
MISSING = [tool for tool in NEEDED if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"LibreOffice (soffice) not installed: {', '.join(MISSING)} missing; "
    f"apt-get install libreoffice-calc-nogui poppler-utils (.ci/run does)",
)

AS_OF = "2024-07-31"
LEADS = 200  # Web Lead gets 200 more people: the printed list's size
ROWS_PER_PAGE = 40  # a landscape page, one page wide, holds at least this many list rows


def _exports(folder: Path) -> Path:
    """The sample, plus X-1 owing 1,500,000.00 (Disabled), 200 web leads and a bad payment."""
    shutil.copytree(SAMPLE, folder)
    with (folder / "customers.csv").open("a") as customers:
        customers.write("X-1,Big Owner,web,2024-01-01,555-9999,big@example.com\n")
        for number in range(LEADS):
            customers.write(f"L-{number:03d},Lead {number},web,2024-07-01,555-{number:04d},\n")
    with (folder / "agreements.csv").open("a") as agreements:
        agreements.write("A-X1,X-1,2024-05-01,,,active,,500000.00,\n")
    with (folder / "payments.csv").open("a") as payments:
        payments.write("P-BAD,C-1,2024-07-01,-4.00,recurring\n")
    return folder


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The workbook of every sheet (Trends too), its PDF and a folder of one CSV per sheet."""
    from typer.testing import CliRunner

    from followup_cli.cli.main import app

    tmp_path = tmp_path_factory.mktemp("libreoffice")
    folder = _exports(tmp_path / "exports")
    previous, book = tmp_path / "june.csv", tmp_path / "lists.xlsx"
    runner = CliRunner()
    # With a history, tonight's workbook has Changes (since June) and Trends (two nights).
    common = ["reconcile", "--data", str(folder), "-q", "--history", str(tmp_path / "runs")]
    done = runner.invoke(app, [*common, "--as-of", "2024-06-30", "-o", str(previous)])
    assert done.exit_code == 1, done.output  # the bad payment is set aside
    done = runner.invoke(app, [*common, "--as-of", AS_OF, "-o", str(book)])
    assert done.exit_code == 1, done.output
    convert(book, "pdf", tmp_path, tmp_path)
    every_sheet = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
    convert(book, every_sheet, tmp_path / "csv", tmp_path)
    return {"book": book, "pdf": tmp_path / "lists.pdf", "csv": tmp_path / "csv"}


def _pages(pdf: Path) -> list[tuple[str, str]]:
    """Each printed page as (the sheet named in its page header, its text)."""
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = []
    for page in text.split("\f"):
        lines = [line for line in page.splitlines() if line.strip()]
        if lines:
            title = lines[0].split("  ")[0].strip()
            pages.append((title, page))
    return pages


def _sheet_csv(converted: dict[str, Path], sheet: str) -> pl.DataFrame:
    return pl.read_csv(
        converted["csv"] / f"lists-{sheet}.csv", infer_schema=False, truncate_ragged_lines=True
    )


def test_libreoffice_reads_every_sheet_and_its_values(converted: dict[str, Path]) -> None:
    """Every sheet prints under its own name, and the values LibreOffice reads back are the
    run's: the biggest debt first on its call list, ids as written, dates as dates."""
    printed = {title for title, _ in _pages(converted["pdf"])}
    expected = {"Summary", "Web Lead", "Delinquent Customer", "Changes", "Rejected rows"}
    expected |= {"Owing - Warning", "Owing - Disabled", "Owing - Due", "Trends"}
    assert expected <= printed
    disabled = _sheet_csv(converted, "Owing - Disabled")
    assert disabled.columns[:4] == ["Customer", "Name", "Phone", "Email"]
    first = disabled.row(0, named=True)
    assert (first["Customer"], first["Balance"]) == ("X-1", "-1500000")
    assert first["Oldest unpaid"] == "2024-05-31"
    leads = _sheet_csv(converted, "Web Lead")
    assert leads.height == LEADS + 1
    assert leads.get_column("Phone").to_list()[-1] == "555-0199"
    rejected = _sheet_csv(converted, "Rejected rows")
    assert "payments.csv" in rejected.get_column("File").to_list()


def test_the_summary_chart_has_bars_and_list_names(converted: dict[str, Path], tmp_path) -> None:
    """The Summary's bar chart, as LibreOffice draws it: bars in the series' colour, and each
    list's name twice on the page (its row in the table and its bar's label)."""
    number = 1  # the Summary is the first sheet, so the first page
    summary = _pages(converted["pdf"])[0][1]
    assert summary.count("Trial No Show") == 2, summary
    assert summary.count("Renewal Opportunity") == 2
    image = tmp_path / "summary"
    subprocess.run(
        [
            *("pdftoppm", "-r", "60", "-f", str(number), "-l", str(number)),
            *(str(converted["pdf"]), str(image)),
        ],
        check=True,
    )
    (ppm,) = tmp_path.glob("summary*.ppm")
    bars = _pixels_near(ppm.read_bytes(), BAR_COLOUR)
    assert bars > 500, bars


def _pixels_near(ppm: bytes, colour: str) -> int:
    """How many pixels of a binary PPM (P6) are within a few levels of `colour` (#RRGGBB)."""
    header = re.match(rb"P6\s+\d+\s+\d+\s+255\s", ppm)
    assert header is not None
    pixels = ppm[header.end() :]
    want = bytes.fromhex(colour.lstrip("#"))
    return sum(
        1
        for i in range(0, len(pixels) - 2, 3)
        if all(abs(pixels[i + k] - want[k]) <= 8 for k in range(3))
    )


def test_seven_digit_money_fits_its_column_when_printed(converted: dict[str, Path]) -> None:
    """1,500,106.00 owed (1,500,090.00 of it Disabled) prints as digits on the Summary, not as
    ###."""
    summary = _pages(converted["pdf"])[0][1]  # the first sheet's first page
    assert "1,500,106.00" in summary
    assert "1,500,090.00" in summary  # Disabled: C-6's 90.00 and X-1's
    assert "###" not in summary


def test_a_200_person_list_prints_one_page_wide_with_its_header_on_every_page(
    converted: dict[str, Path],
) -> None:
    """Web Lead (201 people): every page has the header row's first and last columns, so the
    list is one page wide, and the pages are few."""
    pages = [text for title, text in _pages(converted["pdf"]) if title == "Web Lead"]
    assert 1 <= len(pages) <= math.ceil((LEADS + 1) / ROWS_PER_PAGE), len(pages)
    for text in pages:
        assert "Customer" in text and "Email" in text, text[:300]
    assert sum(text.count("L-1") for text in pages) == 100  # L-100 to L-199: every row printed


def test_the_trends_sheet_prints_its_nights_in_its_charts(converted: dict[str, Path]) -> None:
    """Trends: each night in the table and on both charts' axes, as LibreOffice draws them."""
    (trends,) = [text for title, text in _pages(converted["pdf"]) if title == "Trends"]
    assert trends.count("2024-06-30") >= 3, trends
    assert trends.count(AS_OF) >= 3
