"""Finding the four tables and trusting a run (SPEC 2 and 6): missing and misnamed tables,
--without, normalised header names, unknown columns, --max-rejected, and the options that go
with them (--as-of today|yesterday, --surcharge limits, the -q line)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from followup_cli.core.schema import TABLES, normalise_name
from followup_cli.reading.loading import read_table
from followup_cli.reading.locate import locate_tables
from tests.conftest import HEADERS, SAMPLE, reconcile_rows, write_exports

Invoke = Callable[..., Any]
AS_OF = "2024-07-31"

# One member on a 4.00 monthly plan since June, paid up by two recurring payments.
PAID_UP: dict[str, list[str]] = {
    "customers": ["C-1,Ann,web,2024-01-01", "C-2,Bo,referral,2024-01-01"],
    "agreements": ["A-1,C-1,2024-06-01,,,active,,4.00,"],
    "payments": ["P-1,C-1,2024-06-28,4.00,recurring", "P-2,C-1,2024-07-31,4.00,recurring"],
    "events": ["E-1,C-2,2024-07-20 10:00,trial,attended"],
}


def all_but(*left_out: str) -> dict[str, list[str]]:
    return {name: rows for name, rows in PAID_UP.items() if name not in left_out}


def reconcile(invoke: Invoke, data: Path, *options: str) -> Any:
    """`followup reconcile --data DATA --as-of 2024-07-31 ...`, never with a traceback."""
    result = invoke("reconcile", "--data", str(data), "--as-of", AS_OF, *options)
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def with_old_outputs(folder: Path) -> tuple[Path, Path]:
    """An output and a rejects file from yesterday's run, which a failed run must not touch."""
    folder.mkdir()
    out, rejects = folder / "out.csv", folder / "out-rejects.csv"
    out.write_text("yesterday's output\n")
    rejects.write_text("yesterday's rejects\n")
    return out, rejects


def assert_untouched(out: Path, rejects: Path) -> None:
    assert out.read_text() == "yesterday's output\n"
    assert rejects.read_text() == "yesterday's rejects\n"
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([out.name, rejects.name])


# --- A table missing, misnamed or not a file: exit 3, never "absent" ------------------------------


def test_a_misnamed_table_stops_the_run_and_suggests_the_name(tmp_path: Path, invoke: Invoke):
    """payment.csv instead of payments.csv: exit 3, listing the folder and the near name, instead
    of reading no payments and making a paid-up member Delinquent."""
    data = write_exports(tmp_path / "exports", PAID_UP)
    (data / "payments.csv").rename(data / "payment.csv")
    out, rejects = with_old_outputs(tmp_path / "out")
    result = reconcile(invoke, data, "-o", str(out))
    assert result.exit_code == 3
    line = one_line(result.stderr)
    assert "no payments file (looked for payments.csv and payments.parquet)" in line
    assert "the folder holds agreements.csv, customers.csv, events.csv, payment.csv" in line
    assert "Did you mean payments.csv? Rename payment.csv" in line
    assert "--payments PATH" in line and "--without payments" in line
    assert result.stdout == ""
    assert_untouched(out, rejects)


@pytest.mark.parametrize(
    ("present", "missing", "suggested"),
    [
        ("payment.csv", "payments", "payments.csv"),
        ("Event.parquet", "events", "events.parquet"),
        ("agreements.xlsx", "agreements", "agreements.csv"),
        ("bank-export.csv", "payments", None),
    ],
)
def test_the_near_name_is_suggested_only_when_close(
    tmp_path: Path, present: str, missing: str, suggested: str | None
) -> None:
    """difflib finds a near name among the folder's entries; a far one is not suggested."""
    data = write_exports(tmp_path / "exports", {n: [] for n in TABLES if n != missing})
    (data / present).write_text("x\n")
    with pytest.raises(Exception) as raised:
        locate_tables(data, {})
    message = str(raised.value)
    assert f"no {missing} file" in message
    if suggested is None:
        assert "Did you mean" not in message
    else:
        assert f"Did you mean {suggested}? Rename {present}" in message


def test_a_missing_customers_table_never_suggests_running_without_it(tmp_path: Path) -> None:
    """customers cannot be left out, so the message offers --customers PATH only."""
    data = write_exports(tmp_path / "exports", {n: [] for n in TABLES if n != "customers"})
    with pytest.raises(Exception) as raised:
        locate_tables(data, {})
    assert "--customers PATH" in str(raised.value)
    assert "--without" not in str(raised.value)


def folder_named_like_the_table(path: Path) -> None:
    path.mkdir()


def dangling_link(path: Path) -> None:
    path.symlink_to(path.parent / "gone.csv")


def fifo(path: Path) -> None:
    os.mkfifo(path)


NOT_A_FILE = [
    pytest.param(folder_named_like_the_table, "is a folder, not a file", id="folder"),
    pytest.param(dangling_link, "gone.csv, which does not exist", id="dangling-link"),
    pytest.param(fifo, "not a regular file", id="fifo"),
]


@pytest.mark.parametrize(("make", "message"), NOT_A_FILE)
def test_something_not_a_file_where_a_table_should_be_is_exit_3(
    tmp_path: Path, invoke: Invoke, make: Callable[[Path], None], message: str
) -> None:
    """A folder, a dangling link or a FIFO named payments.csv is an error, never "absent"."""
    data = write_exports(tmp_path / "exports", all_but("payments"))
    make(data / "payments.csv")
    result = reconcile(invoke, data)
    assert result.exit_code == 3
    line = one_line(result.stderr)
    assert line.startswith(f"followup: error: {data / 'payments.csv'}: ")
    assert message in line and "the payments table" in line
    assert result.stdout == ""


@pytest.mark.parametrize(("make", "message"), NOT_A_FILE)
def test_something_not_a_file_given_by_path_is_exit_3(
    tmp_path: Path, invoke: Invoke, make: Callable[[Path], None], message: str
) -> None:
    """--payments naming a folder, a dangling link or a FIFO: exit 3, naming the option."""
    data = write_exports(tmp_path / "exports", PAID_UP)
    given = tmp_path / "elsewhere.csv"
    make(given)
    result = reconcile(invoke, data, "--payments", str(given))
    assert result.exit_code == 3
    line = one_line(result.stderr)
    assert message in line and "given for --payments" in line


def test_customers_by_path_alone_looks_for_the_rest_in_the_current_folder(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--customers FILE without --data: the other three are expected in the current folder, and
    one missing there is exit 3 naming it, not an empty table."""
    exports = write_exports(tmp_path / "exports", PAID_UP)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke("reconcile", "--customers", str(exports / "customers.csv"), "--as-of", AS_OF)
    assert result.exit_code == 3
    line = one_line(result.stderr)
    assert ". (the current folder, the default --data): no agreements file" in line
    assert "--agreements PATH" in line and "--without agreements" in line
    for name in ("agreements", "payments", "events"):
        shutil.copy(exports / f"{name}.csv", elsewhere)
    result = invoke("reconcile", "--customers", str(exports / "customers.csv"), "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert "C-1,Ann,Customer,Active Customer," in result.stdout


# --- --without TABLE ------------------------------------------------------------------------------


def test_without_runs_deliberately_without_a_table(tmp_path: Path, invoke: Invoke) -> None:
    """--without events: no events file needed, it counts as empty, and the summary says so."""
    data = write_exports(tmp_path / "exports", all_but("events"))
    result = reconcile(invoke, data, "--without", "events")
    assert result.exit_code == 0, result.stderr
    # C-2's trial is gone with the events table: a referral with no events.
    assert "C-2,Bo,Prospect,Referral,no events; origin referral," in result.stdout
    assert "ran without events (--without events): counted as empty" in result.stderr
    assert "events (--without)" in result.stderr


def test_without_is_repeatable_and_case_insensitive(tmp_path: Path, invoke: Invoke) -> None:
    """--without Payments --without EVENTS leaves both out; the other two are read."""
    data = write_exports(
        tmp_path / "exports", {"customers": PAID_UP["customers"], "agreements": []}
    )
    result = reconcile(invoke, data, "--without", "Payments", "--without", "EVENTS", "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("Prospect") == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--without", "customers"), "--without customers: the customers table is always needed"),
        (("--without", "payment"), "--without: 'payment' is not a table"),
        (
            ("--without", "payments", "--payments", "p.csv"),
            "--without payments and --payments p.csv contradict each other",
        ),
    ],
)
def test_a_bad_without_is_a_usage_error(
    tmp_path: Path, invoke: Invoke, options: tuple[str, ...], message: str
) -> None:
    """--without customers, an unknown table, or --without with the same table's path: exit 2."""
    data = write_exports(tmp_path / "exports", PAID_UP)
    result = reconcile(invoke, data, *options)
    assert result.exit_code == 2
    assert message in one_line(result.stderr)
    assert result.stdout == ""


def test_explain_takes_without_too(tmp_path: Path, invoke: Invoke) -> None:
    """`followup explain` finds the tables the same way, --without included."""
    data = write_exports(tmp_path / "exports", all_but("events"))
    assert invoke("explain", "C-2", "--data", str(data), "--as-of", AS_OF).exit_code == 3
    result = invoke("explain", "C-2", "--data", str(data), "--as-of", AS_OF, "--without", "events")
    assert result.exit_code == 0, result.stderr
    assert "Referral" in result.stdout


# --- Header names, normalised ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("Monthly Fee", "monthly_fee"),
        ("monthly-fee", "monthly_fee"),
        (" MONTHLY_FEE ", "monthly_fee"),
        ("\ufeffmonthly_fee", "monthly_fee"),
        ("monthly\u200b_fee", "monthly_fee"),
        ("\u2060Monthly \u200c- \u200dFee", "monthly_fee"),
        ("Customer  ID", "customer_id"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # case-folded, not just lower-cased
    ],
)
def test_normalise_header(written: str, normal: str) -> None:
    """Trimmed, invisible characters removed, case-folded, spaces and hyphens read as `_`."""
    assert normalise_name(written) == normal


@pytest.mark.parametrize(
    "spelling",
    ["Monthly Fee", "monthly-fee", " MONTHLY_FEE", "\ufeffmonthly_fee", "monthly\u200b_fee"],
)
def test_a_header_spelled_differently_still_names_the_column(tmp_path: Path, spelling: str):
    """`Monthly Fee` and friends are monthly_fee: the account status does not disappear."""
    plain = write_exports(tmp_path / "plain", PAID_UP)
    odd = write_exports(tmp_path / "odd", PAID_UP)
    header = HEADERS["agreements"].replace("monthly_fee", spelling)
    (odd / "agreements.csv").write_text("\n".join([header, *PAID_UP["agreements"]]) + "\n")
    expected = reconcile_rows(plain)
    assert expected.item(0, "account_status") == "Paid in Full"
    assert_frame_equal(reconcile_rows(odd), expected)


def test_a_byte_order_mark_on_a_parquet_column_name_is_ignored(tmp_path: Path) -> None:
    """Parquet column names are normalised the same way as a CSV header."""
    plain = write_exports(tmp_path / "plain", PAID_UP)
    odd = write_exports(tmp_path / "odd", all_but("customers"))
    pl.read_csv(plain / "customers.csv").with_columns(pl.col("created_on").str.to_date()).rename(
        {"customer_id": "\ufeffCustomer ID", "created_on": "Created-On"}
    ).write_parquet(odd / "customers.parquet")
    assert_frame_equal(reconcile_rows(odd), reconcile_rows(plain))


def test_two_spellings_of_one_column_are_refused(tmp_path: Path, invoke: Invoke) -> None:
    """`Monthly Fee` beside `monthly_fee`: the header names the column twice, exit 3."""
    data = write_exports(tmp_path / "exports", PAID_UP)
    header = HEADERS["agreements"] + ",Monthly Fee"
    (data / "agreements.csv").write_text(header + "\nA-1,C-1,2024-06-01,,,active,,4.00,,4.00\n")
    result = reconcile(invoke, data)
    assert result.exit_code == 3
    said = one_line(result.stderr)
    assert (
        "names column 'monthly_fee' twice ('monthly_fee' and 'Monthly Fee', columns 8 and 10)"
        in said
    )


def test_unknown_columns_are_kept_by_name_and_value(tmp_path: Path) -> None:
    """Columns beyond the contract are ignored by the rules but kept on RawTable, as written."""
    data = write_exports(tmp_path / "exports", PAID_UP)
    (data / "customers.csv").write_text(
        "customer_id,Phone Number,name,origin,created_on,home-club\n"
        "C-1,555-0101,Ann,web,2024-01-01,Soho\n"
    )
    raw = read_table(TABLES["customers"], data / "customers.csv")
    assert raw.unknown_columns == ("Phone Number", "home-club")
    assert raw.unknown_frame is not None
    assert raw.unknown_frame.collect().rows() == [(2, "555-0101", "Soho")]
    assert raw.frame.collect_schema().names() == ["_line", *TABLES["customers"].column_names]


def test_the_summary_names_unknown_columns_per_file(tmp_path: Path, invoke: Invoke) -> None:
    """A misspelt contract column is not silently ignored: the summary names it, per file."""
    data = write_exports(tmp_path / "exports", PAID_UP)
    (data / "agreements.csv").write_text(
        HEADERS["agreements"].replace("monthly_fee", "Monthly Fees")
        + ",Home Club\nA-1,C-1,2024-06-01,,,active,,4.00,,Soho\n"
    )
    result = reconcile(invoke, data)
    assert result.exit_code == 0, result.stderr
    assert (
        "agreements.csv: ignored column(s) not in the contract: 'Monthly Fees', 'Home Club'"
        in result.stderr
    )
    assert "customers.csv: ignored" not in result.stderr


# --- Too much set aside: exit 3, nothing written ------------------------------------------------


def test_a_trailing_comma_on_every_customers_row_is_exit_3(tmp_path: Path, invoke: Invoke):
    """Every customers row has one field too many: no customer is usable, so exit 3 naming the
    file, the counts and the first rejects, and yesterday's files are left as they were."""
    data = write_exports(tmp_path / "exports", PAID_UP)
    rows = [row + "," for row in PAID_UP["customers"]]
    (data / "customers.csv").write_text("\n".join([HEADERS["customers"], *rows]) + "\n")
    out, rejects = with_old_outputs(tmp_path / "out")
    result = reconcile(invoke, data, "-o", str(out))
    assert result.exit_code == 3
    line = one_line(result.stderr)
    assert "customers.csv: 2 of 2 rows rejected (100%), more than --max-rejected 50%" in line
    assert "nothing written" in line
    assert "First: customers.csv line 2: row has 5 fields but the header has 4" in line
    assert "customers.csv line 3:" in line
    assert_untouched(out, rejects)


def test_no_usable_customer_is_exit_3_even_with_no_limit(tmp_path: Path, invoke: Invoke) -> None:
    """--max-rejected 100% does not make a run with no usable customer a success."""
    data = write_exports(tmp_path / "exports", PAID_UP)
    rows = [row + "," for row in PAID_UP["customers"]]
    (data / "customers.csv").write_text("\n".join([HEADERS["customers"], *rows]) + "\n")
    result = reconcile(invoke, data, "--max-rejected", "100%")
    assert result.exit_code == 3
    assert "customers.csv has no usable row: all 2 rows were rejected" in one_line(result.stderr)


@pytest.mark.parametrize(
    ("customers", "message"),
    [
        ([], "customers.csv has no data rows"),
        (
            ["C-1,Ann,web,2024-08-01"],
            "customers.csv has no usable row: its 1 row is of a person created after the as-of",
        ),
    ],
)
def test_a_customers_file_without_usable_rows_is_exit_3(
    tmp_path: Path, invoke: Invoke, customers: list[str], message: str
) -> None:
    """A header-only customers file, or one whose people all come after --as-of: exit 3."""
    data = write_exports(tmp_path / "exports", {"customers": customers, "agreements": []})
    result = reconcile(invoke, data, "--without", "payments", "--without", "events")
    assert result.exit_code == 3
    assert message in one_line(result.stderr)
    assert result.stdout == ""


BAD_PAYMENT = "P-9,C-1,2024-07-01,-4.00,recurring"


@pytest.mark.parametrize(
    ("bad", "options", "exit_code"),
    [
        (1, (), 1),  # 1 of 3 rejected: 33% is within the default 50%
        (3, (), 3),  # 3 of 5: 60%
        (3, ("--max-rejected", "60"), 1),  # exactly the limit is allowed
        (3, ("--max-rejected", "59.9%"), 3),
        (1, ("--max-rejected", "0%"), 3),  # 0%: any reject stops the run
    ],
)
def test_max_rejected_is_a_share_of_each_table(
    tmp_path: Path, invoke: Invoke, bad: int, options: tuple[str, ...], exit_code: int
) -> None:
    """More than --max-rejected percent of a table's rows rejected: exit 3, nothing written."""
    payments = [*PAID_UP["payments"], *[BAD_PAYMENT.replace("P-9", f"P-9{n}") for n in range(bad)]]
    data = write_exports(tmp_path / "exports", {**PAID_UP, "payments": payments})
    out = tmp_path / "out.csv"
    result = reconcile(invoke, data, "-o", str(out), *options)
    assert result.exit_code == exit_code, result.stderr
    assert out.exists() == (exit_code == 1)
    if exit_code == 3:
        line = one_line(result.stderr)
        assert f"payments.csv: {bad} of {bad + 2} rows rejected" in line
        assert "First: payments.csv line 4, column amount: amount must be more than 0" in line


def test_half_a_table_rejected_is_within_the_default_limit(tmp_path: Path, invoke: Invoke):
    """2 of 4 payments rejected is 50%, not more than 50%: reconciled, exit 1."""
    payments = [*PAID_UP["payments"], BAD_PAYMENT, BAD_PAYMENT.replace("P-9", "P-8")]
    data = write_exports(tmp_path / "exports", {**PAID_UP, "payments": payments})
    result = reconcile(invoke, data, "-q")
    assert result.exit_code == 1, result.stderr


@pytest.mark.parametrize("value", ["half", "101", "-5%", "50%%", ""])
def test_a_bad_max_rejected_is_a_usage_error(tmp_path: Path, invoke: Invoke, value: str):
    """--max-rejected takes a percentage from 0 to 100: anything else is exit 2 naming it."""
    data = write_exports(tmp_path / "exports", PAID_UP)
    result = reconcile(invoke, data, "--max-rejected", value)
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith(f"followup: error: --max-rejected: {value!r} is ")
    assert result.stdout == ""


# --- --surcharge limits, --as-of words, the -q line --------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("42949672.96", "--surcharge: '42949672.96' is too large; at most 1,000,000.00"),
        ("1000000.01", "--surcharge: '1000000.01' is too large; at most 1,000,000.00"),
        ("99999999999999999999", "--surcharge: '99999999999999999999'"),
        ("1,50", "--surcharge: '1,50'"),
    ],
)
def test_an_out_of_range_surcharge_is_a_usage_error(invoke: Invoke, value: str, message: str):
    """A surcharge past 1,000,000.00 or malformed is exit 2 naming the option, never an
    "internal error"."""
    result = reconcile(invoke, SAMPLE, "--surcharge", value)
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert message in line
    assert "internal error" not in line


def test_the_largest_surcharge_is_reconciled(invoke: Invoke) -> None:
    """--surcharge 1000000.00 is accepted: C-1's one-off payment charges a million."""
    result = reconcile(invoke, SAMPLE, "--surcharge", "1000000.00", "-q")
    assert result.exit_code == 0, result.stderr
    # C-1 in the sample: five 4.00 fees + the surcharge = 1,000,020.00 charged, 17.00 paid.
    c1 = next(line for line in result.stdout.splitlines() if line.startswith("C-1,"))
    assert ",-1000003.00," in c1


@pytest.mark.parametrize(("word", "days_back"), [("today", 0), ("Yesterday", 1), (" TODAY ", 0)])
def test_as_of_today_and_yesterday(invoke: Invoke, word: str, days_back: int) -> None:
    """--as-of today|yesterday (any case) is the local calendar day, for reconcile and explain."""
    expected = dt.date.today() - dt.timedelta(days=days_back)
    result = invoke("reconcile", "--data", str(SAMPLE), "--as-of", word)
    assert result.exit_code == 0, result.stderr
    assert f"people as of {expected}" in result.stderr
    explained = invoke("explain", "C-2", "--data", str(SAMPLE), "--as-of", word)
    assert explained.exit_code == 0, explained.stderr


@pytest.mark.parametrize("command", [("reconcile",), ("explain", "C-1")])
def test_a_bad_as_of_names_the_option(invoke: Invoke, command: tuple[str, ...]) -> None:
    """--as-of x: exit 2, saying which option and what it takes."""
    result = invoke(*command, "--data", str(SAMPLE), "--as-of", "x")
    assert result.exit_code == 2
    assert one_line(result.stderr) == (
        "followup: error: --as-of: 'x' is not a date; expected YYYY-MM-DD (e.g. 2024-07-31), "
        "today or yesterday"
    )


def test_quiet_still_says_that_rows_were_set_aside(tmp_path: Path, invoke: Invoke) -> None:
    """-q with a row set aside: exactly one line on stderr, naming the count and the file."""
    payments = [*PAID_UP["payments"], BAD_PAYMENT]
    data = write_exports(tmp_path / "exports", {**PAID_UP, "payments": payments})
    out = tmp_path / "out.csv"
    result = reconcile(invoke, data, "-q", "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr == f"followup: 1 row set aside, see {tmp_path / 'out-rejects.csv'}\n"
    clean = reconcile(invoke, write_exports(tmp_path / "clean", PAID_UP), "-q")
    assert clean.exit_code == 0
    assert clean.stderr == ""
