"""The decision tables on small inline frames of facts, without files: follow-up (SPEC 4) via
`followup.labelled()` and the account status table (SPEC 3) via `account_status.account_rules`;
and each reason made over the rows its rule decided (`first_match.reasons`) is the one a
single when/then chain gives."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from followup_cli.core import follow_up_tables as followup
from followup_cli.core.account_status import (
    ACCOUNT_RULE,
    account_rule,
    account_rules,
    account_status,
    with_account_reason,
)
from followup_cli.core.first_match import Rule, first_match, reasons, rule_number

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
    """labelled() gives the first matching rule's status and a reason naming what decided."""
    has_agreement = expected[0] == "Customer"
    row = _labels(_facts(has_agreement=has_agreement, **given)).row(0)
    assert row == expected


def _labels(facts: pl.DataFrame) -> pl.DataFrame:
    return followup.labelled(facts).select("customer_type", "follow_up_status", "reason")


def _chunked(rows: list[pl.DataFrame], how: str) -> pl.DataFrame:
    """One-row frames put together in one chunk, in many (Polars merges some, differently for
    each column), or side by side from columns in many chunks and in one, as the run's facts
    are (`pipeline.people_facts`)."""
    if how == "one chunk":
        return pl.concat(rows).rechunk()
    each = pl.concat(rows, rechunk=False)
    if how == "in many chunks":
        return each
    whole = pl.concat(rows).rechunk()
    columns = [*each.get_columns()[:6], *whole.get_columns()[6:]]
    return pl.DataFrame(columns)  # as they are: a horizontal concat may rechunk them


@pytest.mark.parametrize("how", ["one chunk", "in many chunks", "side by side"])
def test_labelled_many_rows_in_their_order_as_one_chain_would(how: str) -> None:
    """Every decision above, each four times, shuffled: each row keeps its own status and
    reason (the reasons are made rule by rule and put back in the rows' order), the same as
    one when/then chain over all the rows, however the facts' columns are chunked (Polars
    2.1's `pl.format` panicked over rows filtered from columns chunked differently)."""
    rows = [(given, expected) for given, expected in DECISIONS for _ in range(4)]
    random.Random(5).shuffle(rows)
    facts = _chunked(
        [_facts(has_agreement=expected[0] == "Customer", **given) for given, expected in rows],
        how,
    )
    customer, prospect = followup.customer_rules(), followup.prospect_rules()
    is_customer = pl.col("has_agreement")
    chain = facts.select(
        pl.when(is_customer).then(pl.lit("Customer")).otherwise(pl.lit("Prospect")).alias("a"),
        pl.when(is_customer)
        .then(first_match(customer, "status"))
        .otherwise(first_match(prospect, "status"))
        .alias("b"),
        pl.when(is_customer)
        .then(first_match(customer, "reason"))
        .otherwise(first_match(prospect, "reason"))
        .alias("c"),
    )
    got = _labels(facts)
    assert got.rows() == [expected for _, expected in rows]
    assert got.rows() == chain.rows()


def test_reasons_are_made_only_for_the_rows_their_rule_decided() -> None:
    """Each rule's reason is computed over the rows that rule decided and no others (a
    when/then chain computes every branch for every row); a row no rule decides has none."""
    frame = pl.DataFrame({"kind": ["word", "day", "none", "word"], "x": ["a", "b", "c", "d"]})
    seen: list[list[str]] = []

    def shown(values: pl.Series) -> pl.Series:
        seen.append(values.to_list())
        return values.str.to_uppercase()

    rules = [
        Rule("word", pl.col("kind") == "word", pl.format("word {}", pl.col("x"))),
        Rule(
            "day",
            pl.col("kind") == "day",
            pl.format("day {}", pl.col("x").map_batches(shown, return_dtype=pl.String)),
        ),
    ]
    frame.select(first_match(rules, "reason").alias("reason"))
    assert sorted(value for values in seen for value in values) == ["a", "b", "c", "d"]
    seen.clear()
    numbered = frame.with_columns(rule_number(rules).alias("rule"))
    assert numbered.get_column("rule").to_list() == [0, 1, None, 0]
    got = reasons(frame, rules, numbered.get_column("rule"))
    assert got.to_list() == ["word a", "day B", None, "word d"]
    assert [value for values in seen for value in values] == ["b"]


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
    assert_frame_equal(_labels(facts).drop("reason"), expected)


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


def _account_figures(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """The ledger's figures an account status is decided from: (balance, oldest, days) rows."""
    return pl.DataFrame(
        rows,
        schema={
            "balance_cents": pl.Int64,
            "oldest_unpaid_on": pl.Date,
            "days_in_arrears": pl.Int64,
        },
        orient="row",
    )


@pytest.mark.parametrize(("balance", "oldest", "days", "status", "reason"), ACCOUNTS)
def test_account_status_and_reason_from_one_table(
    balance: int, oldest: dt.date | None, days: int | None, status: str, reason: str
) -> None:
    """Account status and reason are the same table's first match: 7 days is Due, 8 Warning,
    and the oldest unpaid charge plus 2 calendar months is Disabled (05-31 -> 07-31)."""
    figures = _account_figures([(balance, oldest, days)])
    rules = account_rules(AS_OF)
    assert [rule.status for rule in rules] == ["Paid in Full", "Disabled", "Warning", "Due"]
    chain = figures.select(
        first_match(rules, "status").alias("status"), first_match(rules, "reason").alias("reason")
    )
    decided = with_account_reason(
        figures.with_columns(account_status(AS_OF), account_rule(AS_OF)), AS_OF
    )
    assert ACCOUNT_RULE not in decided.columns
    got = decided.select("account_status", "account_reason")
    assert chain.row(0) == (status, reason)
    assert got.row(0) == (status, reason)


def test_account_reasons_over_accounts_in_several_chunks() -> None:
    """A bucket's accounts came in four chunks, over which Polars 2.1's streaming engine
    panicked in `pl.format` once rows were filtered: every account gets its table's reason,
    in its own row, whatever the chunks (here four of three rows, in a shuffled order)."""
    pick = random.Random(3)
    chunks = []
    for _ in range(4):
        rows = [pick.choice(ACCOUNTS) for _ in range(3)]
        chunks.append(
            _account_figures([row[:3] for row in rows]).with_columns(
                account_status(AS_OF), account_rule(AS_OF)
            )
        )
    accounts = pl.concat(chunks, rechunk=False)
    assert accounts.n_chunks() == 4
    got = with_account_reason(accounts, AS_OF).select("account_status", "account_reason")
    wanted = {(row[0], row[1], row[2]): (row[3], row[4]) for row in ACCOUNTS}
    figures = accounts.select("balance_cents", "oldest_unpaid_on", "days_in_arrears").rows()
    assert got.rows() == [wanted[row] for row in figures]


@pytest.mark.parametrize("literal_for", ["nobody", "word", "other"])
def test_a_reason_that_reads_no_column_is_given_to_every_row_its_rule_decided(
    literal_for: str,
) -> None:
    """A literal reason is every decided row's, not one row's, and a literal rule that decides
    no row moves no other row's reason (it did, in a first version: a fresh-eyes review)."""
    frame = pl.DataFrame({"kind": ["word", "other", "other", "word", "other"]})
    rules = [
        Rule("first", pl.col("kind") == literal_for, pl.lit("the literal")),
        Rule("word", pl.col("kind") == "word", pl.format("word {}", pl.col("kind"))),
        Rule("rest", pl.lit(True), pl.format("{} else", pl.col("kind"))),
    ]
    numbered = frame.with_columns(rule_number(rules).alias("rule"))
    chain = frame.select(first_match(rules, "reason").alias("reason"))
    got = reasons(frame, rules, numbered.get_column("rule"))
    assert got.to_list() == chain.get_column("reason").to_list()
    literal = ["the literal" if kind == literal_for else None for kind in frame["kind"]]
    assert [text for text in got if text == "the literal"] == [t for t in literal if t]
