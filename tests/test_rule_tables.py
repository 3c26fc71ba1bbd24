"""The decision tables on small inline frames of facts, without files: follow-up (SPEC 4) via
`followup.decide()` and the account status table (SPEC 3) via `account_status.account_rules`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from followup_cli.core import follow_up_tables as followup
from followup_cli.core.account_status import account_reason, account_rules, account_status
from followup_cli.core.first_match import first_match

AS_OF = dt.date(2024, 7, 31)

FACTS = pl.Schema(
    {
        "has_agreement": pl.Boolean,
        "origin": pl.String,
        "collections_id": pl.String,
        "past_due_cents": pl.Int64,
        "oldest_unpaid_on": pl.Date,
        "suspended_id": pl.String,
        "active_id": pl.String,
        "renewal_id": pl.String,
        "renewal_left": pl.Int64,
        "drop_in_id": pl.String,
        "inactive_id": pl.String,
        "inactive_alert": pl.String,
        "next_event_id": pl.String,
        "next_event_at": pl.Datetime("us"),
        "next_event_kind": pl.String,
        "last_event_id": pl.String,
        "last_event_at": pl.Datetime("us"),
        "last_event_kind": pl.String,
        "last_event_outcome": pl.String,
    }
)


def _facts(**given: Any) -> pl.DataFrame:
    """One person's facts: every column null (or False) unless given."""
    row = dict.fromkeys(FACTS.names())
    row["has_agreement"] = False
    row.update(given)
    return pl.DataFrame([row], schema=FACTS)


JULY_20 = dt.datetime(2024, 7, 20, 18, 0)
AUGUST_2 = dt.datetime(2024, 8, 2, 9, 30)

DECISIONS = [
    # Customers: money problems outrank a freeze, a freeze outranks good standing.
    (
        {"collections_id": "A-1", "past_due_cents": 800, "suspended_id": "A-2"},
        ("Customer", "Collections Customer", "collections: agreement A-1"),
    ),
    (
        {
            "past_due_cents": 1250,
            "oldest_unpaid_on": dt.date(2024, 6, 28),
            "suspended_id": "A-2",
        },
        ("Customer", "Delinquent Customer", "past due 12.50 since 2024-06-28"),
    ),
    (
        {"past_due_cents": 0, "suspended_id": "A-2", "active_id": "A-3"},
        ("Customer", "Active Customer - Suspended", "suspended: agreement A-2"),
    ),
    (
        {"active_id": "A-3", "inactive_id": "A-1", "inactive_alert": "expired"},
        ("Customer", "Active Customer", "active agreement A-3"),
    ),
    (
        {"renewal_id": "A-4", "renewal_left": 1, "drop_in_id": "A-5"},
        ("Customer", "Renewal Opportunity", "1-session purchase A-4, 1 session left"),
    ),
    (
        {"renewal_id": "A-4", "renewal_left": 3},
        ("Customer", "Renewal Opportunity", "1-session purchase A-4, 3 sessions left"),
    ),
    (
        {"drop_in_id": "A-5", "inactive_id": "A-1", "inactive_alert": "canceled"},
        ("Customer", "Drop-In", "1-session purchase A-5, 0 sessions left"),
    ),
    (
        {"inactive_id": "A-1", "inactive_alert": "canceled"},
        ("Customer", "Canceled Customer", "latest inactive agreement A-1 alert canceled"),
    ),
    (
        {"inactive_id": "A-1", "inactive_alert": "expired"},
        ("Customer", "Expired Customer", "latest inactive agreement A-1 alert expired"),
    ),
    (
        {"inactive_id": "A-1"},
        ("Customer", "Unclassified", "no rule matched: latest inactive agreement A-1 has no alert"),
    ),
    # Prospects: their events first, then where they came from.
    (
        {
            "next_event_id": "E-2",
            "next_event_at": AUGUST_2,
            "next_event_kind": "trial",
            "last_event_id": "E-1",
            "last_event_at": JULY_20,
            "last_event_outcome": "attended",
        },
        ("Prospect", "Trial Booked", "upcoming trial E-2 on 2024-08-02"),
    ),
    (
        {"last_event_id": "E-1", "last_event_at": JULY_20, "last_event_outcome": "attended"},
        ("Prospect", "Trial Show - No Sale", "latest past event E-1 on 2024-07-20 attended"),
    ),
    (
        {
            "last_event_id": "E-1",
            "last_event_at": JULY_20,
            "last_event_kind": "class",
            "last_event_outcome": "scheduled",
            "origin": "referral",
        },
        (
            "Prospect",
            "Trial No Show",
            "latest past class E-1 on 2024-07-20 still marked scheduled, so not attended",
        ),
    ),
    (
        {"origin": "referral"},
        ("Prospect", "Referral", "no events; origin referral"),
    ),
    ({"origin": "web lead"}, ("Prospect", "Web Lead", "no events; origin web lead")),
    ({"origin": "walk-in"}, ("Prospect", "Lead", "no events; origin walk-in")),
    ({}, ("Prospect", "Lead", "no events; no origin")),
]


@pytest.mark.parametrize(("given", "expected"), DECISIONS)
def test_decide_on_one_row_of_facts(given: dict[str, Any], expected: tuple[str, ...]) -> None:
    """decide() gives the first matching rule's status and a reason naming what decided."""
    has_agreement = expected[0] == "Customer"
    row = _facts(has_agreement=has_agreement, **given).select(followup.decide()).row(0)
    assert row == expected


def test_decide_labels_many_rows_at_once() -> None:
    """decide() is one vectorised expression: each row gets its own table's answer."""
    facts = pl.concat(
        [
            _facts(has_agreement=True, active_id="A-1"),
            _facts(origin="web"),
            _facts(has_agreement=True, inactive_id="A-2", inactive_alert="expired"),
        ]
    )
    expected = pl.DataFrame(
        {
            "customer_type": ["Customer", "Prospect", "Customer"],
            "follow_up_status": ["Active Customer", "Web Lead", "Expired Customer"],
        }
    )
    assert_frame_equal(facts.select(followup.decide()[:2]), expected)


ACCOUNTS = [
    # balance, oldest unpaid, days in arrears -> status, reason
    (500, None, None, "Paid in Full", "nothing owed; 5.00 in credit"),
    (0, None, None, "Paid in Full", "nothing owed"),
    (
        -800,
        dt.date(2024, 7, 24),
        7,
        "Due",
        "owes 8.00; oldest unpaid charge due 2024-07-24, 7 days ago (7 or fewer)",
    ),
    (
        -800,
        dt.date(2024, 7, 23),
        8,
        "Warning",
        "owes 8.00; oldest unpaid charge due 2024-07-23, 8 days ago (more than 7)",
    ),
    (
        -9000,
        dt.date(2024, 6, 1),
        60,
        "Warning",
        "owes 90.00; oldest unpaid charge due 2024-06-01, 60 days ago (more than 7)",
    ),
    (
        -9000,
        dt.date(2024, 5, 31),
        61,
        "Disabled",
        "owes 90.00; oldest unpaid charge due 2024-05-31, 61 days ago "
        "(2 months or more; disabled from 2024-07-31)",
    ),
]


@pytest.mark.parametrize(("balance", "oldest", "days", "status", "reason"), ACCOUNTS)
def test_account_status_and_reason_from_one_table(
    balance: int, oldest: dt.date | None, days: int | None, status: str, reason: str
) -> None:
    """Account status and reason are the same table's first match: 7 days is Due, 8 Warning,
    and the oldest unpaid charge plus 2 calendar months is Disabled (05-31 -> 07-31)."""
    figures = pl.DataFrame(
        {"balance_cents": [balance], "oldest_unpaid_on": [oldest], "days_in_arrears": [days]},
        schema={
            "balance_cents": pl.Int64,
            "oldest_unpaid_on": pl.Date,
            "days_in_arrears": pl.Int64,
        },
    )
    rules = account_rules(AS_OF)
    assert [rule.status for rule in rules] == ["Paid in Full", "Disabled", "Warning", "Due"]
    row = figures.select(
        first_match(rules, "status"),
        first_match(rules, "reason").alias("reason"),
        account_status(AS_OF),
        account_reason(AS_OF),
    ).row(0)
    assert row == (status, reason, status, reason)
