"""Account status (SPEC 3): Paid in Full, Due, Warning or Disabled, from the ledger's figures.

One ordered table of rules, first match wins, over one row per subscriber with the columns
`ledger.accounts` computes: balance_cents, oldest_unpaid_on and days_in_arrears. The two
thresholds (the 7-day rule and the two months to Disabled) are defined here only.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from followup_cli.core import frames, money
from followup_cli.core.billing_calendar import add_months
from followup_cli.core.default_rules import DEFAULT_RULES
from followup_cli.core.first_match import Rule, reasons, rule_number, rule_status
from followup_cli.core.rules_file import AccountRules

PAID_IN_FULL = "Paid in Full"
DISABLED = "Disabled"
WARNING = "Warning"
DUE = "Due"
ACCOUNT_STATUSES = (PAID_IN_FULL, DUE, WARNING, DISABLED)

# SPEC 3's two default thresholds, from the default rules file (SPEC 11): the reference
# ledger, explain and the benchmark's SQL (tests/bench/rules.sql, filled in by run_bench.py)
# read them from here; a rules file gives others through `AccountRules`.
DEFAULT_ACCOUNT = DEFAULT_RULES.account
WARNING_AFTER_DAYS = DEFAULT_ACCOUNT.warning_after_days  # more days in arrears is Warning
DISABLED_AFTER_MONTHS = DEFAULT_ACCOUNT.disabled_after_months  # months in arrears to Disabled


def disabled_on(months: int = DISABLED_AFTER_MONTHS) -> pl.Expr:
    """The day an unpaid account becomes Disabled: its oldest unpaid charge plus `months`."""
    return add_months(pl.col("oldest_unpaid_on"), months)


def account_rules(as_of: dt.date, thresholds: AccountRules = DEFAULT_ACCOUNT) -> list[Rule]:
    """SPEC 3's four statuses as (status, when, reason), first match wins; Due is the rest.

    The one table `account_status`, `account_rule` and `with_account_reason` read, and whose
    verdicts `explain` shows. `thresholds` are the rules file's (the defaults: 7 days, 2 months).
    """
    warning, months = thresholds.warning_after_days, thresholds.disabled_after_months
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
            pl.lit(as_of) >= disabled_on(months),
            pl.format(
                "{} ({} months or more; disabled from {})",
                owes,
                pl.lit(months),
                disabled_on(months),
            ),
        ),
        Rule(
            WARNING,
            pl.col("days_in_arrears") > warning,
            pl.format("{} (more than {})", owes, pl.lit(warning)),
        ),
        Rule(DUE, pl.lit(True), pl.format("{} ({} or fewer)", owes, pl.lit(warning))),
    ]


def account_status(as_of: dt.date, thresholds: AccountRules = DEFAULT_ACCOUNT) -> pl.Expr:
    """SPEC 3's four statuses, first match wins: the status of `account_rule`'s rule (beside
    it in one query, Polars works each condition out once)."""
    rules = account_rules(as_of, thresholds)
    return rule_status(rules, rule_number(rules)).alias("account_status")


# The place in `account_rules` of the rule that decided an account, until its reason is made.
ACCOUNT_RULE = "_account_rule"


def account_rule(as_of: dt.date, thresholds: AccountRules = DEFAULT_ACCOUNT) -> pl.Expr:
    """ACCOUNT_RULE: which of `account_rules` decided the account (the one `account_status`
    names), for `with_account_reason`."""
    return rule_number(account_rules(as_of, thresholds)).alias(ACCOUNT_RULE)


def with_account_reason(
    accounts: pl.DataFrame, as_of: dt.date, thresholds: AccountRules = DEFAULT_ACCOUNT
) -> pl.DataFrame:
    """`accounts` (with ACCOUNT_RULE) with account_reason instead: why the account status
    fired, in the figures a manager would check. Each rule's text is made over the accounts
    it decided alone (`first_match.reasons`)."""
    numbers = accounts.get_column(ACCOUNT_RULE)
    reason = reasons(accounts, account_rules(as_of, thresholds), numbers)
    return frames.without(accounts, ACCOUNT_RULE).with_columns(reason.alias("account_reason"))
