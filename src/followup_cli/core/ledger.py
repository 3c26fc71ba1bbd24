"""The subscription ledger (SPEC 3), for all subscribers at once; the account status it ends
with is decided in account_status.py.

Charges: each recurring agreement's monthly fee for every month from its purchase month to its
end month, due on the month's billing date (or the purchase date if later); plus a surcharge on
the day of each one-off payment. Credits: every payment. Credits settle the oldest charges
first, so the oldest unpaid charge is the first one, in due-date order, at which the running
total of charges passes the customer's total credits. Everything is in integer cents.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from followup_cli.core.account_status import account_rule, account_status
from followup_cli.core.billing_calendar import billing_date, month_number
from followup_cli.core.default_rules import DEFAULT_RULES
from followup_cli.core.rules_file import RuleSet
from followup_cli.core.schema import CUST


@dataclass(frozen=True)
class LedgerSettings:
    surcharge_cents: int = 100  # added as a charge for every one-off payment
    # The rules in force (SPEC 11): the account thresholds here, the follow-up tables in
    # core.pipeline. The surcharge above is already the file's unless --surcharge overrides it.
    rules: RuleSet = DEFAULT_RULES


def _fee_months(as_of: dt.date) -> tuple[pl.Expr, pl.Expr]:
    """An agreement's first and last month whose fee is due by as_of, as month numbers.

    Every month before the as-of month is due by then (its billing date, and the purchase date,
    are on or before as_of), so only the as-of month's charge can still be to come. A last
    month before the first means nothing is due yet.
    """
    this_month = month_number(pl.lit(as_of))
    first = month_number(pl.col("purchase_date"))
    last = month_number(pl.min_horizontal(pl.col("end_date").fill_null(as_of), pl.lit(as_of)))
    not_yet = (last == this_month) & (fee_due_on(this_month) > as_of)
    return first, last - not_yet.cast(pl.Int32)


def fee_due_on(month: pl.Expr) -> pl.Expr:
    """When an agreement's fee for `month` falls due: the month's billing date, or the purchase
    date if that is later (bought on the weekend after the purchase month's billing date)."""
    return pl.max_horizontal(billing_date(month), pl.col("purchase_date"))


def _fee_schedules(agreements: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """Every recurring agreement (a subscriber has a ledger even before a fee is due):
    cust_idx, agreement_id, purchase_date, monthly_fee and the first and last month due
    (`first`, `last`; a last before the first means nothing is due yet).

    The one schedule: `charges` lists its months, `_totals` counts them and `_oldest_unpaid`
    cuts them into spans."""
    first, last = _fee_months(as_of)
    return agreements.filter(pl.col("monthly_fee").is_not_null()).select(
        CUST,
        "agreement_id",
        "purchase_date",
        "monthly_fee",
        first.alias("first"),
        last.alias("last"),
    )


def _due_schedules(agreements: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """`_fee_schedules` of the agreements with at least one fee due by as_of."""
    return _fee_schedules(agreements, as_of).filter(pl.col("last") >= pl.col("first"))


def charges(
    agreements: pl.LazyFrame, payments: pl.LazyFrame, as_of: dt.date, settings: LedgerSettings
) -> pl.LazyFrame:
    """Every charge due on or before as_of, one row per month: cust_idx, due_on, cents, and what
    it is for. For showing one person's ledger (`explain`); `accounts` never lists months."""
    fees = (
        _due_schedules(agreements, as_of)
        .with_columns(
            pl.int_ranges("first", pl.col("last") + 1, dtype=pl.Int32).alias("month"),
        )
        .explode("month")
        .select(
            CUST,
            "agreement_id",
            "purchase_date",
            pl.col("monthly_fee").alias("cents"),
            "month",
            fee_due_on(pl.col("month")).alias("due_on"),
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
    """One row per subscriber: the ledger figures in cents, the account status and which rule
    decided it (`account_status.ACCOUNT_RULE`, which `with_account_reason` turns into the
    reason once the rows are collected)."""
    # cache(): each of these frames feeds several branches of the plan below, which Polars
    # would otherwise compute once per branch (twice the ledger's time at 100,000 people; the
    # totals alone, read by `owing` and by the figures, cost 0.3 s more at 1M).
    totals = _totals(agreements, payments, as_of, settings).cache()
    owing = totals.filter(pl.col("credits") < pl.col("charged")).select(CUST, "credits").cache()
    oldest = _oldest_unpaid(
        _due_schedules(agreements, as_of).join(owing, on=CUST, how="semi").cache(),
        # Only one-off payments add charges (their surcharge); the rest need not be read.
        payments.filter(pl.col("kind") == "one-off")
        .join(owing, on=CUST, how="semi")
        .select(CUST, "paid_on", month_number(pl.col("paid_on")).alias("month"))
        .cache(),
        owing,
        settings,
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
    thresholds = settings.rules.account
    return figures.with_columns(account_status(as_of, thresholds), account_rule(as_of, thresholds))


def last_payments(payments: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """cust_idx, last_paid_on: each payer's latest payment on or before as_of (SPEC 9), for
    customers and prospects alike. Rejected payments are not in the table; a payment after
    as_of is already left out of validated tables, and is not counted if given anyway."""
    paid_on = pl.col("paid_on")
    return (
        payments.filter(paid_on <= pl.lit(as_of))
        .group_by(CUST)
        .agg(paid_on.max().alias("last_paid_on"))
    )


def _oldest_unpaid(
    schedules: pl.LazyFrame, one_offs: pl.LazyFrame, owing: pl.LazyFrame, settings: LedgerSettings
) -> pl.LazyFrame:
    """cust_idx, oldest_unpaid_on for those who owe, without listing one row per month.

    Credits settle the oldest charges first, so the oldest unpaid charge is due on the first
    day by which the charges due pass the credits. A placeholder purchase date a century back
    would make a charge row per month (13 GB for 8,000 people); instead, the months are cut
    into spans at each agreement's first and last month and at each surcharge's month. Within
    a span the fees per month are constant, so the month in which the running charges pass
    the credits is found by one integer division. Only that month's charges are listed (at
    most one per agreement and per one-off payment) to find the day: fees fall due on the
    billing date or a later purchase date, surcharges on any day.
    """
    surcharge = settings.surcharge_cents
    spans = _spans(_rate_changes(schedules, one_offs, surcharge), owing)
    crossing = _crossing_month(spans).cache()
    return _first_unpaid_day(schedules, one_offs, crossing, surcharge)


def _rate_changes(schedules: pl.LazyFrame, one_offs: pl.LazyFrame, surcharge: int) -> pl.LazyFrame:
    """cust_idx, month, monthly_fee, lump: where the charges per month change.

    A fee starts adding its monthly_fee in its first month and stops after its last; a
    one-off payment adds a lump (its surcharge) in its own month.
    """
    return pl.concat(
        [
            schedules.select(
                CUST, pl.col("first").alias("month"), "monthly_fee", lump=pl.lit(0, dtype=pl.Int64)
            ),
            schedules.select(
                CUST,
                (pl.col("last") + 1).alias("month"),
                -pl.col("monthly_fee"),
                lump=pl.lit(0, dtype=pl.Int64),
            ),
            one_offs.select(
                CUST,
                "month",
                monthly_fee=pl.lit(0, dtype=pl.Int64),
                lump=pl.lit(surcharge, dtype=pl.Int64),
            ),
        ],
        how="vertical_relaxed",
    )


def _running(expr: pl.Expr) -> pl.Expr:
    """`expr` over each customer's rows in month order.

    Each running sum stays within one customer's charges, which is what keeps it within
    64-bit cents (see value_bounds.MAX_UNITS)."""
    return expr.over(CUST, order_by="month")


def _spans(rate_changes: pl.LazyFrame, owing: pl.LazyFrame) -> pl.LazyFrame:
    """Per customer who owes, the spans of months between rate changes: from `month` for
    `months` months, `lump` in its first month plus `rate` each month (`span_cents` in all),
    after `before` cents of earlier spans; with the customer's `credits`."""
    return (
        rate_changes.group_by(CUST, "month")
        .agg(pl.col("monthly_fee").sum().alias("rate"), pl.col("lump").sum())
        .with_columns(
            _running(pl.col("rate").cum_sum()),
            # None after the last span: every fee has ended by then.
            (_running(pl.col("month").shift(-1)) - pl.col("month")).alias("months"),
        )
        .with_columns(
            (pl.col("lump") + pl.col("rate") * pl.col("months").fill_null(0)).alias("span_cents")
        )
        .with_columns(
            (_running(pl.col("span_cents").cum_sum()) - pl.col("span_cents")).alias("before")
        )
        .join(owing, on=CUST, how="inner")
    )


def _crossing_month(spans: pl.LazyFrame) -> pl.LazyFrame:
    """cust_idx, crossing_month (the month in which the running charges pass the credits) and
    `left`, the credit left for that month's own charges.

    First the span: the first one whose charges, added to those before, exceed the credits;
    then the whole months of its rate that the credits still cover.
    """
    return (
        spans.filter(pl.col("before") + pl.col("span_cents") > pl.col("credits"))
        .group_by(CUST)
        .agg(pl.all().sort_by("month").first())
        .with_columns(left=pl.col("credits") - pl.col("before") - pl.col("lump"))
        .with_columns(
            pl.when(pl.col("left") < 0)
            .then(0)
            .otherwise(pl.col("left") // pl.col("rate"))
            .alias("whole_months")
        )
        .select(
            CUST,
            (pl.col("month") + pl.col("whole_months")).alias("crossing_month"),
            pl.when(pl.col("whole_months") == 0)
            .then(pl.col("credits") - pl.col("before"))
            .otherwise(pl.col("left") - pl.col("rate") * pl.col("whole_months"))
            .alias("left"),
        )
    )


def _first_unpaid_day(
    schedules: pl.LazyFrame, one_offs: pl.LazyFrame, crossing: pl.LazyFrame, surcharge: int
) -> pl.LazyFrame:
    """cust_idx, oldest_unpaid_on: the day within the crossing month by which its charges,
    in due-date order, pass the credit left for them."""
    month = pl.col("crossing_month")
    in_month = pl.concat(
        [
            schedules.join(crossing, on=CUST, how="inner")
            .filter(pl.col("first") <= month, month <= pl.col("last"))
            .select(CUST, "left", fee_due_on(month).alias("due_on"), cents="monthly_fee"),
            one_offs.join(crossing, on=CUST, how="inner")
            .filter(pl.col("month") == month)
            .select(
                CUST,
                "left",
                pl.col("paid_on").alias("due_on"),
                cents=pl.lit(surcharge, dtype=pl.Int64),
            ),
        ],
        how="vertical_relaxed",
    )
    # Charges due on one day are settled together: which of them is unpaid does not change
    # the date.
    return (
        in_month.group_by(CUST, "due_on")
        .agg(pl.col("cents").sum(), pl.col("left").first())
        .filter(pl.col("cents").cum_sum().over(CUST, order_by="due_on") > pl.col("left"))
        .group_by(CUST)
        .agg(pl.col("due_on").min().alias("oldest_unpaid_on"))
    )


def _totals(
    agreements: pl.LazyFrame, payments: pl.LazyFrame, as_of: dt.date, settings: LedgerSettings
) -> pl.LazyFrame:
    """Per subscriber: credits, charges due by as_of, and the part of them due on as_of itself.

    Counted per agreement without listing its months (see `_fee_months`).
    """
    this_month = month_number(pl.lit(as_of))
    first, last = pl.col("first"), pl.col("last")
    fees = (
        _fee_schedules(agreements, as_of)
        .with_columns(
            months_due=(last - first + 1).clip(lower_bound=0),
            # Never truncated: `last` drops the as-of month only when its fee is due later.
            due_today=(last == this_month)
            & (last >= first)
            & (fee_due_on(this_month) == pl.lit(as_of)),
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
