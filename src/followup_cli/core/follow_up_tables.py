"""The follow-up decision tables (SPEC 4): ordered rules, first match wins.

Each table is a list of `Rule`s: the status, the condition over one row per person, and the
reason text naming the record that decided. `decide` folds a table into one when/then chain,
so the precedence is the order of the list, and `explain` can show every rule's verdict.
The facts the conditions read (latest agreement of each sort, next and last event, the
ledger's past due) are computed for all people at once by `agreement_facts` and `event_facts`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from followup_cli.core import money
from followup_cli.core.first_match import Rule, first_match
from followup_cli.core.first_match import verdicts as rule_verdicts
from followup_cli.core.schema import CUST

COLLECTIONS = "Collections Customer"
DELINQUENT = "Delinquent Customer"
SUSPENDED = "Active Customer - Suspended"
ACTIVE = "Active Customer"
RENEWAL = "Renewal Opportunity"
DROP_IN = "Drop-In"
CANCELED = "Canceled Customer"
EXPIRED = "Expired Customer"
UNCLASSIFIED = "Unclassified"
TRIAL_BOOKED = "Trial Booked"
TRIAL_SHOW = "Trial Show - No Sale"
TRIAL_NO_SHOW = "Trial No Show"
REFERRAL = "Referral"
WEB_LEAD = "Web Lead"
LEAD = "Lead"

WEB_ORIGINS = ("web", "website", "online", "web lead")


ORDER = "_order"  # a row's place in the "most recent" ordering of its table, across all people


@dataclass(frozen=True)
class _Pick:
    """One fact per person: `value` of the row matching `where` that comes first (`latest`
    False) or last in ORDER."""

    name: str
    value: str
    where: pl.Expr
    latest: bool = True


def _picked(ordered: pl.LazyFrame, picks: list[_Pick]) -> pl.LazyFrame:
    """Per person, each pick's value, from `ordered` (one global ordering, ORDER).

    Each pick is a position: the greatest (or least) ORDER among the person's matching rows,
    a plain numeric aggregation that does not depend on the order in which a group's rows
    reach it. The values are then gathered by position from the ordered rows, once.
    """
    rows = ordered.with_row_index(ORDER).collect()
    positions = (
        rows.lazy()
        .group_by(CUST)
        .agg(
            (
                pl.when(pick.where).then(pl.col(ORDER)).max()
                if pick.latest
                else pl.when(pick.where).then(pl.col(ORDER)).min()
            ).alias(pick.name)
            for pick in picks
        )
        .collect()
    )
    return positions.select(
        CUST,
        *[
            rows.get_column(pick.value).gather(positions.get_column(pick.name)).alias(pick.name)
            for pick in picks
        ],
    ).lazy()


def agreement_facts(agreements: pl.LazyFrame) -> pl.LazyFrame:
    """Per customer, the deciding agreement for each rule of the customer table.

    "Most recent" is the latest purchase_date, then the greatest agreement_id.
    """
    status = pl.col("status")
    single = pl.col("session_quantity") == 1
    left = pl.col("sessions_remaining").fill_null(0)
    active = status == "active"
    renewal = active & single & (left >= 1)
    picks = [
        _Pick("collections_id", "agreement_id", status == "collections"),
        _Pick("suspended_id", "agreement_id", status == "suspended"),
        _Pick("active_id", "agreement_id", active & ~single.fill_null(False)),
        _Pick("renewal_id", "agreement_id", renewal),
        _Pick("renewal_left", "sessions_remaining", renewal),
        _Pick("drop_in_id", "agreement_id", active & single & (left == 0)),
        _Pick("inactive_id", "agreement_id", status == "inactive"),
        _Pick("inactive_alert", "alert", status == "inactive"),
    ]
    return _picked(agreements.sort("purchase_date", "agreement_id"), picks).with_columns(
        # One row per person with an agreement: after a left join, its absence says "prospect".
        pl.lit(True).alias("has_agreement")
    )


def event_facts(events: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """Per person, the next upcoming event and the most recent past one (canceled ones aside).

    An event on the as-of day, at any time, is past; "most recent" is the latest starts_at,
    then the greatest event_id; the next upcoming one is the earliest in the same order.
    """
    upcoming = pl.col("starts_at").dt.date() > as_of
    past = ~upcoming
    picks = [
        _Pick("next_event_id", "event_id", upcoming, latest=False),
        _Pick("next_event_at", "starts_at", upcoming, latest=False),
        _Pick("next_event_kind", "kind", upcoming, latest=False),
        _Pick("last_event_id", "event_id", past),
        _Pick("last_event_at", "starts_at", past),
        _Pick("last_event_kind", "kind", past),
        _Pick("last_event_outcome", "outcome", past),
    ]
    ordered = events.filter(pl.col("outcome") != "canceled").sort("starts_at", "event_id")
    return _picked(ordered, picks)


def _event(prefix: str) -> pl.Expr:
    return pl.format(
        "{} {} on {}",
        pl.col(f"{prefix}_event_kind").fill_null("event"),
        pl.col(f"{prefix}_event_id"),
        pl.col(f"{prefix}_event_at").dt.date(),
    )


def _origin() -> pl.Expr:
    return pl.format("no events; origin {}", pl.col("origin")).fill_null(
        pl.lit("no events; no origin")
    )


def _past_due() -> pl.Expr:
    return pl.format(
        "past due {} since {}",
        money.as_text(pl.col("past_due_cents")),
        pl.col("oldest_unpaid_on"),
    )


def _sessions_left() -> pl.Expr:
    return pl.format(
        "1-session purchase {}, {} {} left",
        pl.col("renewal_id"),
        pl.col("renewal_left"),
        pl.when(pl.col("renewal_left") == 1).then(pl.lit("session")).otherwise(pl.lit("sessions")),
    )


def customer_rules() -> list[Rule]:
    """SPEC 4, customers: money problems outrank a freeze, a freeze outranks good standing."""
    alert = pl.col("inactive_alert")
    return [
        Rule(
            COLLECTIONS,
            pl.col("collections_id").is_not_null(),
            pl.format("collections: agreement {}", pl.col("collections_id")),
        ),
        Rule(DELINQUENT, pl.col("past_due_cents").fill_null(0) > 0, _past_due()),
        Rule(
            SUSPENDED,
            pl.col("suspended_id").is_not_null(),
            pl.format("suspended: agreement {}", pl.col("suspended_id")),
        ),
        Rule(
            ACTIVE,
            pl.col("active_id").is_not_null(),
            pl.format("active agreement {}", pl.col("active_id")),
        ),
        Rule(RENEWAL, pl.col("renewal_id").is_not_null(), _sessions_left()),
        Rule(
            DROP_IN,
            pl.col("drop_in_id").is_not_null(),
            pl.format("1-session purchase {}, 0 sessions left", pl.col("drop_in_id")),
        ),
        Rule(
            CANCELED,
            alert == "canceled",
            pl.format("latest inactive agreement {} alert canceled", pl.col("inactive_id")),
        ),
        Rule(
            EXPIRED,
            alert == "expired",
            pl.format("latest inactive agreement {} alert expired", pl.col("inactive_id")),
        ),
        Rule(
            UNCLASSIFIED,
            pl.lit(True),
            pl.format(
                "no rule matched: latest inactive agreement {} has no alert",
                pl.col("inactive_id"),
            ).fill_null(pl.lit("no rule matched")),
        ),
    ]


def prospect_rules() -> list[Rule]:
    """SPEC 4, prospects: what they did with their events first, then where they came from."""
    outcome = pl.col("last_event_outcome")
    origin = pl.col("origin")
    return [
        Rule(
            TRIAL_BOOKED,
            pl.col("next_event_id").is_not_null(),
            pl.format("upcoming {}", _event("next")),
        ),
        Rule(
            TRIAL_SHOW,
            outcome == "attended",
            pl.format("latest past {} attended", _event("last")),
        ),
        Rule(
            TRIAL_NO_SHOW,
            outcome.is_not_null(),
            pl.format(
                "latest past {} {}",
                _event("last"),
                pl.when(outcome == "scheduled")
                .then(pl.lit("still marked scheduled, so not attended"))
                .otherwise(outcome.cast(pl.String)),
            ),
        ),
        Rule(REFERRAL, origin == "referral", _origin()),
        Rule(WEB_LEAD, origin.is_in(WEB_ORIGINS), _origin()),
        Rule(LEAD, pl.lit(True), _origin()),
    ]


CUSTOMER_STATUSES = tuple(rule.status for rule in customer_rules())
PROSPECT_STATUSES = tuple(rule.status for rule in prospect_rules())


def decide() -> list[pl.Expr]:
    """customer_type, follow_up_status and reason, from one row of facts per person."""
    is_customer = pl.col("has_agreement")
    return [
        pl.when(is_customer)
        .then(pl.lit("Customer"))
        .otherwise(pl.lit("Prospect"))
        .alias("customer_type"),
        pl.when(is_customer)
        .then(first_match(customer_rules(), "status"))
        .otherwise(first_match(prospect_rules(), "status"))
        .alias("follow_up_status"),
        pl.when(is_customer)
        .then(first_match(customer_rules(), "reason"))
        .otherwise(first_match(prospect_rules(), "reason"))
        .alias("reason"),
    ]


def verdicts(is_customer: bool) -> list[pl.Expr]:
    """Every rule of the person's table as a true/false column, for `explain`."""
    return rule_verdicts(customer_rules() if is_customer else prospect_rules())
