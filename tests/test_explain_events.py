"""`followup explain` tells the ledger as the account aggregate's domain events, and the
figures it comes to agree with the reconcile run's output row, person by person."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.pipeline import reconcile
from followup_cli.job.explain import explain
from followup_cli.reading.run import load
from followup_cli.synthetic.generate import generate
from tests.conftest import AS_OF, SAMPLE


def _cents(money: Decimal | None) -> int | None:
    return None if money is None else int(money * 100)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate(400, folder, seed=3, fmt="parquet")
    return folder


def test_explain_agrees_with_the_output_row_for_generated_people(generated: Path) -> None:
    """For every one of 400 generated people, the replayed account's balance, past due,
    oldest unpaid date, days in arrears and status equal the output row's (none: no ledger)."""
    settings = LedgerSettings()
    tables, _ = load(generated, {}, AS_OF)
    rows = reconcile(tables, AS_OF, settings).collect()
    subscribers = 0
    for row in rows.iter_rows(named=True):
        account = explain(tables, row["customer_id"], AS_OF, settings).account
        if row["account_status"] is None:
            assert account is None, row["customer_id"]
            continue
        subscribers += 1
        assert account is not None, row["customer_id"]
        replayed = (
            account.balance_cents,
            account.past_due_cents,
            account.oldest_unpaid_on,
            account.days_in_arrears,
            account.account_status,
        )
        output = (
            _cents(row["balance"]),
            _cents(row["past_due"]),
            row["oldest_unpaid_on"],
            row["days_in_arrears"],
            row["account_status"],
        )
        assert replayed == output, row["customer_id"]
    assert subscribers >= 100  # hundreds of people, and enough of them with a ledger
    assert set(rows.get_column("account_status").drop_nulls()) >= {"Paid in Full", "Disabled"}


def test_explain_tells_the_ledger_as_domain_events() -> None:
    """C-5 (SPEC 3 worked by hand): subscription started 04-01 at 4.00, payments 04-29 and
    05-29 settle April and May, June (Fri 06-28) and July are unpaid; reconciled: Warning."""
    tables, _ = load(SAMPLE, {}, AS_OF)
    told = explain(tables, "c-5", AS_OF, LedgerSettings()).entries
    expected = pl.DataFrame(
        [
            (
                "2024-04-01",
                "subscription started: agreement A-5, 4.00 a month",
                None,
                None,
                0,
                None,
            ),
            ("2024-04-29", "recurring payment P-9", None, 400, 400, None),
            ("2024-04-30", "fee for April 2024 (agreement A-5)", 400, None, 0, "settled"),
            ("2024-05-29", "recurring payment P-10", None, 400, 400, None),
            ("2024-05-31", "fee for May 2024 (agreement A-5)", 400, None, 0, "settled"),
            ("2024-06-28", "fee for June 2024 (agreement A-5)", 400, None, -400, "unpaid"),
            ("2024-07-31", "fee for July 2024 (agreement A-5)", 400, None, -800, "unpaid"),
            ("2024-07-31", "account reconciled: Warning", None, None, -800, None),
        ],
        schema=["date", "entry", "charge_cents", "credit_cents", "balance_cents", "settled"],
        orient="row",
    ).with_columns(pl.col("date").str.to_date())
    assert told.to_dicts() == expected.to_dicts()
