"""`followup explain`: one person's ledger and every rule's verdict, as plain data.

It reuses the main path's own functions (`charges`, `people_facts`, the rule tables) on the
validated tables, so what it shows is what the reconcile run computed, not a second opinion.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from followup_cli import followup
from followup_cli.errors import UsageError
from followup_cli.ledger import (
    DISABLED,
    DISABLED_AFTER_MONTHS,
    DUE,
    PAID_IN_FULL,
    WARNING,
    WARNING_AFTER_DAYS,
    LedgerSettings,
    account_rules,
    charges,
    disabled_on,
)
from followup_cli.money import cents_text
from followup_cli.reconcile import label, people_facts
from followup_cli.rules import verdicts as rule_verdicts
from followup_cli.schema import CUST, normalise_id
from followup_cli.validation import REF, Validated

DECIDED = "decided"
OUTRANKED = "matched, lower in the table"
NOT_MATCHED = "no"
NOT_REACHED = "not reached: a rule above decided"


@dataclass(frozen=True)
class Explanation:
    person: dict[str, Any]  # the person's output row
    entries: pl.DataFrame  # date, entry, charge_cents, credit_cents, balance_cents, settled
    rules: tuple[tuple[int, str, str], ...]  # number, status, verdict
    as_of: dt.date | None = None
    # number, status, condition with the person's figures, verdict; empty without a ledger
    account_rules: tuple[tuple[int, str, str, str], ...] = ()
    rejected: tuple[tuple[str, int, str, str], ...] = ()  # file, line, column, reason


def explain(
    tables: Validated, customer_id: str, as_of: dt.date, settings: LedgerSettings
) -> Explanation:
    person = tables.customers.filter(
        normalise_id(pl.col("customer_id")) == normalise_id(customer_id)
    )
    if person.height == 0:
        raise UsageError(
            f"customer {customer_id!r} is not among the customers created on or before {as_of} "
            f"(check the id, the --as-of date, and the rejects of a reconcile run)"
        )
    index = person.item(0, CUST)
    facts = people_facts(tables, as_of, settings).filter(pl.col(CUST) == index).collect()
    row = label(facts.lazy()).collect().row(0, named=True)
    is_customer = bool(facts.item(0, "has_agreement"))
    flags = facts.select(followup.verdicts(is_customer)).row(0)
    statuses = followup.CUSTOMER_STATUSES if is_customer else followup.PROSPECT_STATUSES
    rules = _verdicts(statuses, flags)
    return Explanation(
        row,
        _entries(tables, index, as_of, settings),
        rules,
        as_of=as_of,
        account_rules=_account_rules(facts, as_of),
        rejected=_rejected(tables, str(person.item(0, "customer_id"))),
    )


def _verdicts(
    statuses: tuple[str, ...], flags: tuple[Any, ...]
) -> tuple[tuple[int, str, str], ...]:
    rules = []
    decided = False
    last = len(statuses)
    for number, (status, matched) in enumerate(zip(statuses, flags, strict=True), start=1):
        verdict = NOT_MATCHED
        if matched and decided:
            # The last rule of each table is the catch-all: it "matches" everyone, so it only
            # counts when nothing above it did.
            verdict = NOT_REACHED if number == last else OUTRANKED
        elif matched:
            verdict = DECIDED
            decided = True
        rules.append((number, status, verdict))
    return tuple(rules)


def _account_rules(facts: pl.DataFrame, as_of: dt.date) -> tuple[tuple[int, str, str, str], ...]:
    """The account status rules with this person's figures, the same expressions as the run's."""
    if facts.item(0, "balance_cents") is None:
        return ()
    rules = account_rules(as_of)
    figures = facts.select(
        *rule_verdicts(rules),
        disabled_on().alias("_disabled_on"),
        "balance_cents",
        "oldest_unpaid_on",
        "days_in_arrears",
    ).row(0, named=True)
    statuses = tuple(rule.status for rule in rules)
    verdicts = _verdicts(statuses, tuple(figures[status] for status in statuses))
    oldest, days = figures["oldest_unpaid_on"], figures["days_in_arrears"]
    conditions = {
        PAID_IN_FULL: f"balance >= 0 (balance {cents_text(figures['balance_cents'])})",
        DISABLED: (
            f"as-of on or after {oldest} + {DISABLED_AFTER_MONTHS} months "
            f"= {figures['_disabled_on']}"
            if oldest is not None
            else "no unpaid charge"
        ),
        WARNING: f"more than {WARNING_AFTER_DAYS} days in arrears ({days})",
        DUE: f"owed, {WARNING_AFTER_DAYS} days or fewer in arrears",
    }
    return tuple(
        (number, status, conditions[status], verdict) for number, status, verdict in verdicts
    )


def _rejected(tables: Validated, customer_id: str) -> tuple[tuple[str, int, str, str], ...]:
    """The set-aside rows that name this person: their status may be missing what those say."""
    lines = (
        tables.rejected_people.filter(pl.col(REF) == normalise_id(customer_id))
        .select("file", "line")
        .unique()
    )
    found = tables.rejects.join(lines, on=["file", "line"], how="semi", maintain_order="left")
    return tuple(
        (str(f), int(n), str(c), str(r))
        for f, n, c, r in found.select("file", "line", "column", "reason").iter_rows()
    )


def _entries(
    tables: Validated, index: int, as_of: dt.date, settings: LedgerSettings
) -> pl.DataFrame:
    """Charges and payments in date order with the running balance and what each charge's
    settlement is under oldest-first settlement."""
    agreements = tables.agreements.lazy().filter(pl.col(CUST) == index)
    payments = tables.payments.lazy().filter(pl.col(CUST) == index)
    if agreements.filter(pl.col("monthly_fee").is_not_null()).collect().height == 0:
        return pl.DataFrame()
    credits_total = payments.select(pl.col("amount").sum()).collect().item() or 0
    due = (
        charges(agreements, payments, as_of, settings)
        .sort("due_on", "agreement_id", "payment_id", nulls_last=True)
        .with_columns(pl.col("cents").cum_sum().alias("_through"))
        .select(
            pl.col("due_on").alias("date"),
            pl.when(pl.col("payment_id").is_null())
            .then(
                pl.format(
                    "fee for {} (agreement {})",
                    pl.col("due_on").dt.strftime("%B %Y"),
                    pl.col("agreement_id"),
                )
            )
            .otherwise(pl.format("surcharge for one-off payment {}", pl.col("payment_id")))
            .alias("entry"),
            pl.col("cents").alias("charge_cents"),
            pl.lit(None, dtype=pl.Int64).alias("credit_cents"),
            pl.when(pl.col("_through") <= credits_total)
            .then(pl.lit("settled"))
            .when(pl.col("_through") - pl.col("cents") < credits_total)
            .then(pl.lit("part settled"))
            .otherwise(pl.lit("unpaid"))
            .alias("settled"),
            pl.lit(1).alias("_order"),
        )
    )
    paid = payments.select(
        pl.col("paid_on").alias("date"),
        pl.format("{} payment {}", pl.col("kind"), pl.col("payment_id")).alias("entry"),
        pl.lit(None, dtype=pl.Int64).alias("charge_cents"),
        pl.col("amount").alias("credit_cents"),
        pl.lit(None, dtype=pl.String).alias("settled"),
        pl.lit(0).alias("_order"),
    )
    return (
        pl.concat([due, paid])
        .sort("date", "_order", "entry")
        .with_columns(
            (pl.col("credit_cents").fill_null(0) - pl.col("charge_cents").fill_null(0))
            .cum_sum()
            .alias("balance_cents")
        )
        .drop("_order")
        .collect()
    )
