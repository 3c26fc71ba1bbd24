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

from followup_cli.core import conditions, frames
from followup_cli.core.default_rules import DEFAULT_RULES
from followup_cli.core.first_match import Rule, reasons, rule_number, rule_status
from followup_cli.core.first_match import verdicts as rule_verdicts
from followup_cli.core.rules_file import RuleSet
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

# A row's place in its table sorted by person, then in "most recent" order: among one
# person's rows, a later place is more recent (places are only compared within a person).
ORDER = "_order"


@dataclass(frozen=True)
class _Pick:
    """One fact per person: `value` of the row matching `where` that comes first (`latest`
    False) or last in ORDER."""

    name: str
    value: str
    where: pl.Expr
    latest: bool = True


# The rows `_picked` sorts at a time, and the most parts it cuts a table into: sorting a part
# at a time holds one part's sorted copy, not the table's (at 1,000,000 customers, 4,518,080
# events: 0.34 -> 0.14 GB of working memory, and 0.68 -> 0.53 s, the parts fitting the cache
# better); each part is one more scan of the table, hence the cap.
PART_ROWS = 1_000_000
MOST_PARTS = 16


def _picked(rows: pl.LazyFrame, by: list[str], picks: list[_Pick]) -> pl.LazyFrame:
    """Per person, each pick's value: the value of the matching row that comes last (`latest`)
    or first in the order of `by`.

    Only a person's own rows are ever compared, so the rows are sorted by person first, then
    by `by`, and cut by ranges of cust_idx into parts of about PART_ROWS rows, each part
    sorted and picked on its own; a person's rows all fall in one part. Sorted by `by` alone,
    the many rows of one date or time (other people's) were told apart by their ids, text
    compared row by row: 4,462,407 events took 0.80 s to sort, by person first 0.47 s.
    """
    by = [CUST, *by]
    count, top = rows.select(pl.len(), pl.col(CUST).max()).collect().row(0)
    parts = min(MOST_PARTS, max(1, -(-count // PART_ROWS)))
    if parts == 1 or top is None:
        return _picked_in_order(rows.sort(by), picks)
    width = -(-(top + 1) // parts)
    person = pl.col(CUST)
    # Rows of no one (none in validated tables) are a part of their own, as one pass's group.
    ranges = [person.is_null()]
    ranges += [person.is_between(part * width, (part + 1) * width - 1) for part in range(parts)]
    return pl.concat(
        [_picked_in_order(rows.filter(part).sort(by), picks).collect() for part in ranges]
    ).lazy()


def _picked_in_order(ordered: pl.LazyFrame, picks: list[_Pick]) -> pl.LazyFrame:
    """Per person, each pick's value, from `ordered` (each person's rows in order, ORDER).

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
    values = frames.gathered(
        rows,
        (
            pl.col(pick.value).gather(positions.get_column(pick.name)).alias(pick.name)
            for pick in picks
        ),
    )
    return pl.DataFrame([positions.get_column(CUST), *values.get_columns()]).lazy()


def agreement_facts(agreements: pl.LazyFrame, thresholds: tuple[int, ...] = (1,)) -> pl.LazyFrame:
    """Per customer, the deciding agreement for each rule of the customer table, and for each
    `sessions_left` threshold (`conditions.session_thresholds`) its purchase.

    "Most recent" is the latest purchase_date, then the greatest agreement_id.
    """
    status = pl.col("status")
    single = pl.col("session_quantity") == 1
    left = pl.col("sessions_remaining").fill_null(0)
    active = status == "active"
    sessions = [
        _Pick(conditions.sessions_column(n, what), value, active & single & (left >= n))
        for n in thresholds
        for what, value in (("id", "agreement_id"), ("left", "sessions_remaining"))
    ]
    picks = [
        _Pick("collections_id", "agreement_id", status == "collections"),
        _Pick("suspended_id", "agreement_id", status == "suspended"),
        _Pick("active_id", "agreement_id", active & ~single.fill_null(False)),
        *sessions,
        _Pick("drop_in_id", "agreement_id", active & single & (left == 0)),
        _Pick("inactive_id", "agreement_id", status == "inactive"),
        _Pick("inactive_alert", "alert", status == "inactive"),
    ]
    return _picked(agreements, ["purchase_date", "agreement_id"], picks).with_columns(
        # One row per person with an agreement: after a left join, its absence says "prospect".
        pl.lit(True).alias("has_agreement")
    )


def event_facts(events: pl.LazyFrame, as_of: dt.date, visits: bool = False) -> pl.LazyFrame:
    """Per person, the next upcoming event, the most recent past one (canceled ones aside)
    and the most recent attended one's start (`attended_event_at`: the output's
    last_visit_on, SPEC 9); with `visits` (a `no_visit` rule), also that attended event's id,
    kind and days ago. One pick serves both: the visit a rule reads is the one listed.

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
    attended = past & (pl.col("outcome") == "attended")
    picks.append(_Pick("attended_event_at", "starts_at", attended))
    if visits:
        picks += [
            _Pick(f"attended_event_{what}", value, attended)
            for what, value in (("id", "event_id"), ("kind", "kind"))
        ]
    kept = events.filter(pl.col("outcome") != "canceled")
    found = _picked(kept, ["starts_at", "event_id"], picks)
    if not visits:
        return found
    return found.with_columns(
        (pl.lit(as_of) - pl.col("attended_event_at").dt.date())
        .dt.total_days()
        .alias("attended_days_ago")
    )


def customer_rules(rules: RuleSet = DEFAULT_RULES) -> list[Rule]:
    """The customer table of `rules` (default SPEC 4: money problems outrank a freeze, a
    freeze outranks good standing)."""
    return conditions.table_rules(rules, "customer")


def prospect_rules(rules: RuleSet = DEFAULT_RULES) -> list[Rule]:
    """The prospect table of `rules` (default SPEC 4: what they did with their events first,
    then where they came from)."""
    return conditions.table_rules(rules, "prospect")


CUSTOMER_STATUSES = DEFAULT_RULES.customer_statuses
PROSPECT_STATUSES = DEFAULT_RULES.prospect_statuses


RULE = "_rule"  # the deciding rule's place in `deciding_rules`


def deciding_rules(rules: RuleSet = DEFAULT_RULES) -> list[Rule]:
    """The customer table's rules, then the prospect table's: the places `decide` numbers."""
    return [*customer_rules(rules), *prospect_rules(rules)]


def decide(rules: RuleSet = DEFAULT_RULES) -> list[pl.Expr]:
    """customer_type and RULE, the place in `deciding_rules` of the rule that decides (null if
    none does), from one row of facts per person (`labelled` adds the status and reason)."""
    is_customer = pl.col("has_agreement")
    customer, prospect = customer_rules(rules), prospect_rules(rules)
    return [
        pl.when(is_customer)
        .then(pl.lit("Customer"))
        .otherwise(pl.lit("Prospect"))
        .alias("customer_type"),
        pl.when(is_customer)
        .then(rule_number(customer))
        .otherwise(rule_number(prospect, first=len(customer)))
        .alias(RULE),
    ]


def labelled(facts: pl.DataFrame, rules: RuleSet = DEFAULT_RULES) -> pl.DataFrame:
    """`facts` with customer_type, follow_up_status and reason: the first matching rule's
    status (SPEC 4), and its reason, made only for the rows that rule decided. The facts'
    columns are shared, not copied (a copy of a million people's facts is 0.1-0.2 GB, at the
    run's peak)."""
    deciding = deciding_rules(rules)
    kind, number, status = (
        facts.lazy()
        .select(decide(rules))
        .with_columns(rule_status(deciding, pl.col(RULE)).alias("follow_up_status"))
        .collect()
        .get_columns()
    )
    reason = reasons(facts, deciding, number)
    return pl.DataFrame([*facts.get_columns(), kind, status, reason.alias("reason")])


def verdicts(is_customer: bool, rules: RuleSet = DEFAULT_RULES) -> list[pl.Expr]:
    """Every rule of the person's table as a true/false column, for `explain`."""
    return rule_verdicts(customer_rules(rules) if is_customer else prospect_rules(rules))
