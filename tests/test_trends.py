"""Trends (issue 22, SPEC 9): the workbook's Trends sheet with --history, `followup trends`, and
`changes` / `history` written as workbooks."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from followup_cli.core.account_status import DISABLED, DUE, WARNING
from tests.conftest import SAMPLE
from tests.libreoffice import convert

NIGHTS = ("2024-07-29", "2024-07-30", "2024-07-31")
OWING = (DUE, WARNING, DISABLED)
Invoke = Callable[..., Any]


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def runs(tmp_path: Path, invoke: Invoke) -> Path:
    """Three nights of the sample reconciled with --history, the last written as a workbook."""
    history = tmp_path / "runs"
    for night in NIGHTS:
        name = "lists.xlsx" if night == NIGHTS[-1] else f"lists-{night}.csv"
        _ok(
            invoke(
                "reconcile", "--data", str(SAMPLE), "--as-of", night,
                "--history", str(history), "-o", str(tmp_path / name), "-q",
            )
        )  # fmt: skip
    return history


def _report_figures(history: Path, night: str) -> tuple[Any, ...]:
    """A night's people per list and money owed per owing status, as its run report says."""
    report = json.loads((history / f"as_of={night}" / "report.json").read_text())
    people = report["people"]["by_follow_up_status"]
    owed = report["accounts"]["by_account_status"]
    return (night, people, tuple(Decimal(owed[status]["owed"]) for status in OWING))


def _sheet_figures(path: Path, sheet: str = "Trends") -> tuple[list[str], list[tuple[Any, ...]]]:
    book = openpyxl.load_workbook(path)
    rows = [row for row in book[sheet].iter_rows(values_only=True) if row[0] is not None]
    header = [str(cell) for cell in rows[0]]
    lists = header[1:-3]
    figures = [
        (
            row[0],
            dict(zip(lists, row[1:-3], strict=True)),
            tuple(Decimal(f"{value:.2f}") for value in row[-3:]),
        )
        for row in rows[1:]
    ]
    return header, figures


def test_the_workbook_trends_sheet_has_every_night_as_its_report_says(
    tmp_path: Path, runs: Path
) -> None:
    header, figures = _sheet_figures(tmp_path / "lists.xlsx")
    assert header[0] == "Night"
    assert header[-3:] == [f"Owed ({status})" for status in OWING]
    expected = [_report_figures(runs, night) for night in NIGHTS]
    # Every list the reports name is a column, in the newest report's order.
    assert header[1:-3] == list(expected[-1][1])
    assert figures == expected
    # The nights differ (a lead arrives, a debt appears), so a row is not another's copy.
    assert figures[0] != figures[1] != figures[2]


def test_a_rerun_of_a_night_replaces_its_row(tmp_path: Path, runs: Path, invoke: Invoke) -> None:
    again = tmp_path / "again.xlsx"
    _ok(
        invoke(
            "reconcile", "--data", str(SAMPLE), "--as-of", NIGHTS[-1],
            "--history", str(runs), "-o", str(again), "-q",
        )
    )  # fmt: skip
    _header, figures = _sheet_figures(again)
    assert [night for night, *_ in figures] == list(NIGHTS)
    assert figures == [_report_figures(runs, night) for night in NIGHTS]
    # Without --history, no Trends sheet.
    alone = tmp_path / "alone.xlsx"
    _ok(invoke("reconcile", "--data", str(SAMPLE), "--as-of", NIGHTS[0], "-o", str(alone), "-q"))
    assert "Trends" not in openpyxl.load_workbook(alone).sheetnames


def test_followup_trends_writes_the_sheet_alone_with_a_chart_of_plain_ranges(
    tmp_path: Path, runs: Path, invoke: Invoke
) -> None:
    out = tmp_path / "trends.xlsx"
    _ok(invoke("trends", "--history", str(runs), "-o", str(out)))
    assert openpyxl.load_workbook(out).sheetnames == ["Trends"]
    _header, figures = _sheet_figures(out)
    assert figures == [_report_figures(runs, night) for night in NIGHTS]
    with zipfile.ZipFile(out) as book:
        charts = sorted(n for n in book.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        assert charts == ["xl/charts/chart1.xml", "xl/charts/chart2.xml"]
        for name in charts:
            xml = book.read(name).decode()
            references = re.findall(r"<c:f>(.*?)</c:f>", xml)
            assert references
            # Plain cell ranges on the sheet, never a table's structured reference.
            for reference in references:
                assert re.fullmatch(r"Trends!\$[A-Z]+\$\d+(:\$[A-Z]+\$\d+)?", reference)
            # Categories are the nights as text, cached; values cached, three nights each.
            categories = re.findall(r"<c:cat>(.*?)</c:cat>", xml)
            assert categories
            for category in categories:
                assert "<c:strCache>" in category and "<c:numRef>" not in category
                assert re.findall(r"<c:v>(.*?)</c:v>", category) == list(NIGHTS)
            values = re.findall(r"<c:val>(.*?)</c:val>", xml)
            assert len(values) == len(categories)
            for value in values:
                assert (
                    '<c:numCache><c:formatCode>General</c:formatCode><c:ptCount val="3"/>' in value
                )
        # The money chart's series hold each status's owed column, night by night, cached.
        money = book.read("xl/charts/chart2.xml").decode()
    series = money.split("<c:ser>")[1:]
    assert len(series) == len(OWING)
    for index, one in enumerate(series):
        cached = re.findall(r"<c:v>([\d.]+)</c:v>", one.split("<c:val>")[1])
        assert [Decimal(v) for v in cached] == [owed[index] for _n, _p, owed in figures]


def test_followup_trends_as_csv_and_from_snapshots_without_reports(
    tmp_path: Path, runs: Path, invoke: Invoke
) -> None:
    from_reports = _ok(invoke("trends", "--history", str(runs))).stdout
    table = pl.read_csv(from_reports.encode(), infer_schema=False)
    assert table.get_column("as_of").to_list() == list(NIGHTS)
    # A night whose report is gone (or unreadable) is counted from its snapshot: same figures.
    (runs / f"as_of={NIGHTS[0]}" / "report.json").unlink()
    (runs / f"as_of={NIGHTS[1]}" / "report.json").write_text("{not json")
    assert _ok(invoke("trends", "--history", str(runs))).stdout == from_reports


@pytest.mark.parametrize("name", ["Owed (Due)", "as_of", "Night", "AS_OF", "owed (due)"])
def test_a_report_naming_a_list_as_a_trends_column_is_not_trusted(
    tmp_path: Path, runs: Path, invoke: Invoke, name: str
) -> None:
    """A stored report (edited, or another tool's) whose people name a list `as_of` or
    `Owed (Due)` was an internal error (exit 3), or worse, its people summed into the money
    owed. No run names a list so (the rules refuse it): the night is counted from its
    snapshot instead, with the same figures as its own report gives."""
    from_reports = _ok(invoke("trends", "--history", str(runs))).stdout
    report = runs / f"as_of={NIGHTS[1]}" / "report.json"
    document = json.loads(report.read_text())
    people = document["people"]["by_follow_up_status"]
    first = next(iter(people))
    people[name] = people.pop(first)
    report.write_text(json.dumps(document))
    assert _ok(invoke("trends", "--history", str(runs))).stdout == from_reports


def test_a_snapshot_with_a_list_named_as_a_trends_column_leaves_the_sheet_out(
    tmp_path: Path, runs: Path, invoke: Invoke
) -> None:
    """The same name in a snapshot without a report: `followup trends` says which night
    (exit 3, no traceback), and a run's workbook is written without its Trends sheet, said as
    a warning, as for any night that cannot be read."""
    night = runs / f"as_of={NIGHTS[0]}"
    (night / "report.json").unlink()
    rows = pl.read_parquet(night / "followup.parquet")
    first = rows.get_column("follow_up_status")[0]
    renamed = pl.when(pl.col("follow_up_status") == first).then(pl.lit("Owed (Due)"))
    rows = rows.with_columns(
        renamed.otherwise(pl.col("follow_up_status")).alias("follow_up_status")
    )
    rows.write_parquet(night / "followup.parquet")
    result = invoke("trends", "--history", str(runs))
    assert result.exit_code == 3, result.output
    assert f"the snapshot of {NIGHTS[0]} has a list named 'Owed (Due)'" in result.output
    assert "Traceback" not in result.output
    book = tmp_path / "tonight.xlsx"
    tonight = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-08-01", "--history", str(runs),
        "-o", str(book),
    )  # fmt: skip
    assert tonight.exit_code == 0, tonight.output
    assert "written without its Trends sheet" in tonight.output
    assert "Trends" not in openpyxl.load_workbook(book).sheetnames


def test_a_list_renamed_only_in_case_is_one_trends_column(
    tmp_path: Path, runs: Path, invoke: Invoke
) -> None:
    """A gym that fixes a list's case in its rules file ("ACTIVE CUSTOMER" tonight): the
    Trends table got two headers equal but for case, which a workbook's table refuses, and
    xlsxwriter wrote the sheet empty (with a UserWarning on standard error). The list is one
    column, spelt as the newest night spells it, counting every night."""
    made = _ok(invoke("rules", "init")).stdout
    assert 'status = "Active Customer"\n' in made
    rules = tmp_path / "upper.toml"
    rules.write_text(made.replace('status = "Active Customer"\n', 'status = "ACTIVE CUSTOMER"\n'))
    book = tmp_path / "tonight.xlsx"
    tonight = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-08-01", "--history", str(runs),
        "--rules", str(rules), "-o", str(book),
    )  # fmt: skip
    assert tonight.exit_code == 0, tonight.output
    assert "Duplicate header" not in tonight.output
    header, figures = _sheet_figures(book)
    assert "ACTIVE CUSTOMER" in header and "Active Customer" not in header
    before = [_report_figures(runs, night)[1].get("Active Customer", 0) for night in NIGHTS]
    counted = [people["ACTIVE CUSTOMER"] for _night, people, _owed in figures]
    assert counted[:3] == before and all(count > 0 for count in counted)


def test_followup_trends_refusals(tmp_path: Path, runs: Path, invoke: Invoke) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("trends", "--history", str(empty))
    assert result.exit_code == 2
    assert "no snapshots there" in result.output
    result = invoke("trends", "--history", str(runs), "-o", str(tmp_path / "t.txt"))
    assert result.exit_code == 2


def _table_sheet(path: Path, sheet: str) -> tuple[Any, list[tuple[Any, ...]]]:
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [sheet]
    page = book[sheet]
    assert page.freeze_panes == "A2"
    assert len(page.tables) == 1  # a table: the header's filter buttons
    return page, [
        row for row in page.iter_rows(values_only=True) if any(c is not None for c in row)
    ]


def test_changes_writes_a_workbook(tmp_path: Path, runs: Path, invoke: Invoke) -> None:
    out = tmp_path / "moved.xlsx"
    _ok(invoke("changes", "--history", str(runs), "-o", str(out), "-q"))
    csv = pl.read_csv(_ok(invoke("changes", "--history", str(runs), "-q")).stdout.encode())
    page, rows = _table_sheet(out, "Changes")
    assert csv.height > 0
    assert len(rows) == csv.height + 1
    for row, expected in zip(rows[1:], csv.iter_rows(named=True), strict=True):
        assert row[0] == expected["customer_id"]
        assert row[2] == dt.datetime.fromisoformat(expected["previous_as_of"])  # a date
        assert row[3] == dt.datetime.fromisoformat(expected["as_of"])
        assert Decimal(f"{row[9]:.2f}") == Decimal(str(expected["balance"]))  # a number
    assert page.cell(2, 3).number_format == "yyyy-mm-dd"


def test_history_writes_a_workbook(tmp_path: Path, runs: Path, invoke: Invoke) -> None:
    out = tmp_path / "c5.xlsx"
    _ok(invoke("history", "C-5", "--history", str(runs), "-o", str(out)))
    csv = pl.read_csv(_ok(invoke("history", "C-5", "--history", str(runs))).stdout.encode())
    page, rows = _table_sheet(out, "Status history")
    assert len(rows) == csv.height + 1 >= 2
    for row, expected in zip(rows[1:], csv.iter_rows(named=True), strict=True):
        assert row[0] == dt.datetime.fromisoformat(expected["from"])
        assert row[1] == dt.datetime.fromisoformat(expected["to"])
        assert row[2:] == (
            expected["follow_up_status"], expected["account_status"], expected["reason"]
        )  # fmt: skip
    assert page.cell(2, 1).number_format == "yyyy-mm-dd"


SOFFICE = shutil.which("soffice")


@pytest.mark.skipif(
    SOFFICE is None or shutil.which("pdftotext") is None,
    reason="LibreOffice (soffice) and poppler's pdftotext are not installed: "
    "apt-get install libreoffice-calc-nogui poppler-utils",
)
def test_libreoffice_draws_the_trends_charts(tmp_path: Path, runs: Path, invoke: Invoke) -> None:
    out = tmp_path / "trends.xlsx"
    _ok(invoke("trends", "--history", str(runs), "-o", str(out)))
    convert(out, "pdf", tmp_path, tmp_path)
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "trends.pdf"), "-"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    # Drawn charts: their titles, a legend naming the series (besides the table's header) and
    # the nights along the axis (besides the table's column).
    assert "People per follow-up list, night by night" in text
    assert "Money owed per account status, night by night" in text
    assert text.count("Owed (Disabled)") >= 2
    assert text.count("Active Customer - Suspended") >= 2
    for night in NIGHTS:
        assert text.count(night) >= 3  # the table's row and both charts' axes


def test_a_list_named_as_a_formula_is_guarded_in_the_trends_header(
    tmp_path: Path, invoke: Invoke
) -> None:
    """The trends CSV's header carries the lists' names, and was written raw: a list named
    `=1+1` became a live formula in the manager's sheet (its values in every other CSV are
    guarded). It is guarded now, and `--raw-text` writes it as it is."""
    made = _ok(invoke("rules", "init")).stdout
    rules = tmp_path / "formula.toml"
    rules.write_text(made.replace('status = "Active Customer"\n', 'status = "=1+1"\n'))
    history = tmp_path / "runs"
    for night in NIGHTS[:2]:
        out = str(tmp_path / f"{night}.csv")
        _ok(invoke("reconcile", "--data", str(SAMPLE), "--as-of", night, "--rules", str(rules),
                   "--history", str(history), "-o", out, "-q"))  # fmt: skip
    header = _ok(invoke("trends", "--history", str(history))).stdout.splitlines()[0]
    assert "'=1+1" in header.split(",")
    raw = _ok(invoke("trends", "--history", str(history), "--raw-text")).stdout
    assert "=1+1" in raw.splitlines()[0].split(",")
