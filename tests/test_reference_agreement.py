"""The vectorised ledger agrees with the customer account aggregate on random histories.

`followup_cli.core.oracle` replays each customer through a `CustomerAccount` in plain Python;
`followup_cli.core.ledger.accounts` does every customer at once in Polars. The histories are drawn
around the calendar's awkward days: weekend month ends, leap days, purchases on the weekend
after a month's billing date, and as-of dates on weekends, month ends and billing dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from followup_cli.core.account_status import ACCOUNT_RULE
from followup_cli.core.ledger import LedgerSettings, accounts
from followup_cli.core.oracle import (
    AccountReconciled,
    CustomerAccount,
    OneOffPaymentMade,
    RecurringPaymentMade,
    SubscriptionStarted,
    billing_date,
    reference_accounts,
)

# Two leap years: 2020-02-29 is a Saturday (February 2020 bills on Friday the 28th) and
# 2024-02-29 a Thursday. Both windows hold weekend month ends (2019-11-30, 2020-05-31,
# 2023-12-31, 2024-03-31, 2024-06-30) and span more than the two months to Disabled.
WINDOWS = (dt.date(2019, 10, 1), dt.date(2023, 10, 1))
WINDOW_DAYS = 330


def awkward_days(start: dt.date) -> list[dt.date]:
    """Billing dates, month ends, and the weekend days between them, in the window."""
    days = []
    for offset in range(WINDOW_DAYS + 1):
        day = start + dt.timedelta(days=offset)
        month_end = (day + dt.timedelta(days=1)).month != day.month
        if month_end or day >= billing_date(day.year, day.month):
            days.append(day)
    return days


AWKWARD = {start: awkward_days(start) for start in WINDOWS}
AGREEMENTS_SCHEMA = {
    "cust_idx": pl.UInt32,
    "agreement_id": pl.String,
    "purchase_date": pl.Date,
    "monthly_fee": pl.Int64,
    "end_date": pl.Date,
}
PAYMENTS_SCHEMA = {
    "cust_idx": pl.UInt32,
    "payment_id": pl.String,
    "paid_on": pl.Date,
    "amount": pl.Int64,
    "kind": pl.String,
}


@dataclass(frozen=True)
class History:
    as_of: dt.date
    surcharge_cents: int
    agreements: pl.DataFrame
    payments: pl.DataFrame


def status_boundaries(due: dt.date) -> list[dt.date]:
    """The as-of dates where a charge due on `due` changes status: 7 and 8 days later (Due,
    Warning), the day before and the day of two calendar months later (Warning, Disabled)."""
    two_months = due + relativedelta(months=2)
    return [
        due,
        due + dt.timedelta(days=7),
        due + dt.timedelta(days=8),
        two_months - dt.timedelta(days=1),
        two_months,
    ]


fees = st.one_of(
    st.none(),  # not a subscription (a class pack or a drop-in)
    st.sampled_from([0, 400, 3000]),
    st.integers(0, 10_000),
)
amounts = st.one_of(st.sampled_from([1, 50, 99, 100, 400, 900, 1300, 3300]), st.integers(1, 20_000))


@st.composite
def histories(
    draw: st.DrawFn, customers: int = 6, agreements_each: int = 3, payments_each: int = 5
) -> History:
    """A few customers' agreements and payments in one window, and an as-of date.

    The as-of date is often drawn from the status boundaries of a customer's first charge
    (a subscription's first fee or a one-off payment's surcharge), the likeliest oldest
    unpaid one, so that the 7-day and 2-month edges are met often rather than by luck.
    """
    start = draw(st.sampled_from(WINDOWS))
    anywhere = st.integers(0, WINDOW_DAYS).map(lambda days: start + dt.timedelta(days=days))
    days = st.one_of(anywhere, st.sampled_from(AWKWARD[start]))
    agreements: list[dict[str, object]] = []
    payments: list[dict[str, object]] = []
    first_charges = []
    for cust in range(draw(st.integers(1, customers))):
        charge_days = []
        for _ in range(draw(st.integers(0, agreements_each))):
            purchased = draw(days)
            fee = draw(fees)
            ends = draw(st.none() | st.integers(0, 200))
            agreements.append(
                {
                    "cust_idx": cust,
                    "agreement_id": f"A-{len(agreements)}",
                    "purchase_date": purchased,
                    "monthly_fee": fee,
                    # validation guarantees end_date >= purchase_date
                    "end_date": None if ends is None else purchased + dt.timedelta(days=ends),
                }
            )
            if fee:
                charge_days.append(max(purchased, billing_date(purchased.year, purchased.month)))
        for _ in range(draw(st.sampled_from([0, 0, *range(1, payments_each + 1)]))):
            paid_on = draw(days)
            kind = draw(st.sampled_from(["one-off", "recurring"]))
            payments.append(
                {
                    "cust_idx": cust,
                    "payment_id": f"P-{len(payments)}",
                    "paid_on": paid_on,
                    "amount": draw(amounts),
                    "kind": kind,
                }
            )
            if kind == "one-off":
                charge_days.append(paid_on)
        first_charges += [min(charge_days)] if charge_days else []
    edges = [edge for day in first_charges for edge in status_boundaries(day)]
    as_of = draw(st.one_of(days, st.sampled_from(edges), st.sampled_from(edges)) if edges else days)
    surcharge = draw(st.one_of(st.just(100), st.sampled_from([0, 1, 250])))
    return History(
        as_of,
        surcharge,
        pl.DataFrame(agreements, schema=AGREEMENTS_SCHEMA),
        pl.DataFrame(payments, schema=PAYMENTS_SCHEMA),
    )


def fast_accounts(history: History) -> pl.DataFrame:
    """The main path, given what validation hands it: nothing bought or paid after as_of."""
    as_of = history.as_of
    agreements = history.agreements.filter(pl.col("purchase_date") <= as_of)
    payments = history.payments.filter(pl.col("paid_on") <= as_of)
    settings = LedgerSettings(surcharge_cents=history.surcharge_cents)
    return (
        accounts(agreements.lazy(), payments.lazy(), as_of, settings)
        .collect()
        .drop(ACCOUNT_RULE)
        .sort("cust_idx")
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_fast_path_agrees_with_the_account_aggregate(history: History) -> None:
    """Every ledger column agrees; the aggregate is given the rows after as_of and drops them."""
    expected = reference_accounts(
        history.agreements, history.payments, history.as_of, history.surcharge_cents
    )
    assert_frame_equal(fast_accounts(history), expected)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(customers=1, agreements_each=1, payments_each=1))
def test_fast_path_agrees_at_the_status_edges(history: History) -> None:
    """One subscription and at most one payment: as-of dates on the 7-day and 2-month edges."""
    expected = reference_accounts(
        history.agreements, history.payments, history.as_of, history.surcharge_cents
    )
    assert_frame_equal(fast_accounts(history), expected)


def test_story_customers_replayed_as_events() -> None:
    """The five customers of the story (seed 003), as of 31 July 2024, as issue 3 expects."""
    fee = 400
    story = {
        1: [
            SubscriptionStarted("A-1", dt.date(2024, 3, 1), fee),
            OneOffPaymentMade("P-1", dt.date(2024, 3, 1), 900),
            RecurringPaymentMade("P-2", dt.date(2024, 5, 15), 400),
            RecurringPaymentMade("P-3", dt.date(2024, 6, 15), 400),
        ],
        2: [
            SubscriptionStarted("A-2", dt.date(2024, 2, 1), fee),
            OneOffPaymentMade("P-4", dt.date(2024, 3, 31), 1300),
            RecurringPaymentMade("P-5", dt.date(2024, 4, 29), 400),
            RecurringPaymentMade("P-6", dt.date(2024, 5, 29), 400),
            RecurringPaymentMade("P-7", dt.date(2024, 6, 29), 400),
        ],
        3: [
            SubscriptionStarted("A-3", dt.date(2024, 1, 1), fee),
            OneOffPaymentMade("P-8", dt.date(2024, 1, 15), 3300),
        ],
        4: [SubscriptionStarted("A-4", dt.date(2024, 7, 1), fee)],
        5: [
            SubscriptionStarted("A-5", dt.date(2024, 4, 1), fee),
            RecurringPaymentMade("P-9", dt.date(2024, 4, 29), 400),
            RecurringPaymentMade("P-10", dt.date(2024, 5, 29), 400),
        ],
    }
    seen = {}
    for customer, events in story.items():
        account = CustomerAccount()
        for event in [*events, AccountReconciled(dt.date(2024, 7, 31))]:
            account.on(event)
        seen[customer] = (
            account.account_status(),
            account.balance_cents(),
            account.past_due_cents(),
            account.oldest_unpaid_on(),
            account.days_in_arrears(),
        )
    assert seen == {
        1: ("Due", -400, 0, dt.date(2024, 7, 31), 0),
        2: ("Paid in Full", 0, 0, None, None),
        3: ("Paid in Full", 400, 0, None, None),
        4: ("Due", -400, 0, dt.date(2024, 7, 31), 0),
        5: ("Warning", -800, 400, dt.date(2024, 6, 28), 33),
    }


def test_aggregate_ignores_what_happens_after_the_reconciliation_date() -> None:
    """Reconciling again at an earlier date forgets later purchases, payments and charges."""
    account = CustomerAccount()
    for event in (
        SubscriptionStarted("A-1", dt.date(2024, 3, 1), 400),
        SubscriptionStarted("A-2", dt.date(2024, 8, 5), 400),
        RecurringPaymentMade("P-1", dt.date(2024, 8, 1), 400),
        AccountReconciled(dt.date(2024, 4, 30)),
    ):
        account.on(event)
    # March (due Fri 29th) and April (due Tue 30th) at 4.00 each; the August payment not yet.
    assert [line.charge.due_on for line in account.ledger()] == [
        dt.date(2024, 3, 29),
        dt.date(2024, 4, 30),
    ]
    assert (account.balance_cents(), account.past_due_cents()) == (-800, 400)
    assert account.account_status() == "Warning"  # 2024-04-30 - 2024-03-29 = 32 days
