"""The pure core of a run (SPEC 3 and 4): validated tables and an as-of date in, one labelled
row per person out, as a lazy frame. Reading the exports is `reading.run`'s work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager

import polars as pl

from followup_cli.core import conditions, frames, money
from followup_cli.core import follow_up_tables as followup
from followup_cli.core.account_status import with_account_reason
from followup_cli.core.default_rules import DEFAULT_RULES
from followup_cli.core.ledger import LedgerSettings, accounts, last_payments
from followup_cli.core.rules_file import RuleSet
from followup_cli.core.schema import CUST, OUTPUT_COLUMNS
from followup_cli.core.tables import Handed, Validated


def people_facts(
    tables: Validated | Handed, as_of: dt.date, settings: LedgerSettings
) -> pl.LazyFrame:
    """One row per person with every fact the rules read (ledger, agreements, events), in
    cust_idx order.

    The events' facts first, then the agreements' and payments': with tables handed over
    (`Validated.hand_over`), each table goes as soon as its facts are computed, so the events
    (the largest table) are not held while the ledger works (1M customers: the run's peak
    1.15 -> 0.95 GB, at no cost in time: the two halves each use every core)."""
    held = tables if isinstance(tables, Handed) else tables.hand_over()
    held.check_as_of(as_of)
    customers = held.take("customers")
    needs = conditions.needs_visits(settings.rules)
    events = followup.event_facts(held.take("events").lazy(), as_of, needs).collect()
    agreements, payments = held.take("agreements").lazy(), held.take("payments").lazy()
    thresholds = conditions.session_thresholds(settings.rules)
    found = pl.collect_all(
        [
            followup.agreement_facts(agreements, thresholds),
            accounts(agreements, payments, as_of, settings),
            last_payments(payments, as_of),
        ]
    )
    del agreements, payments
    found[1] = with_account_reason(found[1], as_of, settings.rules.account)
    found += [events, held.take("data_issues")]
    people = customers.height
    return (
        pl.concat([customers, *[_per_person(facts, people) for facts in found]], how="horizontal")
        .lazy()
        .with_columns(pl.col("has_agreement").fill_null(False))
    )


def _per_person(facts: pl.DataFrame, people: int) -> pl.DataFrame:
    """`facts` (at most one row per cust_idx) as one row per person, in cust_idx order, null
    where a person has none: cust_idx is the row number, so a gather replaces a join and a
    sort."""
    rows = pl.repeat(None, people, dtype=pl.UInt32, eager=True).scatter(
        facts.get_column(CUST), pl.int_range(facts.height, dtype=pl.UInt32, eager=True)
    )
    return frames.without(facts, CUST).select(pl.all().gather(rows))


# A stage of the run, timed by whoever passes it: `stage("ledger")` wraps the ledger's work.
Stage = Callable[[str], AbstractContextManager[None]]


def reconcile(
    tables: Validated | Handed,
    as_of: dt.date,
    settings: LedgerSettings,
    *,
    stage: Stage | None = None,
) -> pl.LazyFrame:
    """The labelled output, one row per person in the customers file's order.

    `tables` must have been validated as of the same day (`Validated.as_of`): rows after
    another day were already left out or kept. With `stage`, the ledger and rule facts are
    computed inside `stage("ledger")` and the labels inside `stage("statuses")`, and the
    frame returned holds the output in memory.
    """
    if stage is None:
        return label(people_facts(tables, as_of, settings), settings.rules)
    # Inside the stage: the rule facts are partly computed while the plan is built.
    with stage("ledger"):
        facts = people_facts(tables, as_of, settings).collect()
    with stage("statuses"):
        return label(facts, settings.rules)


# Output columns that are not a fact's column as it is.
_OUTPUT = {
    "balance": money.as_decimal(pl.col("balance_cents")).alias("balance"),
    "past_due": money.as_decimal(pl.col("past_due_cents")).alias("past_due"),
    "data_issues": pl.col("data_issues").fill_null(0),
    # The attended event's day: one at 20:00 on the as-of date is a visit on it.
    "last_visit_on": pl.col("attended_event_at").dt.date().alias("last_visit_on"),
}


def label(facts: pl.LazyFrame | pl.DataFrame, rules: RuleSet = DEFAULT_RULES) -> pl.LazyFrame:
    """The output columns (schema.OUTPUT_COLUMNS) from the facts, with the rules' verdicts,
    in cust_idx order, computed now: `followup.labelled` makes each reason over the rows its
    rule decided, not in one query. Selected in memory, so the columns output as they are
    (the reasons among them) are the facts' own, not copies (as Polars' streaming engine
    makes: 0.1-0.2 GB at the run's peak, at 1,000,000 people)."""
    held = facts if isinstance(facts, pl.DataFrame) else facts.collect()
    output = (
        followup.labelled(held, rules)
        .lazy()
        .sort(CUST)
        .select(_OUTPUT.get(name, pl.col(name)) for name in OUTPUT_COLUMNS)
    )
    return output.collect(engine="in-memory").lazy()
