"""Rows a club system can be trusted with (issue 9, items 9 to 11; SPEC 2, 3 and 6).

Placeholder dates are refused instead of exhausting memory, the oldest unpaid charge is found
without one row per owed month, more sessions left than bought is a valid agreement, and every
reject carries the row's own id and fits in 200 characters.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from followup_cli.core.oracle import billing_date, reference_accounts
from followup_cli.outputs.summary import describe_rejects
from tests.conftest import write_exports
from tests.test_reference_agreement import (
    AGREEMENTS_SCHEMA,
    PAYMENTS_SCHEMA,
    History,
    fast_accounts,
)

Invoke = Callable[..., Any]

# --- The oldest unpaid charge, in closed form, against the event-sourced reference -----------

# As-of days around weekend month ends and billing dates: 2024-03-31 and 2024-06-30 are
# Sundays (March bills Fri 29th, June Fri 28th), 2024-08-31 a Saturday, 2025-02-28 a Friday.
AS_OF_DAYS = [
    dt.date(2024, 3, 29),
    dt.date(2024, 3, 30),
    dt.date(2024, 3, 31),
    dt.date(2024, 6, 28),
    dt.date(2024, 6, 30),
    dt.date(2024, 7, 31),
    dt.date(2024, 8, 31),
    dt.date(2025, 2, 28),
]
MONTHS_BACK = 96  # eight years of history: many months per span, spans cut by many agreements


def _month_start(day: dt.date, back: int) -> dt.date:
    months = day.year * 12 + day.month - 1 - back
    return dt.date(months // 12, months % 12 + 1, 1)


@st.composite
def _day_in_history(draw: st.DrawFn, as_of: dt.date) -> dt.date:
    """A day up to eight years before as_of: often a month's first, its billing date, the day
    after (a weekend purchase after the billing date when the month ends on a weekend), or
    its last day."""
    first = _month_start(as_of, draw(st.integers(0, MONTHS_BACK)))
    bills = billing_date(first.year, first.month)
    last = _month_start(first, -1) - dt.timedelta(days=1)
    return draw(
        st.sampled_from([first, bills, bills + dt.timedelta(days=1), last])
        | st.integers(0, (last - first).days).map(lambda days: first + dt.timedelta(days=days))
    )


@st.composite
def long_histories(draw: st.DrawFn) -> History:
    """Customers with several subscriptions bought years apart (some ended), one-off and
    recurring payments, credits that run out anywhere in the history."""
    as_of = draw(
        st.sampled_from(AS_OF_DAYS)
        | st.integers(0, 365).map(lambda days: dt.date(2024, 1, 1) + dt.timedelta(days=days))
    )
    days = _day_in_history(as_of)
    agreements: list[dict[str, object]] = []
    payments: list[dict[str, object]] = []
    for cust in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(1, 4))):
            purchased = draw(days)
            ends = draw(st.none() | st.integers(0, 3000))
            agreements.append(
                {
                    "cust_idx": cust,
                    "agreement_id": f"A-{len(agreements)}",
                    "purchase_date": purchased,
                    "monthly_fee": draw(st.sampled_from([0, 400, 3000]) | st.integers(1, 5000)),
                    "end_date": None if ends is None else purchased + dt.timedelta(days=ends),
                }
            )
        for _ in range(draw(st.integers(0, 6))):
            payments.append(
                {
                    "cust_idx": cust,
                    "payment_id": f"P-{len(payments)}",
                    "paid_on": draw(days),
                    "amount": draw(st.sampled_from([1, 100, 400, 3000]) | st.integers(1, 300_000)),
                    "kind": draw(st.sampled_from(["one-off", "recurring"])),
                }
            )
    return History(
        as_of,
        draw(st.just(100) | st.sampled_from([0, 1, 250])),
        pl.DataFrame(agreements, schema=AGREEMENTS_SCHEMA),
        pl.DataFrame(payments, schema=PAYMENTS_SCHEMA),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_histories())
def test_closed_form_ledger_agrees_with_the_reference_over_years(history: History) -> None:
    """Several subscriptions over eight years: oldest unpaid, balance, past due, days in
    arrears and status all agree with the replay that lists every charge."""
    expected = reference_accounts(
        history.agreements, history.payments, history.as_of, history.surcharge_cents
    )
    assert_frame_equal(fast_accounts(history), expected)


def test_a_charge_due_on_a_weekend_purchase_is_found_inside_its_month() -> None:
    """June 2024 bills Fri 06-28. A-1 (bought 06-03) is due 06-28, A-2 (bought Sat 06-29)
    is due 06-29, a surcharge on 06-30. Credits of 4.00 pay A-1 only: oldest unpaid 06-29."""
    agreements = pl.DataFrame(
        {
            "cust_idx": [0, 0],
            "agreement_id": ["A-1", "A-2"],
            "purchase_date": [dt.date(2024, 6, 3), dt.date(2024, 6, 29)],
            "monthly_fee": [400, 400],
            "end_date": [dt.date(2024, 6, 30), dt.date(2024, 6, 30)],
        },
        schema=AGREEMENTS_SCHEMA,
    )
    # One-off 5.00 on Sun 06-30: 5.00 of credit, 1.00 of it surcharge due 06-30.
    payments = pl.DataFrame(
        {
            "cust_idx": [0],
            "payment_id": ["P-1"],
            "paid_on": [dt.date(2024, 6, 30)],
            "amount": [500],
            "kind": ["one-off"],
        },
        schema=PAYMENTS_SCHEMA,
    )
    got = fast_accounts(History(dt.date(2024, 7, 31), 100, agreements, payments))
    # Charges 4.00 (06-28) + 4.00 (06-29) + 1.00 (06-30) = 9.00; credits 5.00 settle 06-28's
    # 4.00 and 1.00 of 06-29's. Unpaid since 06-29: 32 days to 07-31, Warning.
    assert got.select(
        "balance_cents", "past_due_cents", "oldest_unpaid_on", "days_in_arrears", "account_status"
    ).row(0) == (-400, 400, dt.date(2024, 6, 29), 32, "Warning")


_MEMORY_PROBE = textwrap.dedent(
    """
    import datetime as dt, json, resource, sys
    import polars as pl
    from followup_cli.core.ledger import LedgerSettings, accounts

    people, each = int(sys.argv[1]), 3
    rows = people * each
    agreements = pl.DataFrame({
        "cust_idx": pl.Series([i // each for i in range(rows)], dtype=pl.UInt32),
        "agreement_id": [f"A-{i}" for i in range(rows)],
        "purchase_date": [dt.date(1900, 1, 1)] * rows,
        "monthly_fee": [3000] * rows,
        "end_date": pl.Series([None] * rows, dtype=pl.Date),
    })
    payments = pl.DataFrame({
        "cust_idx": pl.Series(range(people), dtype=pl.UInt32),
        "payment_id": [f"P-{i}" for i in range(people)],
        "paid_on": [dt.date(1950, 1, 1)] * people,
        "amount": [3000 * each * 12 * 30] * people,
        "kind": ["one-off"] * people,
    })
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = accounts(agreements.lazy(), payments.lazy(), dt.date(2024, 7, 31), LedgerSettings())
    out = out.collect()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "grown_kb": after - before,
        "oldest": sorted({str(d) for d in out["oldest_unpaid_on"]}),
        "statuses": sorted(set(out["account_status"])),
    }))
    """
)


def _ledger_memory(people: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(people)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_owing_since_1900_does_not_list_a_row_per_month() -> None:
    """2,000 people with three 30.00 subscriptions from 1900-01-01, paid for 30 years: the
    ledger's peak memory grows by less than 100 MB over 10 such people (listing one row per
    owed month took about 800 MB more)."""
    small, large = _ledger_memory(10), _ledger_memory(2000)
    # Credits of 360 months of 3 x 30.00 settle 1900-01 through 1929-12 exactly (the 1950
    # surcharge is due later): January 1930, due Fri 1930-01-31, is the oldest unpaid.
    assert large["oldest"] == small["oldest"] == ["1930-01-31"]
    assert large["statuses"] == ["Disabled"]
    grown_kb = large["grown_kb"]
    assert isinstance(grown_kb, int)
    assert grown_kb - int(str(small["grown_kb"])) < 100 * 1024


# --- Implausible dates (SPEC 6): refused with a reason, in CSV text and Parquet dates alike ---

BASE: dict[str, list[str]] = {
    "customers": ["C-1,Ann Lee,web,2024-01-10", "C-2,Bo Chen,referral,2024-02-01"],
    "agreements": ["A-1,C-1,2024-03-01,,,active,,4.00,"],
    "payments": ["P-1,C-1,2024-03-29,4.00,recurring"],
    "events": ["E-1,C-2,2024-07-20 10:00,trial,attended"],
}
# As of 2024-07-31 the plausible dates run from 1900-01-01 through 2124-07-31.
BEFORE = "implausible date {}: before 1900-01-01; a placeholder?"
AFTER = "implausible date {}: after 2124-07-31 (100 years after the as-of date); a typo?"


def _row(table: str, date: str) -> str:
    """A third row for `table` that is fine but for `date` in its date column."""
    return {
        "customers": f"C-3,Cy Diaz,web,{date}",
        "agreements": f"A-2,C-2,{date},,,active,,4.00,",
        "end_date": f"A-2,C-2,2024-03-01,,,active,,4.00,{date}",
        "payments": f"P-2,C-1,{date},4.00,recurring",
        "events": f"E-2,C-1,{date},trial,attended",
    }[table]


@pytest.mark.parametrize(
    ("table", "column", "record_id"),
    [
        ("customers", "created_on", "C-3"),
        ("agreements", "purchase_date", "A-2"),
        ("end_date", "end_date", "A-2"),
        ("payments", "paid_on", "P-2"),
        ("events", "starts_at", "E-2"),
    ],
)
@pytest.mark.parametrize(
    ("date", "reason"),
    [
        ("0001-01-01", BEFORE.format("0001-01-01")),
        ("1899-12-31", BEFORE.format("1899-12-31")),
        ("2124-08-01", AFTER.format("2124-08-01")),
        ("9999-12-31", AFTER.format("9999-12-31")),
    ],
    ids=["year-1", "1899", "100-years-and-a-day", "9999"],
)
def test_an_implausible_csv_date_is_rejected(
    tmp_path: Path, invoke: Invoke, table: str, column: str, record_id: str, date: str, reason: str
) -> None:
    """Every date column refuses a date before 1900 or more than 100 years after as-of."""
    file = "agreements" if table == "end_date" else table
    tables = {**BASE, file: [*BASE[file], _row(table, date)]}
    folder = write_exports(tmp_path / "exports", tables)
    result = _reconcile(invoke, folder, tmp_path)
    assert result.exit_code == 1, result.stderr
    rejects = pl.read_csv(tmp_path / "out-rejects.csv", infer_schema=False).rows()
    line = len(BASE[file]) + 2
    assert rejects == [(f"{file}.csv", str(line), record_id, column, date, reason)]


@pytest.mark.parametrize(
    ("table", "date"),
    [
        ("customers", "1900-01-01"),
        ("agreements", "1900-01-01"),
        ("end_date", "2124-07-31"),
        ("payments", "1900-01-01"),
        ("events", "2124-07-31 23:59"),
    ],
)
def test_the_first_and_last_plausible_dates_are_accepted(
    tmp_path: Path, invoke: Invoke, table: str, date: str
) -> None:
    """1900-01-01 and as-of plus 100 years (any time of that day) are still dates."""
    file = "agreements" if table == "end_date" else table
    tables = {**BASE, file: [*BASE[file], _row(table, date)]}
    result = _reconcile(invoke, write_exports(tmp_path / "exports", tables), tmp_path)
    assert result.exit_code == 0, result.stderr


def _reconcile(invoke: Invoke, folder: Path, tmp_path: Path, *options: str) -> Any:
    # Tiny tables: one bad row in two is over the default --max-rejected of 50%.
    result = invoke(
        "reconcile",
        "--max-rejected",
        "100%",
        "--data",
        str(folder),
        "--as-of",
        "2024-07-31",
        "-o",
        str(tmp_path / "out.csv"),
        *options,
    )
    assert "Traceback" not in result.stderr
    return result


def test_implausible_parquet_dates_and_times_are_rejected(tmp_path: Path, invoke: Invoke) -> None:
    """Native Parquet dates and timestamps are checked as CSV text is: row by row."""
    folder = tmp_path / "pq"
    folder.mkdir()
    pl.DataFrame(
        {
            "customer_id": ["C-1", "C-2", "C-3"],
            "created_on": [dt.date(2024, 1, 1), dt.date(1, 1, 1), dt.date(1900, 1, 1)],
        }
    ).write_parquet(folder / "customers.parquet")
    pl.DataFrame(
        {
            "agreement_id": [101, 102],  # integer ids: record_id is their text
            "customer_id": ["C-1", "C-1"],
            "purchase_date": [dt.date(2024, 1, 1), dt.date(2024, 2, 1)],
            "status": ["active", "active"],
            "end_date": [dt.date(2124, 7, 31), dt.date(2124, 8, 1)],
        }
    ).write_parquet(folder / "agreements.parquet")
    pl.DataFrame(
        {
            "payment_id": ["P-1"],
            "customer_id": ["C-1"],
            "paid_on": [dt.date(1899, 12, 31)],
            "amount": pl.Series([400]),
            "kind": ["recurring"],
        }
    ).write_parquet(folder / "payments.parquet")
    pl.DataFrame(
        {
            "event_id": ["E-1", "E-2"],
            "customer_id": ["C-3", "C-3"],
            "starts_at": [dt.datetime(2024, 7, 1, 10), dt.datetime(3024, 7, 1, 10)],
            "outcome": ["attended", "scheduled"],
        }
    ).write_parquet(folder / "events.parquet")
    result = _reconcile(invoke, folder, tmp_path)
    assert result.exit_code == 1, result.stderr
    rejects = pl.read_csv(tmp_path / "out-rejects.csv", infer_schema=False).rows()
    assert rejects == [
        ("customers.parquet", "2", "C-2", "created_on", "0001-01-01", BEFORE.format("0001-01-01")),
        ("agreements.parquet", "2", "102", "end_date", "2124-08-01", AFTER.format("2124-08-01")),
        ("payments.parquet", "1", "P-1", "paid_on", "1899-12-31", BEFORE.format("1899-12-31")),
        (
            "events.parquet",
            "2",
            "E-2",
            "starts_at",
            "3024-07-01 10:00:00.000000",
            AFTER.format("3024-07-01"),
        ),
    ]


def test_placeholder_purchase_dates_are_set_aside_not_billed(
    tmp_path: Path, invoke: Invoke
) -> None:
    """8,000 subscribers with a placeholder agreement bought 0001-01-01 (issue 9's 13 GB run):
    each of those rows is refused, and their real subscriptions are reconciled."""
    people = 8000
    customers = [f"C-{i},Person {i},web,2024-01-01" for i in range(people)]
    placeholders = [f"A-{i},C-{i},0001-01-01,,,active,,30.00," for i in range(people)]
    # Bought 2024-07-01, nothing paid: July's 30.00 is due on Wed 07-31, the as-of day.
    real = [f"B-{i},C-{i},2024-07-01,,,active,,30.00," for i in range(people)]
    drop_ins = [f"D-{i},C-{i},2024-07-01,1,0,active,,," for i in range(100)]  # under half refused
    tables = {
        "customers": customers,
        "agreements": [*placeholders, *real, *drop_ins],
        "payments": [],
        "events": [],
    }
    # No payments at all is deliberate here (a header-only payments file is refused).
    folder = write_exports(tmp_path / "exports", tables)
    (folder / "payments.csv").unlink()
    result = _reconcile(invoke, folder, tmp_path, "--without", "payments")
    assert result.exit_code == 1, result.stderr
    rejects = pl.read_csv(tmp_path / "out-rejects.csv", infer_schema=False)
    assert rejects.height == people
    assert set(rejects.get_column("reason")) == {BEFORE.format("0001-01-01")}
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    assert set(out.select("account_status", "balance", "oldest_unpaid_on").rows()) == {
        ("Due", "-30.00", "2024-07-31")
    }


# --- More sessions left than bought is valid (SPEC 2: bonus or transferred sessions) ---------


def test_more_sessions_left_than_bought_is_a_renewal_opportunity(
    tmp_path: Path, invoke: Invoke
) -> None:
    """A 1-session purchase with 3 left (2 bonus) is used: Renewal Opportunity, nothing set
    aside (it was rejected as impossible before)."""
    tables = {**BASE, "agreements": [*BASE["agreements"], "A-2,C-2,2024-03-01,1,3,active,,,"]}
    result = _reconcile(invoke, write_exports(tmp_path / "exports", tables), tmp_path)
    assert result.exit_code == 0, result.stderr
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    assert out.filter(pl.col("customer_id") == "C-2").select(
        "customer_type", "follow_up_status", "reason"
    ).row(0) == ("Customer", "Renewal Opportunity", "1-session purchase A-2, 3 sessions left")
    assert not (tmp_path / "out-rejects.csv").exists()


# --- record_id, and every rejected text cut to 200 characters (SPEC 6) ------------------------


def test_every_reject_names_its_row_by_its_own_key(tmp_path: Path, invoke: Invoke) -> None:
    """The record_id is the customer_id, agreement_id, payment_id or event_id as written on
    the rejected row; for a row that cannot be split, the field where the key would be, and
    empty when that field is empty."""
    tables = {
        "customers": [*BASE["customers"], " C-7 ,Cy Diaz,web,2024-02-30"],
        "agreements": [*BASE["agreements"], "A-9,C-1,2024-03-01,,,paused,,,"],
        "payments": [
            *BASE["payments"],
            "P-8,C-1,2024-03-29,4.00",  # 4 fields: the key is still the first
            ",C-1,2024-03-29,4.00,recurring,extra",  # 6 fields, no key to guess
        ],
        "events": [*BASE["events"], "E-5,C-404,2024-07-20 10:00,trial,attended"],
    }
    result = _reconcile(invoke, write_exports(tmp_path / "exports", tables), tmp_path)
    assert result.exit_code == 1, result.stderr
    rejects = pl.read_csv(tmp_path / "out-rejects.csv", infer_schema=False)
    assert rejects.columns == ["file", "line", "record_id", "column", "value", "reason"]
    assert rejects.select("file", "line", "record_id", "column").rows() == [
        ("customers.csv", "4", " C-7 ", "created_on"),
        ("agreements.csv", "3", "A-9", "status"),
        ("payments.csv", "3", "P-8", "*"),
        ("payments.csv", "4", None, "*"),
        ("events.csv", "3", "E-5", "customer_id"),
    ]


def test_a_huge_id_makes_no_huge_reject(tmp_path: Path, invoke: Invoke) -> None:
    """A 10 MB id, repeated, and named by a payment: every record_id, value and reason in the
    rejects file is at most 200 characters, the quoted id inside a reason is cut, and stderr
    stays small."""
    huge = "X" * 10_000_000
    tables = {
        "customers": [*BASE["customers"], f"{huge},A,web,2024-01-01", f"{huge},B,web,2024-01-01"],
        "agreements": BASE["agreements"],
        "payments": [*BASE["payments"], f"P-2,{huge}Y,2024-03-29,4.00,recurring"],
        "events": BASE["events"],
    }
    result = _reconcile(invoke, write_exports(tmp_path / "exports", tables), tmp_path)
    assert result.exit_code == 1, result.stderr
    rejects = pl.read_csv(tmp_path / "out-rejects.csv", infer_schema=False)
    lengths = rejects.select(pl.col("record_id", "value").str.len_chars()).rows()
    assert lengths == [(200, 200), (200, 200), (3, 200)]
    quoted = f"'{'X' * 37}...'"
    assert rejects.select("line", "column", "reason").rows() == [
        ("4", "customer_id", "value is 10000000 characters long; at most 1000 are accepted"),
        (
            "5",
            "customer_id",
            f"duplicate customer_id {quoted}: line 4 has it already; this later row is set aside",
        ),
        ("3", "customer_id", f"customer {quoted} is not in the customers file"),
    ]
    assert len(result.stderr) < 5_000


def test_describe_rejects_cuts_long_reasons() -> None:
    """The sentences on stderr quote at most 40 characters of a value and 200 of a reason."""
    rejects = pl.DataFrame(
        {
            "file": ["customers.csv"],
            "line": [4],
            "record_id": ["C-3"],
            "column": ["name"],
            "value": ["v" * 1000],
            "reason": ["r" * 1000],
        }
    )
    (sentence,) = describe_rejects(rejects)
    assert sentence == (
        f"customers.csv line 4, column name: {'r' * 197}... (value '{'v' * 37}...')"
    )
