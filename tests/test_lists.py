"""Lists for people (SPEC 9): the workbook, --status, --sort, --carry, safe CSV, explain, help.

The new modules are imported inside the tests that use them, so each test fails on its own
(not the whole file at collection) on a tree without them.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from tests.conftest import HEADERS, SAMPLE

SAMPLE_ARGS = ("reconcile", "--data", str(SAMPLE), "--as-of", "2024-07-31")
MONEY = "#,##0.00;[Red]-#,##0.00"

# The sample's follow-up lists as the README's walk-through gives them, in the decision
# tables' order (the customer table, its catch-all Unclassified 9th, then the prospects').
SAMPLE_LISTS = [
    ("Collections Customer", 1),
    ("Delinquent Customer", 1),
    ("Active Customer - Suspended", 1),
    ("Active Customer", 4),
    ("Renewal Opportunity", 1),
    ("Drop-In", 1),
    ("Canceled Customer", 1),
    ("Expired Customer", 1),
    ("Unclassified", 1),
    ("Trial Booked", 1),
    ("Trial Show - No Sale", 1),
    ("Trial No Show", 1),
    ("Referral", 1),
    ("Web Lead", 1),
    ("Lead", 1),
]


def _workbook(invoke, tmp_path: Path, *args: str) -> tuple[Path, openpyxl.Workbook]:
    path = tmp_path / "lists.xlsx"
    result = invoke(*SAMPLE_ARGS, "-q", "-o", str(path), *args)
    assert result.exit_code in (0, 1), result.stderr
    return path, openpyxl.load_workbook(path)


def _header(sheet) -> list[str]:
    return [cell.value for cell in next(sheet.iter_rows(min_row=1, max_row=1))]


def _column(sheet, name: str) -> list[object]:
    """A column by the contract's name; the workbook's header is its word (`Customer`)."""
    from followup_cli.outputs.workbook_sheets import readable

    word = readable(pl.DataFrame(schema=[name])).columns[0]
    index = _header(sheet).index(word)
    return [row[index] for row in sheet.iter_rows(min_row=2, values_only=True)]


def test_workbook_has_a_summary_and_one_sheet_per_list_in_table_order(invoke, tmp_path) -> None:
    """-o x.xlsx: Summary, then each non-empty list in the decision tables' order."""
    _, book = _workbook(invoke, tmp_path)
    owing = ["Owing - Warning", "Owing - Disabled", "Owing - Due"]  # the money call lists
    assert book.sheetnames == ["Summary", *(status for status, _ in SAMPLE_LISTS), *owing]
    for status, people in SAMPLE_LISTS:
        sheet = book[status]
        assert sheet.max_row - 1 == people, status
        assert set(_column(sheet, "follow_up_status")) == {status}


def test_every_sheet_has_a_frozen_header_a_filter_and_fitted_widths(invoke, tmp_path) -> None:
    """Frozen first row, an Excel table with a filter, and column widths set from the data."""
    _, book = _workbook(invoke, tmp_path)
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert sheet.tables, sheet.title
        assert all(t.autoFilter is not None for t in sheet.tables.values()), sheet.title
    active = book["Active Customer"]
    # "Active Customer - Suspended"-length texts need more than Excel's default 8.43.
    assert active.column_dimensions["E"].width > 15  # reason


def test_money_dates_and_ids_have_their_formats(invoke, tmp_path) -> None:
    """Money is a number with two decimals and red negatives, dates are dates, ids are text."""
    _, book = _workbook(invoke, tmp_path)
    sheet = book["Delinquent Customer"]
    header = _header(sheet)
    row = next(sheet.iter_rows(min_row=2, max_row=2))
    cells = dict(zip(header, row, strict=True))
    # C-5: balance -8.00, past due 4.00, oldest unpaid 2024-06-28 (README's worked table).
    assert cells["Balance"].value == -8 and cells["Balance"].number_format == MONEY
    assert cells["Past due"].value == 4 and cells["Past due"].number_format == MONEY
    assert cells["Oldest unpaid"].is_date
    assert cells["Oldest unpaid"].value.date().isoformat() == "2024-06-28"
    assert cells["Oldest unpaid"].number_format == "yyyy-mm-dd"
    assert cells["Customer"].data_type == "s"


def test_summary_sheet_has_the_figures_and_a_bar_chart(invoke, tmp_path) -> None:
    """Summary: as-of date, people per list, owed per account status, rows per file, a chart."""
    path, book = _workbook(invoke, tmp_path)
    summary = book["Summary"]
    assert [summary.cell(row=r, column=2).value for r in range(2, 17)] == [
        n for _, n in SAMPLE_LISTS
    ]
    assert summary["D2"].value.date().isoformat() == "2024-07-31"  # as_of
    tables = summary.tables
    assert set(tables) == {"Lists", "Run", "Accounts", "Files"}
    accounts = {
        summary.cell(row=r, column=4).value: summary.cell(row=r, column=6) for r in range(5, 10)
    }
    # Owed: Due 4.00 + 4.00 (C-1, C-4), Warning 8.00 (C-5), Disabled 90.00 (C-6).
    assert {k: v.value for k, v in accounts.items()} == {
        "Paid in Full": 0,
        "Due": 8,
        "Warning": 8,
        "Disabled": 90,
        "Total": 106,
    }
    assert accounts["Total"].number_format == MONEY
    assert len(summary._charts) == 1
    assert "xl/charts/chart1.xml" in zipfile.ZipFile(path).namelist()


def test_the_same_run_gives_a_byte_identical_workbook(invoke, tmp_path) -> None:
    """Two runs on the same exports and as-of date write the same bytes (no clock inside)."""
    first = tmp_path / "a.xlsx"
    second = tmp_path / "b.xlsx"
    for path in (first, second):
        assert invoke(*SAMPLE_ARGS, "-q", "-o", str(path)).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    core = zipfile.ZipFile(first).read("docProps/core.xml").decode()
    assert "2024-07-31T00:00:00Z" in core


def test_ids_that_look_like_numbers_stay_text(tmp_path, invoke, exports) -> None:
    """A customer_id 1234567 is the text '1234567' in the workbook, not the number 1,234,567."""
    folder = exports(customers=["1234567,Ann,web,2024-01-01", "0042,Bo,web,2024-01-01"])
    out = tmp_path / "ids.xlsx"
    result = invoke(
        "reconcile", "--data", str(folder), "--as-of", "2024-07-31", "-q", "-o", str(out)
    )
    assert result.exit_code == 0, result.stderr
    sheet = openpyxl.load_workbook(out)["Web Lead"]
    assert _column(sheet, "customer_id") == ["1234567", "0042"]


def test_formula_like_names_are_text_in_the_workbook(tmp_path, invoke, exports) -> None:
    """A name =HYPERLINK(...) is written as text, never as a live formula."""
    folder = exports(customers=['C-1,"=HYPERLINK(""http://x"",""click"")",web,2024-01-01'])
    out = tmp_path / "f.xlsx"
    result = invoke(
        "reconcile", "--data", str(folder), "--as-of", "2024-07-31", "-q", "-o", str(out)
    )
    assert result.exit_code == 0, result.stderr
    cell = openpyxl.load_workbook(out)["Web Lead"]["B2"]
    assert cell.data_type == "s"
    assert cell.value == '=HYPERLINK("http://x","click")'


def test_rejected_rows_sheet_only_when_rows_were_set_aside(tmp_path, invoke, exports) -> None:
    """A bad payment gives a 'Rejected rows' sheet with its file, line and reason."""
    folder = exports(
        customers=["C-1,Ann,web,2024-01-01"], payments=["P-1,C-1,2024-07-01,-4.00,recurring"]
    )
    out = tmp_path / "r.xlsx"
    result = invoke(
        "reconcile",
        "--max-rejected",
        "100%",
        "--data",
        str(folder),
        "--as-of",
        "2024-07-31",
        "-q",
        "-o",
        str(out),
    )
    assert result.exit_code == 1, result.stderr
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[-1] == "Rejected rows"
    sheet = book["Rejected rows"]
    assert _column(sheet, "file") == ["payments.csv"]
    assert _column(sheet, "line") == [2]
    assert _column(sheet, "value") == ["-4.00"]


def test_changes_sheet_when_a_changes_frame_is_given() -> None:
    """write_workbook with a changes frame adds a 'Changes' sheet after the lists."""
    import datetime as dt

    from followup_cli.outputs import workbook

    lists = pl.DataFrame(
        {"customer_id": ["C-1"], "follow_up_status": ["Lead"], "balance": [None]},
        schema={
            "customer_id": pl.String,
            "follow_up_status": pl.String,
            "balance": pl.Decimal(18, 2),
        },
    )
    changes = pl.DataFrame(
        {"customer_id": ["C-1"], "from_status": ["Web Lead"], "to_status": ["Lead"]}
    )
    sink = io.BytesIO()
    workbook.write_workbook(sink, lists, workbook.Sheets(dt.date(2024, 7, 31), changes=changes))
    book = openpyxl.load_workbook(io.BytesIO(sink.getvalue()))
    assert book.sheetnames == ["Lead", "Changes"]
    assert _column(book["Changes"], "to_status") == ["Lead"]


def test_a_list_too_long_for_a_sheet_is_refused_before_writing(
    tmp_path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More rows than a sheet holds (limit lowered to 3 here): exit 2, nothing written."""
    from followup_cli.outputs import workbook

    monkeypatch.setattr(workbook, "EXCEL_MAX_DATA_ROWS", 3)
    out = tmp_path / "big.xlsx"
    result = invoke(*SAMPLE_ARGS, "-o", str(out))
    assert result.exit_code == 2
    # Active Customer has 4 people, one more than the lowered limit.
    assert "Active Customer list has 4 rows" in result.stderr
    assert "CSV or Parquet" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "sheet"), [("Dana / Okafor: [A]*?", "Dana   Okafor   A"), ("x" * 40, "x" * 31)]
)
def test_sheet_names_drop_what_excel_refuses(name: str, sheet: str) -> None:
    """Sheet names lose []:*?/\\ and are cut to Excel's 31 characters."""
    from followup_cli.outputs import workbook

    assert workbook.sheet_name(name) == sheet


def _csv(result) -> pl.DataFrame:
    return pl.read_csv(io.StringIO(result.stdout), infer_schema=False)


def test_status_keeps_only_the_chosen_lists_any_case(invoke) -> None:
    """--status is case-insensitive and repeatable; the rows keep the customers file's order."""
    result = invoke(*SAMPLE_ARGS, "-q", "--status", "active customer", "--status", "LEAD")
    assert result.exit_code == 0, result.stderr
    rows = _csv(result)
    assert rows.get_column("customer_id").to_list() == ["C-1", "C-2", "C-3", "C-4", "C-18"]


def test_unknown_status_is_a_usage_error_listing_the_valid_ones(invoke) -> None:
    """--status Delinquent (not a full name): exit 2 naming the valid lists, nothing on stdout."""
    result = invoke(*SAMPLE_ARGS, "--status", "Delinquent")
    assert result.exit_code == 2
    assert "'Delinquent' is not a follow-up list" in result.stderr
    assert '"Delinquent Customer"' in result.stderr and '"Trial No Show"' in result.stderr
    assert result.stdout == ""


def test_sort_days_in_arrears_is_most_overdue_first_empty_last(invoke) -> None:
    """--sort days_in_arrears: 153 (C-6), 33 (C-5), 0, 0 (C-1, C-4 in file order), then empty."""
    result = invoke(*SAMPLE_ARGS, "-q", "--sort", "days_in_arrears")
    ids = _csv(result).get_column("customer_id").to_list()
    assert ids[:4] == ["C-6", "C-5", "C-1", "C-4"]
    # The rest have no ledger; the stable sort keeps them in the customers file's order.
    assert ids[4:] == ["C-2", "C-3", *(f"C-{n}" for n in range(7, 19))]


def test_sort_direction_can_be_chosen(invoke) -> None:
    """--sort balance:desc puts C-3's 4.00 credit first; plain balance puts -90.00 first."""
    ascending = _csv(invoke(*SAMPLE_ARGS, "-q", "--sort", "balance"))
    assert ascending.get_column("customer_id").to_list()[:2] == ["C-6", "C-5"]
    descending = _csv(invoke(*SAMPLE_ARGS, "-q", "--sort", "balance:desc"))
    assert descending.get_column("customer_id").to_list()[:2] == ["C-3", "C-2"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("phone_number", "no such output column; choose from customer_id"),
        ("balance:up", "asc or desc"),
    ],
)
def test_bad_sort_is_a_usage_error(invoke, spec: str, message: str) -> None:
    """An unknown column or direction: exit 2 with the choices."""
    result = invoke(*SAMPLE_ARGS, "--sort", spec)
    assert result.exit_code == 2
    assert message in result.stderr


def test_carry_adds_customers_columns_after_the_contract_ones(invoke) -> None:
    """--carry phone,email: two columns after data_issues, each row from its own line."""
    result = invoke(*SAMPLE_ARGS, "-q", "--carry", "Phone,email")
    assert result.exit_code == 0, result.stderr
    rows = _csv(result)
    assert rows.columns[-3:] == ["data_issues", "phone", "email"]
    c6 = rows.filter(pl.col("customer_id") == "C-6").row(0, named=True)
    assert (c6["phone"], c6["email"]) == ("555-0106", "dana.okafor@example.com")
    assert rows.height == 18  # C-19 (after as-of) has no row, and no line shifted


def test_carry_follows_rejected_customers_by_line(tmp_path, invoke) -> None:
    """A rejected customers row does not shift the carried values of the rows after it."""
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "customers.csv").write_text(
        "customer_id,name,origin,created_on,Phone\n"
        "C-1,Ann,web,2024-01-01, 555-0101 \n"
        "C-2,Bo,web,not a date,555-0102\n"
        "C-3,Cy,web,2024-01-01,\n"
    )
    for table in ("agreements", "payments", "events"):
        (folder / f"{table}.csv").write_text(HEADERS[table] + "\n")
    result = invoke(
        "reconcile",
        "--max-rejected",
        "100%",
        "--data",
        str(folder),
        "--as-of",
        "2024-07-31",
        "-q",
        "--carry",
        "phone",
        "--rejects",
        str(tmp_path / "r.csv"),
    )
    assert result.exit_code == 1, result.stderr
    rows = _csv(result).select("customer_id", "phone").rows()
    assert rows == [("C-1", "555-0101"), ("C-3", None)]


def test_carry_of_a_missing_column_is_a_usage_error(invoke, tmp_path) -> None:
    """--carry fax: exit 2 naming the file's columns; nothing written."""
    out = tmp_path / "o.csv"
    result = invoke(*SAMPLE_ARGS, "--carry", "fax", "-o", str(out))
    assert result.exit_code == 2
    assert "customers.csv has no such column" in result.stderr and "phone" in result.stderr
    assert not out.exists()


def test_carry_status_and_sort_together_in_the_workbook(invoke, tmp_path) -> None:
    """The README's manager command: only Delinquent, with phone and email, in the workbook."""
    _, book = _workbook(
        invoke,
        tmp_path,
        "--status",
        "Delinquent Customer",
        "--carry",
        "phone,email",
        "--sort",
        "days_in_arrears",
    )
    assert book.sheetnames == ["Summary", "Delinquent Customer", "Owing - Warning"]
    sheet = book["Delinquent Customer"]
    assert _header(sheet)[-2:] == ["Phone", "Email"]
    assert _column(sheet, "phone") == ["555-0105"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_guard_formulas_quotes_every_formula_start(start: str) -> None:
    """A text value starting with = + - @ tab or CR gets a leading '."""
    from followup_cli.outputs.safe_csv import guard_formulas

    frame = pl.DataFrame({"name": [f"{start}1+1", "Ann"]})
    assert guard_formulas(frame).get_column("name").to_list() == [f"'{start}1+1", "Ann"]


def test_guard_formulas_leaves_money_counts_and_plain_numbers_alone() -> None:
    """-4.00 as money, as a count and as plain text in a rejects value is never changed."""
    from followup_cli.outputs.safe_csv import guard_formulas

    frame = pl.DataFrame(
        {"balance": ["-4.00"], "value": ["-4.00"], "days": [-3]},
        schema={"balance": pl.Decimal(18, 2), "value": pl.String, "days": pl.Int64},
    )
    assert guard_formulas(frame).equals(frame)


def test_csv_output_and_rejects_are_safe_to_open(tmp_path, invoke, exports) -> None:
    """Names starting with = + - @ are guarded in the CSV; money -4.00 is not; so are rejects."""
    folder = exports(
        customers=[
            'C-1,"=HYPERLINK(""http://x"",""click"")",web,2024-01-01',
            "C-2,+1 Ann,web,2024-01-01",
            "C-3,-Bo,web,2024-01-01",
            "C-4,@Cy,web,2024-01-01",
            "C-5,Dee,web,2024-01-01",
        ],
        agreements=["A-1,C-5,2024-07-01,,,active,,4.00,"],
        payments=['P-1,C-5,2024-07-01,"=1+1",recurring', "P-2,C-5,2024-07-02,\t-4.00,recurring"],
    )
    out, rejects = tmp_path / "o.csv", tmp_path / "r.csv"
    result = invoke(
        "reconcile",
        "--max-rejected",
        "100%",
        "--data",
        str(folder),
        "--as-of",
        "2024-07-31",
        "-q",
        "-o",
        str(out),
        "--rejects",
        str(rejects),
    )
    assert result.exit_code == 1, result.stderr
    rows = pl.read_csv(out, infer_schema=False)
    assert rows.get_column("name").to_list() == [
        '\'=HYPERLINK("http://x","click")',
        "'+1 Ann",
        "'-Bo",
        "'@Cy",
        "Dee",
    ]
    # Dee owes July's 4.00 fee (due today, 2024-07-31): money is written as -4.00, unguarded.
    assert rows.filter(pl.col("customer_id") == "C-5").item(0, "balance") == "-4.00"
    values = pl.read_csv(rejects, infer_schema=False).get_column("value").to_list()
    assert "'=1+1" in values
    assert "'\t-4.00" in values


def test_raw_text_and_bom(tmp_path, invoke, exports) -> None:
    """--raw-text writes =1 as is; --bom starts the file (and the rejects) with EF BB BF."""
    folder = exports(
        customers=["C-1,=1,web,2024-01-01"], payments=["P-1,C-1,2024-07-01,=2,recurring"]
    )
    out, rejects = tmp_path / "o.csv", tmp_path / "r.csv"
    result = invoke(
        "reconcile",
        "--max-rejected",
        "100%",
        "--data",
        str(folder),
        "--as-of",
        "2024-07-31",
        "-q",
        "-o",
        str(out),
        "--rejects",
        str(rejects),
        "--raw-text",
        "--bom",
    )
    assert result.exit_code == 1, result.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfcustomer_id,")
    assert b"C-1,=1," in data
    assert rejects.read_bytes().startswith(b"\xef\xbb\xbffile,")
    assert b",=2," in rejects.read_bytes()
    # A BOM'd rejects file is still recognised as ours: a clean rerun removes it.
    (folder / "payments.csv").write_text("payment_id,customer_id,paid_on,amount,kind\n")
    clean = invoke(
        "reconcile",
        "--data",
        str(folder),
        "--as-of",
        "2024-07-31",
        "-o",
        str(out),
        "--rejects",
        str(rejects),
        "--bom",
    )
    assert clean.exit_code == 0, clean.stderr
    assert not rejects.exists()


def test_explain_states_the_as_of_date_and_the_account_rules(invoke) -> None:
    """explain C-5: first line names 2024-07-31; Warning decided at 33 days, Disabled from 08-28."""
    result = invoke("explain", "C-5", "--data", str(SAMPLE), "--as-of", "2024-07-31")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "as of 2024-07-31" in lines[0]
    out = result.stdout
    assert "Account status rules" in out
    # 2024-06-28 + 2 months = 2024-08-28, after the as-of date, so not Disabled.
    assert "as-of on or after 2024-06-28 + 2 months = 2024-08-28" in out
    warning = next(line for line in lines if "Warning" in line and "(33)" in line)
    assert "decided" in warning
    assert "rejected rows naming this person: none" in out


def test_explain_lists_the_persons_rejected_rows(invoke, exports) -> None:
    """A bad payment and a repeated customers row for C-1 are listed with file, line, reason."""
    folder = exports(
        customers=[
            "C-1,Ann,web,2024-01-01",
            "C-2,Bo,web,2024-01-01",
            "c-1,Ann again,web,2024-01-01",
        ],
        payments=["P-1,C-1,2024-07-01,-4.00,recurring", "P-2,C-2,2024-07-01,-1.00,recurring"],
    )
    result = invoke("explain", "C-1", "--data", str(folder), "--as-of", "2024-07-31")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Rejected rows naming this person" in out
    assert "customers.csv" in out and "payments.csv" in out
    assert "duplicate customer_id" in out
    assert "P-2" not in out and "-1.00" not in out  # Bo's row is not Ann's


@pytest.mark.parametrize("command", [(), ("reconcile",), ("explain",), ("generate",)])
def test_short_help_flag(invoke, command: tuple[str, ...]) -> None:
    """-h works wherever --help does."""
    result = invoke(*command, "-h")
    assert result.exit_code == 0
    assert "Usage" in result.stdout and "-h, --help" in result.stdout


def test_bad_as_of_names_the_option(invoke) -> None:
    """A bad --as-of says which option was wrong."""
    result = invoke(*SAMPLE_ARGS[:3], "--as-of", "31/07/2024")
    assert result.exit_code == 2
    assert "--as-of" in result.stderr


def test_generate_refuses_a_folder_with_exports_unless_forced(tmp_path, invoke) -> None:
    """generate into a folder holding customers.csv: exit 2; --force replaces it."""
    out = tmp_path / "gen"
    out.mkdir()
    (out / "customers.csv").write_text("precious\n")
    refused = invoke("generate", "--customers", "5", "--out", str(out), "--format", "csv")
    assert refused.exit_code == 2
    assert "--force" in refused.stderr
    assert (out / "customers.csv").read_text() == "precious\n"
    forced = invoke("generate", "--customers", "5", "--out", str(out), "--format", "csv", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert (out / "customers.csv").read_text().startswith("customer_id,")


def test_generate_help_lists_only_the_formats_it_writes(invoke) -> None:
    """generate --format jsonl is refused by the option itself; the help names csv and parquet."""
    result = invoke("generate", "--customers", "5", "--out", "x", "--format", "jsonl")
    assert result.exit_code == 2
    assert "jsonl" in result.stderr
    # One sentence naming the choices (issue 20), not pydantic's "Value error, ...".
    assert "'jsonl' is not a format; choose csv or parquet" in " ".join(result.stderr.split())
