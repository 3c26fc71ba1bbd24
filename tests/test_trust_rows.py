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

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from followup_cli.reference import billing_date, reference_accounts
from tests.test_reference_agreement import (
    AGREEMENTS_SCHEMA,
    PAYMENTS_SCHEMA,
    History,
    fast_accounts,
)

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
    from followup_cli.ledger import LedgerSettings, accounts

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
