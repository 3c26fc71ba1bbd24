"""Account status (SPEC 3): Paid in Full, Due, Warning or Disabled, from the ledger's figures.

One ordered table of rules, first match wins, over one row per subscriber with the columns
`ledger.accounts` computes: balance_cents, oldest_unpaid_on and days_in_arrears. The two
thresholds (the 7-day rule and the two months to Disabled) are defined here only.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from followup_cli.core import money
from followup_cli.core.billing_calendar import add_months
from followup_cli.core.first_match import Rule, first_match

PAID_IN_FULL = "Paid in Full"
DISABLED = "Disabled"
WARNING = "Warning"
DUE = "Due"
ACCOUNT_STATUSES = (PAID_IN_FULL, DUE, WARNING, DISABLED)

# SPEC 3's two thresholds, defined here only: the reference ledger, explain and the
# benchmark's SQL (tests/bench/rules.sql, filled in by run_bench.py) read them from here.
WARNING_AFTER_DAYS = 7  # more than this many days in arrears is Warning
DISABLED_AFTER_MONTHS = 2  # this many calendar months in arrears is Disabled


def disabled_on() -> pl.Expr:
    """The day an unpaid account becomes Disabled: its oldest unpaid charge plus two months."""
    return add_months(pl.col("oldest_unpaid_on"), DISABLED_AFTER_MONTHS)


def account_rules(as_of: dt.date) -> list[Rule]:
    """SPEC 3's four statuses as (status, when, reason), first match wins; Due is the rest.

    The one table both `account_status` and `account_reason` come from, and whose verdicts
    `explain` shows.
    """
    balance = pl.col("balance_cents")
    owes = pl.format(
        "owes {}; oldest unpaid charge due {}, {} days ago",
        money.as_text(-balance),
        pl.col("oldest_unpaid_on"),
        pl.col("days_in_arrears"),
    )
    return [
        Rule(
            PAID_IN_FULL,
            balance >= 0,
            pl.when(balance > 0)
            .then(pl.format("nothing owed; {} in credit", money.as_text(balance)))
            .otherwise(pl.lit("nothing owed")),
        ),
        Rule(
            DISABLED,
            pl.lit(as_of) >= disabled_on(),
            pl.format(
                "{} ({} months or more; disabled from {})",
                owes,
                pl.lit(DISABLED_AFTER_MONTHS),
                disabled_on(),
            ),
        ),
        Rule(
            WARNING,
            pl.col("days_in_arrears") > WARNING_AFTER_DAYS,
            pl.format("{} (more than {})", owes, pl.lit(WARNING_AFTER_DAYS)),
        ),
        Rule(DUE, pl.lit(True), pl.format("{} ({} or fewer)", owes, pl.lit(WARNING_AFTER_DAYS))),
    ]


def account_status(as_of: dt.date) -> pl.Expr:
    """SPEC 3's four statuses, first match wins."""
    return first_match(account_rules(as_of), "status").alias("account_status")


def account_reason(as_of: dt.date) -> pl.Expr:
    """Why the account status fired, in the figures a manager would check."""
    return first_match(account_rules(as_of), "reason").alias("account_reason")
