"""The subscription ledger and account status (SPEC 3), for all subscribers at once.

Charges: each recurring agreement's monthly fee for every month from its purchase month to its
end month, due on the month's billing date (or the purchase date if later); plus a surcharge on
the day of each one-off payment. Credits: every payment. Credits settle the oldest charges
first, so the oldest unpaid charge is the first one, in due-date order, at which the running
total of charges passes the customer's total credits. Everything is in integer cents.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from followup_cli import money
from followup_cli.billing_calendar import add_months, billing_date, month_number
from followup_cli.validation import CUST

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

PAID_IN_FULL = "Paid in Full"
DISABLED = "Disabled"
WARNING = "Warning"
DUE = "Due"
ACCOUNT_STATUSES = (PAID_IN_FULL, DUE, WARNING, DISABLED)

WARNING_AFTER_DAYS = 7  # more than this many days in arrears is Warning
DISABLED_AFTER_MONTHS = 2  # this many calendar months in arrears is Disabled


@dataclass(frozen=True)
class LedgerSettings:
    surcharge_cents: int = 100  # added as a charge for every one-off payment


def charges(
    agreements: pl.LazyFrame, payments: pl.LazyFrame, as_of: dt.date, settings: LedgerSettings
) -> pl.LazyFrame:
    """Every charge due on or before as_of: cust_idx, due_on, cents, and what it is for."""
    recurring = agreements.filter(pl.col("monthly_fee").is_not_null())
    last_month = month_number(pl.min_horizontal(pl.col("end_date").fill_null(as_of), pl.lit(as_of)))
    fees = (
        recurring.select(
            CUST,
            "agreement_id",
            "purchase_date",
            pl.col("monthly_fee").alias("cents"),
            pl.int_ranges(
                month_number(pl.col("purchase_date")), last_month + 1, dtype=pl.Int32
            ).alias("month"),
        )
        .explode("month")
        .filter(pl.col("month").is_not_null())
        .with_columns(
            pl.max_horizontal(billing_date(pl.col("month")), pl.col("purchase_date")).alias(
                "due_on"
            ),
            pl.lit(None, dtype=pl.String).alias("payment_id"),
        )
    )
    surcharges = payments.filter(pl.col("kind") == "one-off").select(
        CUST,
        pl.lit(None, dtype=pl.String).alias("agreement_id"),
        pl.lit(None, dtype=pl.Date).alias("purchase_date"),
        pl.lit(settings.surcharge_cents, dtype=pl.Int64).alias("cents"),
        pl.lit(None, dtype=pl.Int32).alias("month"),
        pl.col("paid_on").alias("due_on"),
        "payment_id",
    )
    return pl.concat([fees, surcharges], how="vertical").filter(pl.col("due_on") <= as_of)


def accounts(
    agreements: pl.LazyFrame, payments: pl.LazyFrame, as_of: dt.date, settings: LedgerSettings
) -> pl.LazyFrame:
    """One row per subscriber: the ledger figures in cents and the account status."""
    totals = _totals(agreements, payments, as_of, settings)
    owing = totals.filter(pl.col("credits") < pl.col("charged"))
    # Oldest-first settlement, for those who owe: in due-date order, a charge is unpaid once the
    # customer's running total of charges passes their credits. One sort of their charges gives
    # every running total: the cumulative sum less its value before the customer's first charge.
    first_of_customer = (pl.col(CUST) != pl.col(CUST).shift(1)).fill_null(True)
    oldest = (
        charges(
            agreements.join(owing.select(CUST), on=CUST, how="semi"),
            # Only one-off payments add charges (their surcharge); the rest need not be read.
            payments.filter(pl.col("kind") == "one-off").join(
                owing.select(CUST), on=CUST, how="semi"
            ),
            as_of,
            settings,
        )
        .select(CUST, "due_on", "cents")
        .sort(CUST, "due_on")
        .with_columns(pl.col("cents").cum_sum().alias("_through"))
        .with_columns(
            (
                pl.col("_through")
                - pl.when(first_of_customer)
                .then(pl.col("_through") - pl.col("cents"))
                .forward_fill()
            ).alias("_running")
        )
        .join(owing.select(CUST, "credits"), on=CUST, how="inner")
        .group_by(CUST)
        .agg(
            pl.when(pl.col("_running") > pl.col("credits"))
            .then(pl.col("due_on"))
            .min()
            .alias("oldest_unpaid_on")
        )
    )
    figures = totals.join(oldest, on=CUST, how="left").select(
        CUST,
        (pl.col("credits") - pl.col("charged")).alias("balance_cents"),
        (pl.col("charged") - pl.col("charged_today") - pl.col("credits"))
        .clip(lower_bound=0)
        .alias("past_due_cents"),
        "oldest_unpaid_on",
        (pl.lit(as_of) - pl.col("oldest_unpaid_on")).dt.total_days().alias("days_in_arrears"),
    )
    return figures.with_columns(account_status(as_of), account_reason(as_of))


def _totals(
    agreements: pl.LazyFrame, payments: pl.LazyFrame, as_of: dt.date, settings: LedgerSettings
) -> pl.LazyFrame:
    """Per subscriber: credits, charges due by as_of, and the part of them due on as_of itself.

    Counted per agreement without listing its months: every month before the as-of month is
    due by then (its billing date, and the purchase date, are on or before as_of), so only
    the as-of month's charge can be still to come, or due on the day itself.
    """
    this_month = month_number(pl.lit(as_of))
    last = month_number(pl.min_horizontal(pl.col("end_date").fill_null(as_of), pl.lit(as_of)))
    first = month_number(pl.col("purchase_date"))
    this_month_due = pl.max_horizontal(billing_date(this_month), pl.col("purchase_date"))
    billed_this_month = (last == this_month) & (first <= this_month)
    fees = (
        agreements.filter(pl.col("monthly_fee").is_not_null())
        .with_columns(
            months_due=(last - first + 1).clip(lower_bound=0)
            - (billed_this_month & (this_month_due > as_of)).cast(pl.Int32),
            due_today=billed_this_month & (this_month_due == pl.lit(as_of)),
        )
        .group_by(CUST)
        .agg(
            (pl.col("monthly_fee") * pl.col("months_due")).sum().alias("fees"),
            pl.when(pl.col("due_today")).then(pl.col("monthly_fee")).sum().alias("fees_today"),
        )
    )
    one_off = pl.col("kind") == "one-off"
    paid = payments.group_by(CUST).agg(
        pl.col("amount").sum().alias("credits"),
        one_off.sum().alias("one_offs"),
        (one_off & (pl.col("paid_on") == pl.lit(as_of))).sum().alias("one_offs_today"),
    )
    surcharge = settings.surcharge_cents
    return (
        fees.join(paid, on=CUST, how="left")
        .with_columns(pl.col("credits", "one_offs", "one_offs_today").fill_null(0))
        .select(
            CUST,
            "credits",
            (pl.col("fees") + pl.col("one_offs") * surcharge).alias("charged"),
            (pl.col("fees_today") + pl.col("one_offs_today") * surcharge).alias("charged_today"),
        )
    )


def disabled_on() -> pl.Expr:
    """The day an unpaid account becomes Disabled: its oldest unpaid charge plus two months."""
    return add_months(pl.col("oldest_unpaid_on"), DISABLED_AFTER_MONTHS)


_disabled_on = disabled_on


def account_rules(as_of: dt.date) -> list[tuple[str, pl.Expr]]:
    """SPEC 3's four statuses as (status, condition), first match wins; Due is the rest."""
    return [
        (PAID_IN_FULL, pl.col("balance_cents") >= 0),
        (DISABLED, pl.lit(as_of) >= disabled_on()),
        (WARNING, pl.col("days_in_arrears") > WARNING_AFTER_DAYS),
        (DUE, pl.lit(True)),
    ]


def account_status(as_of: dt.date) -> pl.Expr:
    """SPEC 3's four statuses, first match wins."""
    (first, when), *rest = account_rules(as_of)
    chain: Then | ChainedThen = pl.when(when).then(pl.lit(first))
    for status, condition in rest:
        chain = chain.when(condition).then(pl.lit(status))
    return chain.otherwise(None).alias("account_status")


def account_reason(as_of: dt.date) -> pl.Expr:
    """Why the account status fired, in the figures a manager would check."""
    owes = pl.format(
        "owes {}; oldest unpaid charge due {}, {} days ago",
        money.as_text(-pl.col("balance_cents")),
        pl.col("oldest_unpaid_on"),
        pl.col("days_in_arrears"),
    )
    return (
        pl.when(pl.col("balance_cents") > 0)
        .then(pl.format("nothing owed; {} in credit", money.as_text(pl.col("balance_cents"))))
        .when(pl.col("balance_cents") == 0)
        .then(pl.lit("nothing owed"))
        .when(pl.lit(as_of) >= _disabled_on())
        .then(pl.format("{} (2 months or more; disabled from {})", owes, _disabled_on()))
        .when(pl.col("days_in_arrears") > WARNING_AFTER_DAYS)
        .then(pl.format("{} (more than {})", owes, pl.lit(WARNING_AFTER_DAYS)))
        .otherwise(pl.format("{} ({} or fewer)", owes, pl.lit(WARNING_AFTER_DAYS)))
        .alias("account_reason")
    )
