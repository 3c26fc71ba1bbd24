"""Reading the exports (SPEC 2): discovery, CSV and Parquet alike, normalised headers and values."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.pipeline import reconcile
from followup_cli.reading.run import load
from tests.conftest import AS_OF, SAMPLE, reconcile_rows, write_exports

DATES = {"created_on", "purchase_date", "end_date", "paid_on"}
MONEY = {"monthly_fee", "amount"}
COUNTS = {"session_quantity", "sessions_remaining"}


def csv_to_parquet(source: Path, target: Path) -> Path:
    """The sample CSV exports re-typed the way a club system writes Parquet: native types."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.csv")):
        frame = pl.read_csv(path, infer_schema=False)
        typed = []
        for name in frame.columns:
            col = pl.col(name)
            if name in DATES:
                col = col.str.to_date("%Y-%m-%d")
            elif name == "starts_at":
                col = col.str.to_datetime("%Y-%m-%d %H:%M")
            elif name in MONEY:
                col = col.str.strip_prefix("£").str.to_decimal(scale=2)
            elif name in COUNTS:
                col = col.cast(pl.Int64)
            typed.append(col.alias(name))
        frame.select(typed).write_parquet(target / f"{path.stem}.parquet")
    return target


def test_csv_and_parquet_give_the_same_output(tmp_path: Path) -> None:
    """The same exports as CSV or as typed Parquet reconcile to identical rows."""
    parquet = csv_to_parquet(SAMPLE, tmp_path / "pq")
    assert_frame_equal(reconcile_rows(SAMPLE), reconcile_rows(parquet))


def test_csv_and_parquet_can_be_mixed(tmp_path: Path) -> None:
    """Some tables as CSV and some as Parquet in one folder work together."""
    parquet = csv_to_parquet(SAMPLE, tmp_path / "pq")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(SAMPLE / "customers.csv", mixed)
    shutil.copy(SAMPLE / "events.csv", mixed)
    shutil.copy(parquet / "agreements.parquet", mixed)
    shutil.copy(parquet / "payments.parquet", mixed)
    assert_frame_equal(reconcile_rows(SAMPLE), reconcile_rows(mixed))


def test_explicit_paths_override_the_folder(tmp_path: Path, invoke) -> None:
    """--customers names a file anywhere; the other tables still come from --data."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    elsewhere = tmp_path / "other" / "clients.csv"
    elsewhere.parent.mkdir()
    (data / "customers.csv").rename(elsewhere)
    result = invoke(
        "reconcile",
        "--data",
        str(data),
        "--customers",
        str(elsewhere),
        "--as-of",
        "2024-07-31",
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (Path(__file__).parent / "golden" / "sample_2024-07-31.csv").read_text()


def test_file_names_match_case_insensitively(tmp_path: Path) -> None:
    """Customers.CSV in the folder is the customers table."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    (data / "customers.csv").rename(data / "Customers.CSV")
    assert reconcile_rows(data).height == 18


def test_only_customers_is_needed_when_the_others_are_left_out(tmp_path: Path) -> None:
    """--without agreements, payments and events: they count as empty; all are prospects."""
    folder = write_exports(
        tmp_path / "exports", {"customers": ["C-1,Ann,referral,2024-01-01", "C-2,Bob,,2024-01-01"]}
    )
    tables, _ = load(folder, {}, AS_OF, without=["agreements", "payments", "events"])
    rows = reconcile(tables, AS_OF, LedgerSettings()).collect()
    assert rows.get_column("customer_type").to_list() == ["Prospect", "Prospect"]
    assert rows.get_column("follow_up_status").to_list() == ["Referral", "Lead"]


def test_two_files_for_one_table_is_an_error(tmp_path: Path, invoke) -> None:
    """customers.csv beside customers.parquet: exit 3, naming both, nothing written."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    csv_to_parquet(SAMPLE, tmp_path / "pq")
    shutil.copy(tmp_path / "pq" / "customers.parquet", data)
    result = invoke("reconcile", "--data", str(data), "--as-of", "2024-07-31")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "two files for the customers table" in result.stderr
    assert "customers.csv" in result.stderr and "customers.parquet" in result.stderr


def test_missing_customers_file_is_an_error(tmp_path: Path, invoke) -> None:
    """No customers file: exit 3 and a sentence saying where it looked."""
    (tmp_path / "empty").mkdir()
    result = invoke("reconcile", "--data", str(tmp_path / "empty"))
    assert result.exit_code == 3
    assert "no customers file" in result.stderr
    assert "Traceback" not in result.stderr


def test_headers_are_trimmed_case_insensitive_reordered_and_extras_ignored(tmp_path: Path) -> None:
    """' Customer_ID ', 'NAME', shuffled order and unknown columns read like the plain header."""
    empty: dict[str, list[str]] = {"agreements": [], "payments": [], "events": []}
    plain = write_exports(tmp_path / "plain", {"customers": ["C-1,Ann,web,2024-01-01"], **empty})
    messy = write_exports(tmp_path / "messy", empty)
    (messy / "customers.csv").write_text(
        " Created_On ,loyalty_tier, NAME ,Customer_ID,ORIGIN\n2024-01-01,gold,Ann,C-1,web\n"
    )
    assert_frame_equal(reconcile_rows(plain), reconcile_rows(messy))


def test_values_are_trimmed_and_vocabulary_is_case_insensitive(exports) -> None:
    """' ACTIVE ', 'One Off', '$4', '€ 4' style values mean what their plain forms mean."""
    messy = exports(
        customers=["  C-1 , Ann ,  REFERRAL ,2024-01-01"],
        agreements=["A-1, c-1 ,2024-07-01,,, ACTIVE ,,$4.00,"],
        payments=["P-1,C-1,2024-07-10,€5,One Off", "P-2,C-1, 2024-07-11 ,4, Recurring "],
        events=["E-1,C-1,2024-07-02T10:00, Trial ,No_Show"],
    )
    row = reconcile_rows(messy).row(0, named=True)
    # Charges: July's fee 4.00 (due 2024-07-31) + surcharge 1.00 for the one-off payment = 5.00.
    # Credits: 5.00 + 4.00 = 9.00, so the account is 4.00 in credit.
    assert row["customer_id"] == "C-1"
    assert row["name"] == "Ann"
    assert row["follow_up_status"] == "Active Customer"
    assert row["account_status"] == "Paid in Full"
    assert str(row["balance"]) == "4.00"


@pytest.mark.parametrize(
    ("as_of", "people"),
    # sample customers: 18 created by 2024-07-30, C-19 on 2024-08-05; only C-6 (2023-12-15),
    # C-9 (2023-02-01) and C-11 (2023-06-01) existed by the end of 2023.
    [(dt.date(2024, 7, 31), 18), (dt.date(2024, 8, 5), 19), (dt.date(2023, 12, 31), 3)],
)
def test_people_created_after_the_as_of_date_do_not_exist_yet(as_of: dt.date, people: int) -> None:
    """Only customers created on or before the as-of day get a row."""
    assert reconcile_rows(SAMPLE, as_of=as_of).height == people


def test_output_keeps_the_customers_file_order(exports) -> None:
    """Rows come out in the order of the customers file, not sorted by id."""
    folder = exports(
        customers=["Z-9,Zed,,2024-01-01", "A-1,Ann,,2024-01-01", "M-5,Max,,2024-01-01"]
    )
    assert reconcile_rows(folder).get_column("customer_id").to_list() == ["Z-9", "A-1", "M-5"]


def test_a_folder_given_as_a_file_is_exit_3_with_a_sentence(invoke) -> None:
    """--customers naming a folder: exit 3, saying it is a folder."""
    result = invoke("reconcile", "--customers", str(SAMPLE), "--data", str(SAMPLE))
    assert result.exit_code == 3
    assert "is a folder, not a file" in result.stderr


def test_an_absurd_amount_is_rejected_before_it_can_overflow(exports, invoke, tmp_path) -> None:
    """A payment of a billion is set aside as too large, not summed into a wrapped integer."""
    folder = exports(
        customers=["C-1,Ann,web,2024-01-01"],
        payments=["P-1,C-1,2024-07-01,1000000000.00,recurring"],
    )
    result = invoke(
        "reconcile",
        "--data",
        str(folder),
        "--as-of",
        "2024-07-31",
        "-q",
        "--rejects",
        str(tmp_path / "r.csv"),
        "--max-rejected",
        "100%",
    )
    assert result.exit_code == 1
    assert "too large for an amount of money" in (tmp_path / "r.csv").read_text()


def test_surcharge_follows_the_same_money_rules_as_the_exports(invoke) -> None:
    """--surcharge £1.500 means 1.50, as it would in a payments file; 1.505 is refused."""
    ok = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-07-31", "-q", "--surcharge", "£1.500"
    )
    assert ok.exit_code == 0
    refused = invoke("reconcile", "--data", str(SAMPLE), "--surcharge", "1.505")
    assert refused.exit_code == 2
    assert "more than 2 decimal places" in refused.stderr


def test_a_header_naming_a_column_twice_is_refused(tmp_path: Path, invoke) -> None:
    """customer_id twice in the header: exit 3, rather than silently using the first."""
    folder = write_exports(tmp_path / "dup", {"agreements": [], "payments": [], "events": []})
    (folder / "customers.csv").write_text(
        "customer_id,created_on,customer_id\nC-1,2024-01-01,C-2\n"
    )
    result = invoke("reconcile", "--data", str(folder), "--as-of", "2024-07-31")
    assert result.exit_code == 3
    assert "names column 'customer_id' twice" in result.stderr
