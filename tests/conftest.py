"""Shared helpers: write tiny exports to a temporary folder and run the command on them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from followup_cli.cli.main import app
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.pipeline import reconcile
from followup_cli.reading.run import load

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
AS_OF = dt.date(2024, 7, 31)
# SPEC 5's ten output columns, in order, spelt out from the spec (not read from the code).
SPEC_COLUMNS = [
    "customer_id",
    "name",
    "customer_type",
    "follow_up_status",
    "reason",
    "account_status",
    "balance",
    "past_due",
    "oldest_unpaid_on",
    "days_in_arrears",
]

HEADERS = {
    "customers": "customer_id,name,origin,created_on",
    "agreements": "agreement_id,customer_id,purchase_date,session_quantity,sessions_remaining,"
    "status,alert,monthly_fee,end_date",
    "payments": "payment_id,customer_id,paid_on,amount,kind",
    "events": "event_id,customer_id,starts_at,kind,outcome",
}


def write_exports(folder: Path, tables: Mapping[str, Sequence[str]]) -> Path:
    """Write each table as CSV: the standard header, then the given rows (already CSV text)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        (folder / f"{name}.csv").write_text("\n".join([HEADERS[name], *rows]) + "\n")
    return folder


def reconcile_rows(
    folder: Path, as_of: dt.date = AS_OF, settings: LedgerSettings | None = None
) -> pl.DataFrame:
    """Run the core (no command line) on a folder of exports and collect the output."""
    tables, _ = load(folder, {}, as_of)
    return reconcile(tables, as_of, settings or LedgerSettings()).collect()


@pytest.fixture
def exports(tmp_path: Path) -> Callable[..., Path]:
    """`exports(customers=[...], agreements=[...])` writes a folder and returns its path; a
    table not given is written as its header alone (all four tables are expected, SPEC 2)."""

    def make(**tables: Sequence[str]) -> Path:
        return write_exports(tmp_path / "exports", {name: tables.get(name, []) for name in HEADERS})

    return make


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """Run `followup ARGS` with a fixed terminal width and no colour."""
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*args: str) -> object:
        return runner.invoke(app, list(args))

    return run
