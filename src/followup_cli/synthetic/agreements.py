"""The synthetic club's agreements and payments (shares in generate.py's docstring)."""

from __future__ import annotations

import polars as pl

from followup_cli.core.billing_calendar import billing_date, month_number
from followup_cli.synthetic.base import (
    CLASS_PACK,
    COLLECTIONS,
    DROP_IN,
    EXPORTED,
    FORMER_MEMBER,
    MAX_AGREEMENTS,
    MAX_PAYMENTS,
    MEMBER,
    MEMBERSHIP,
    PACK,
    RENEWAL,
    SINGLE,
    SUSPENDED,
    USED_PACK,
    Random,
    days,
    pick,
    pick_by,
)

# --- agreements -----------------------------------------------------------------------------

MONTHLY_FEES = (
    (2900, 14.0), (3500, 16.0), (3999, 20.0), (4500, 14.0), (4900, 14.0), (5950, 9.0),
    (6500, 7.0), (7900, 5.0), (0, 1.0),
)  # fmt: skip
PACK_SIZES = ((5, 40.0), (10, 40.0), (20, 20.0))
PACK_PRICES = {5: 6000, 10: 11000, 20: 20000}
SINGLE_PRICE = 1500
PACK_EXPIRES_DAYS = 180
TERM_DAYS = 364


def make_agreements(people: pl.LazyFrame, rng: Random) -> pl.LazyFrame:
    """One row per agreement, in each person's purchase order, with the internal columns the
    payments are drawn from."""
    kind = pl.col("kind")
    return (
        people.filter(pl.col("n_agreements") > 0)
        .with_columns(pl.int_ranges(0, pl.col("n_agreements")).alias("j"))
        .explode("j")
        .with_columns(
            _purchase_day(rng).alias("purchase"),
            _kind(rng).alias("kind"),
            pick(rng.uniform(_key(), "fee"), MONTHLY_FEES, pl.Int64).alias("fee"),
            pick(rng.uniform(_key(), "pack size"), PACK_SIZES, pl.Int64).alias("pack_size"),
            rng.uniform(_key(), "end").alias("u_end"),
            pl.lit(None, dtype=pl.String).alias("no_alert"),
        )
        .with_columns(
            pl.when(kind == MEMBERSHIP).then(pl.col("fee")).alias("monthly_fee"),
            pl.when(kind == CLASS_PACK)
            .then(pl.col("pack_size"))
            .when(kind == SINGLE)
            .then(1)
            .alias("session_quantity"),
            _sessions_remaining(rng).alias("sessions_remaining"),
            _status(rng).alias("status"),
            _alert(rng).alias("alert"),
        )
        .with_columns(
            _end().alias("end"),
            _missed(rng).alias("missed"),
            (rng.uniform(_key(), "prepaid") < 0.04).alias("prepaid"),
        )
        .with_row_index("number", offset=1)
        .with_columns(pl.format("A-{}", pl.col("number")).alias("agreement_id"))
        .drop("number", "fee", "pack_size", "u_end", "no_alert", "member_missed")
    )


def _key() -> pl.Expr:
    """An agreement's key for its random draws: person `i`, agreement `j`."""
    return pl.col("i") * MAX_AGREEMENTS + pl.col("j")


def _last() -> pl.Expr:
    """The person's last agreement: the one their persona is about."""
    return pl.col("j") == pl.col("n_agreements") - 1


def _slice_days() -> pl.Expr:
    """Each agreement's share of the days from the person's first purchase to the export."""
    return (EXPORTED - pl.col("start")).cast(pl.Float64) / pl.col("n_agreements")


def _leftover_pack(rng: Random) -> pl.Expr:
    """An earlier class pack still active with sessions left (a few of them)."""
    return (pl.col("kind") == CLASS_PACK) & ~_last() & (rng.uniform(_key(), "status") < 0.05)


def _purchase_day(rng: Random) -> pl.Expr:
    """The first agreement on the person's start day, each later one early in its slice."""
    slice_days = _slice_days()
    return (
        pl.when(pl.col("j") == 0)
        .then(pl.col("start"))
        .otherwise(
            pl.col("start")
            + (
                slice_days * pl.col("j") + slice_days * 0.15 * rng.uniform(_key(), "purchase")
            ).floor()
        )
        .cast(pl.Int32)
    )


def _kind(rng: Random) -> pl.Expr:
    """The last agreement's kind follows the persona; earlier ones are drawn."""
    last, persona = _last(), pl.col("persona")
    return (
        pl.when(last & persona.is_in([MEMBER, FORMER_MEMBER]))
        .then(pl.lit(MEMBERSHIP))
        .when(last & persona.is_in([PACK, USED_PACK]))
        .then(pl.lit(CLASS_PACK))
        .when(last)
        .then(pl.lit(SINGLE))
        .otherwise(
            pick(
                rng.uniform(_key(), "agreement kind"),
                ((MEMBERSHIP, 55.0), (CLASS_PACK, 35.0), (SINGLE, 10.0)),
                pl.Int64,
            )
        )
        .cast(pl.Int8)
    )


def _sessions_remaining(rng: Random) -> pl.Expr:
    """None for a membership; a pack or session in use has some left, a used one mostly none."""
    last, persona, kind = _last(), pl.col("persona"), pl.col("kind")
    remaining_share = rng.uniform(_key(), "sessions")
    return (
        pl.when(kind == MEMBERSHIP)
        .then(None)
        .when(kind == SINGLE)
        .then(pl.when(last & (persona == RENEWAL)).then(1).otherwise(0))
        .when(last & (persona == PACK) | _leftover_pack(rng))
        .then(1 + (remaining_share * pl.col("pack_size")).floor().cast(pl.Int64))
        .when(remaining_share < 0.7)
        .then(0)
        .otherwise((remaining_share * pl.col("pack_size") / 2).floor().cast(pl.Int64))
        .clip(upper_bound=pl.col("pack_size"))
    )


def _status(rng: Random) -> pl.Expr:
    """A member's last agreement as they pay; current packs and sessions active; the rest
    inactive."""
    last, persona = _last(), pl.col("persona")
    return (
        pl.when(last & (persona == MEMBER))
        .then(
            pl.when(pl.col("behaviour") == SUSPENDED)
            .then(pl.lit("suspended"))
            .when(pl.col("behaviour") == COLLECTIONS)
            .then(pl.lit("collections"))
            .otherwise(pl.lit("active"))
        )
        .when(last & persona.is_in([PACK, DROP_IN, RENEWAL]) | _leftover_pack(rng))
        .then(pl.lit("active"))
        .otherwise(pl.lit("inactive"))
    )


def _alert(rng: Random) -> pl.Expr:
    """Why an ended agreement ended (spelt both ways, sometimes missing); none on a current one."""
    last = _last()
    ended_alert = pick(
        rng.uniform(_key(), "alert"),
        (("canceled", 45.0), ("cancelled", 15.0), ("expired", 35.0), (None, 5.0)),
        pl.String,
    )
    earlier_alert = pick(
        rng.uniform(_key(), "alert"),
        (("expired", 65.0), ("canceled", 22.0), ("cancelled", 8.0), (None, 5.0)),
        pl.String,
    )
    return (
        pl.when(last & pl.col("persona").is_in([FORMER_MEMBER, USED_PACK]))
        .then(ended_alert)
        .when(~last & ~_leftover_pack(rng))
        .then(earlier_alert)
        .otherwise(pl.col("no_alert"))
    )


def _end() -> pl.Expr:
    """When the agreement ends (None: open-ended); packs expire, sessions never end."""
    last, persona, kind = _last(), pl.col("persona"), pl.col("kind")
    purchase, u_end = pl.col("purchase"), pl.col("u_end")
    return (
        pl.when(kind == CLASS_PACK)
        .then(purchase + PACK_EXPIRES_DAYS)
        .when(kind == SINGLE)
        .then(None)
        .when(last & (persona == MEMBER))
        .then(
            pl.when((u_end < 0.15) & (purchase + TERM_DAYS > EXPORTED)).then(purchase + TERM_DAYS)
        )
        .when(last)
        .then(purchase + ((EXPORTED - purchase) * (0.15 + 0.75 * u_end)).floor().cast(pl.Int32))
        .otherwise(purchase + (_slice_days() * (0.7 + 0.2 * u_end)).floor().cast(pl.Int32))
        .cast(pl.Int32)
    )


def _missed(rng: Random) -> pl.Expr:
    """Months left unpaid at the end of this agreement."""
    last, persona = _last(), pl.col("persona")
    return (
        pl.when(last & (persona == MEMBER))
        .then(pl.col("member_missed"))
        .when(last & (persona == FORMER_MEMBER) & (rng.uniform(_key(), "unpaid tail") < 0.05))
        .then(1 + rng.below(_key(), "unpaid months", 2))
        .otherwise(0)
    )


def agreements_table(agreements: pl.LazyFrame) -> pl.LazyFrame:
    return agreements.select(
        "agreement_id",
        pl.format("C-{}", pl.col("i") + 1).alias("customer_id"),
        pl.col("purchase").cast(pl.Date).alias("purchase_date"),
        "session_quantity",
        "sessions_remaining",
        "status",
        "alert",
        "monthly_fee",
        pl.col("end").cast(pl.Date).alias("end_date"),
    )


# --- payments -------------------------------------------------------------------------------


def payments_table(agreements: pl.LazyFrame, rng: Random) -> pl.LazyFrame:
    """Each membership month paid (some late, some never), packs and sessions paid once."""
    is_membership = pl.col("kind") == MEMBERSHIP
    months_paid = _months_paid()
    n_payments = (
        pl.when(is_membership & (pl.col("monthly_fee") > 0))
        .then(months_paid + pl.col("prepaid").cast(pl.Int64))
        .when(is_membership)
        .then(0)
        .otherwise(1)
    )
    return (
        agreements.with_columns(
            months_paid.alias("months_paid"), pl.int_ranges(0, n_payments).alias("t")
        )
        .explode("t")
        .with_columns(
            (is_membership & (pl.col("t") < pl.col("months_paid"))).alias("is_fee"),
        )
        .with_columns(
            pl.when(pl.col("is_fee") & (pl.col("t") > 0))
            .then(_monthly_paid_on(rng))
            .otherwise(pl.col("purchase"))
            .cast(pl.Int32)
            .alias("paid"),
            _amount(rng).alias("amount"),
            pl.when(~is_membership | _one_off(rng))
            .then(pl.lit("one-off"))
            .otherwise(pl.lit("recurring"))
            .alias("kind"),
        )
        .filter(pl.col("paid") <= EXPORTED)
        .with_row_index("number", offset=1)
        .select(
            pl.format("P-{}", pl.col("number")).alias("payment_id"),
            pl.format("C-{}", pl.col("i") + 1).alias("customer_id"),
            pl.col("paid").cast(pl.Date).alias("paid_on"),
            "amount",
            "kind",
        )
    )


def _first_month() -> pl.Expr:
    return month_number(pl.col("purchase").cast(pl.Date))


def _months_paid() -> pl.Expr:
    """The agreement's months up to its end (or the export), less those it leaves unpaid."""
    end_month = month_number(
        pl.min_horizontal(pl.col("end"), pl.lit(EXPORTED, dtype=pl.Int32)).cast(pl.Date)
    )
    return (end_month - _first_month() + 1 - pl.col("missed")).clip(lower_bound=0)


def _payment_key() -> pl.Expr:
    """A payment's key for its random draws: person `i`, agreement `j`, payment `t`."""
    return (pl.col("i") * MAX_AGREEMENTS + pl.col("j")) * MAX_PAYMENTS + pl.col("t")


def _lag(rng: Random) -> pl.Expr:
    """Days after the billing date a month is paid, by the person's lag style (on the day,
    early, a little late, late), and now and then very late."""
    key, style = _payment_key(), pl.col("lag_style")
    return (
        pl.when(style == 0)
        .then(0)
        .when(style == 1)
        .then(-1 - rng.below(key, "payment lag", 3))
        .when(style == 2)
        .then(rng.below(key, "payment lag", 5))
        .otherwise(3 + rng.below(key, "payment lag", 13))
    ) + pl.when(rng.uniform(key, "very late") < 0.02).then(
        20 + rng.below(key, "very late days", 26)
    ).otherwise(0)


def _monthly_paid_on(rng: Random) -> pl.Expr:
    """Month `t`'s payment day: its billing date moved by the lag, never before the purchase."""
    month = _first_month() + pl.col("t").cast(pl.Int32)
    return pl.max_horizontal(
        days(billing_date(month)) + _lag(rng).cast(pl.Int32), pl.col("purchase")
    )


def _one_off(rng: Random) -> pl.Expr:
    """A month's fee paid at the desk as a one-off (which adds the surcharge)."""
    return pl.col("is_fee") & (rng.uniform(_payment_key(), "payment kind") >= 0.86)


def _amount(rng: Random) -> pl.Expr:
    """A pack's or session's price; a month's fee, plus the 1.00 surcharge on most one-offs."""
    u_kind = rng.uniform(_payment_key(), "payment kind")
    return (
        pl.when(pl.col("kind") == CLASS_PACK)
        .then(pick_by(pl.col("session_quantity"), PACK_PRICES))
        .when(pl.col("kind") == SINGLE)
        .then(SINGLE_PRICE)
        .when(_one_off(rng) & (u_kind < 0.995))
        .then(pl.col("monthly_fee") + 100)
        .otherwise(pl.col("monthly_fee"))
    )
