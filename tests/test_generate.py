"""The synthetic exports are valid, format-independent, varied and reproducible (issue 6)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from followup_cli.core.account_status import ACCOUNT_STATUSES
from followup_cli.core.errors import UsageError
from followup_cli.core.follow_up_tables import CUSTOMER_STATUSES, PROSPECT_STATUSES
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.pipeline import reconcile
from followup_cli.core.schema import TABLES
from followup_cli.reading.run import load
from followup_cli.synthetic.generate import generate

AS_OF = dt.date(2024, 7, 31)
PEOPLE = 2_000
FORMATS = ("csv", "parquet")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 2,000 people written once as CSV and once as Parquet."""
    root = tmp_path_factory.mktemp("generated")
    for fmt in FORMATS:
        generate(PEOPLE, root / fmt, seed=7, fmt=fmt)
    return {fmt: root / fmt for fmt in FORMATS}


@pytest.fixture(scope="module")
def outputs(folders: dict[str, Path]) -> dict[str, pl.DataFrame]:
    results = {}
    for fmt, folder in folders.items():
        tables, _ = load(folder, {}, AS_OF)
        assert tables.rejects.height == 0, tables.rejects.head(5)
        results[fmt] = reconcile(tables, AS_OF, LedgerSettings()).collect()
    return results


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_row_is_valid(folders: dict[str, Path], fmt: str) -> None:
    """Reconciling the generated exports sets nothing aside and accounts for every row."""
    tables, _ = load(folders[fmt], {}, AS_OF)
    assert tables.rejects.height == 0
    for count in tables.counts:
        assert count.rejected == 0
        assert count.read == count.used + count.left_out


@pytest.mark.parametrize("fmt", FORMATS)
def test_rows_per_person(folders: dict[str, Path], fmt: str) -> None:
    """About 1.5 agreements, 10 payments and 4.5 events (1 besides visits) per person, with
    the spec's columns."""
    rows = generate(PEOPLE, folders[fmt].parent / f"again-{fmt}", seed=7, fmt=fmt)
    assert rows["customers"] == PEOPLE
    assert 1.3 <= rows["agreements"] / PEOPLE <= 1.7
    assert 8 <= rows["payments"] / PEOPLE <= 12
    assert 4.0 <= rows["events"] / PEOPLE <= 5.0
    for name, table in TABLES.items():
        path = folders[fmt] / f"{name}.{fmt}"
        frame = pl.read_csv(path, infer_schema=False) if fmt == "csv" else pl.read_parquet(path)
        # customers also carry home_club, phone and email (issue 22), which the rules ignore
        extra = ["home_club", "phone", "email"] if name == "customers" else []
        assert frame.columns == [*table.column_names, *extra]
        assert frame.height == rows[name]


def test_parquet_uses_native_types(folders: dict[str, Path]) -> None:
    """Parquet money is an exact decimal (never a float), dates are dates, counts integers."""
    agreements = pl.read_parquet_schema(folders["parquet"] / "agreements.parquet")
    payments = pl.read_parquet_schema(folders["parquet"] / "payments.parquet")
    events = pl.read_parquet_schema(folders["parquet"] / "events.parquet")
    assert agreements["monthly_fee"] == pl.Decimal(18, 2)
    assert payments["amount"] == pl.Decimal(18, 2)
    assert agreements["purchase_date"] == pl.Date
    assert agreements["session_quantity"] == pl.Int64
    assert isinstance(events["starts_at"], pl.Datetime)


def test_csv_writes_money_with_two_places(folders: dict[str, Path]) -> None:
    """CSV money is text like 39.99 and 4.00, dates are ISO."""
    payments = pl.read_csv(folders["csv"] / "payments.csv", infer_schema=False)
    assert payments["amount"].str.contains(r"^\d+\.\d{2}$").all()
    assert payments["paid_on"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()


def test_csv_and_parquet_reconcile_the_same(outputs: dict[str, pl.DataFrame]) -> None:
    """The two formats hold the same people: the labelled output is identical."""
    assert_frame_equal(outputs["csv"], outputs["parquet"])


def test_every_status_appears(outputs: dict[str, pl.DataFrame]) -> None:
    """Every follow-up status and every account status is represented at 2024-07-31."""
    out = outputs["parquet"]
    assert set(out["follow_up_status"]) == {*CUSTOMER_STATUSES, *PROSPECT_STATUSES}
    assert set(out["account_status"].drop_nulls()) == set(ACCOUNT_STATUSES)


def test_as_of_leaves_some_rows_out(folders: dict[str, Path]) -> None:
    """Some people, agreements and payments come after 2024-07-31 and are left out."""
    tables, _ = load(folders["parquet"], {}, AS_OF)
    left_out = {count.table: count.left_out for count in tables.counts}
    assert left_out["customers"] > 0
    assert left_out["agreements"] > 0
    assert left_out["payments"] > 0


def test_calendar_edges_appear(folders: dict[str, Path]) -> None:
    """Purchases and payments fall on weekends and on month ends."""
    for table, column in (("agreements", "purchase_date"), ("payments", "paid_on")):
        days = pl.read_parquet(folders["parquet"] / f"{table}.parquet")[column]
        assert (days.dt.weekday() >= 6).any()
        assert (days == days.dt.month_end()).any()


def test_several_agreements_for_some(folders: dict[str, Path]) -> None:
    """Some people hold several agreements, one after another."""
    agreements = pl.read_parquet(folders["parquet"] / "agreements.parquet")
    per_person = agreements.group_by("customer_id").len()["len"]
    assert per_person.max() >= 4
    assert (per_person > 1).sum() > 0.3 * per_person.len()


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_same_bytes(tmp_path: Path, fmt: str) -> None:
    """The same seed gives byte-identical files; another seed gives other files."""
    generate(300, tmp_path / "a", seed=3, fmt=fmt)
    generate(300, tmp_path / "b", seed=3, fmt=fmt)
    generate(300, tmp_path / "c", seed=4, fmt=fmt)
    first = _file_bytes(tmp_path / "a")
    assert first == _file_bytes(tmp_path / "b")
    other = _file_bytes(tmp_path / "c")
    assert all(first[name] != other[name] for name in first)


def test_refuses_to_mix_formats(tmp_path: Path) -> None:
    """Generating Parquet over CSV exports would leave two files per table: refused."""
    generate(10, tmp_path, fmt="csv")
    with pytest.raises(UsageError, match=r"customers\.csv"):
        generate(10, tmp_path, fmt="parquet")


def test_no_people(tmp_path: Path) -> None:
    """Zero customers gives four files with a header and no rows."""
    assert generate(0, tmp_path, fmt="csv") == dict.fromkeys(TABLES, 0)
