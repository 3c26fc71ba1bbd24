"""Synthetic club exports: all four tables, realistic, deterministic, valid under SPEC 2.

For trying the tool at scale and for the benchmark. Every value is drawn from a seeded
counter-based generator (splitmix64 over the row's key: the customer's number, then its
agreement's and payment's place), written as Polars expressions, so no Python loop runs per
row, the same seed gives the same rows on any machine and Polars version (and the same bytes,
whatever the number of threads), and each table is streamed to its file without holding the
whole of it in memory: 10,000,000 people (100,000,000 payments) take about a minute and
under 1 GB.

The club (every figure is a share of all people):

- **People** sign up between 2019-01-01 and the export day, 2024-09-30, at a rate growing
  linearly over time (created_on = first day + span * sqrt(u)), so about 6% arrive after
  2024-07-31 and are left out at that as-of date. Origins: web 28%, walk-in 20%, referral 17%,
  instagram 7%, phone 6%, facebook 5%, corporate 3%, website/online/web lead 9%, empty 5%;
  a few are capitalised ("Web", "Referral") as staff type them. Names are drawn from lists
  that include accents and apostrophes; 2% are empty.
- **Journeys.** 30% are prospects with no agreement. The others first buy on the day they
  sign up (half of them) or within 30 days, and hold 1 to 6 agreements one after another
  (40%, 28%, 16%, 9%, 5%, 2%: 2.2 on average, 1.5 per person); agreement j starts in the
  j-th equal slice of the time from their first purchase to the export day, and purchases
  fall on any day, weekends and month ends included. The last agreement says who they are
  now: a current member (38%: paying 84%, in arrears 8%, suspended 5%, in collections 3%),
  a former member (12%), an active class pack (7%), a used-up class pack (5%), or a single
  session with none left (4%, Drop-In) or one left (4%, Renewal Opportunity). Former members
  and used-up packs are canceled (60%, a quarter of them spelt "cancelled"), expired (35%)
  or without an alert (5%, Unclassified). Earlier agreements are inactive (expired 65%,
  canceled 30%, no alert 5%), except 5% of earlier class packs, still active with sessions
  left.
- **Agreements.** Memberships cost 29.00 to 79.00 a month (1% are free staff memberships at
  0.00) and are open-ended, except 15% of current ones on a 12-month term; a finished
  membership ends 15% to 90% of the way to the export day, an earlier one near the start of
  the next. Class packs hold 5, 10 or 20 sessions, cost 60.00, 110.00 or 200.00 and expire
  180 days after purchase; single sessions cost 15.00.
- **Payments** (about 10 per person). A member pays the first month on the purchase day and
  every later month on its billing date plus a lag: on the day (70%), 1-3 days early (8%),
  0-4 days late (15%) or 3-15 days late (7%), and 2% of payments come 20-45 days late. 86%
  are recurring for the fee, 13.5% one-off for the fee plus the 1.00 surcharge, 0.5% one-off
  for the fee alone (the surcharge forgotten). Members in arrears stop paying 1 to 18 months
  before the export month (geometric, mean 3.5), collections 3 to 18 months; 5% of former
  members leave their last 1 or 2 months unpaid; 4% of memberships paid a month in advance
  (in credit). Packs and single sessions are paid once, one-off, on purchase. Payments after
  the export day are not in the export.
- **Events** (about 1 per person). A prospect books 0-3 trials or appointments, the first
  within 14 days of signing up and then about every 3 weeks; a customer has 0-3 classes,
  appointments or personal-training sessions anywhere from sign-up to 61 days after the
  export day. Times run 06:00-20:30 on the half hour. Past events were attended (62%),
  no-shows (16%), canceled (15%) or still marked scheduled (7%); events after the export
  day are scheduled.

At as-of 2024-07-31 (a Wednesday billing date) this gives every follow-up status and every
account status: members who pay July a few days late are Due, a June payment 20 or more days
late or a stop in June is Warning, older stops are Disabled.

Files hold rows in customer order (a real export is more often in id or date order). CSV
money is text with two places (4.00), dates ISO, starts_at "YYYY-MM-DD HH:MM"; Parquet uses
Date, Datetime, Decimal(18, 2), Int64 and String.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import polars as pl

from followup_cli import money
from followup_cli.billing_calendar import billing_date, month_number
from followup_cli.errors import UsageError
from followup_cli.formats import EXPORT_FORMATS
from followup_cli.money import MONEY_DTYPE
from followup_cli.output import Fill, write_together
from followup_cli.schema import TABLE_NAMES

FIRST_CREATED = dt.date(2019, 1, 1)
EXPORTED_ON = dt.date(2024, 9, 30)  # the day the club system was exported: nothing later
BOOKED_AHEAD_DAYS = 61  # events are booked this far past the export day
# Fixed row groups: the bytes of a Parquet file must not depend on the number of threads.
ROW_GROUP_ROWS = 250_000
# Ids are numbered with a 32-bit row index: about 10 payments a person stays well inside it.
MAX_CUSTOMERS = 100_000_000

_EPOCH = dt.date(1970, 1, 1)
_FIRST = (FIRST_CREATED - _EPOCH).days
_EXPORTED = (EXPORTED_ON - _EPOCH).days

# Personas: who a person is now, decided by their last agreement.
PROSPECT, MEMBER, FORMER_MEMBER, PACK, USED_PACK, DROP_IN, RENEWAL = range(7)
# Agreement kinds.
MEMBERSHIP, CLASS_PACK, SINGLE = range(3)
# How a current member pays.
PAYING, ARREARS, SUSPENDED, COLLECTIONS = range(4)

_MASK = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB
_MAX_AGREEMENTS = 8  # keys leave room for this many agreements per person
_MAX_PAYMENTS = 256  # and this many payments per agreement


def generate(customers: int, out_dir: Path, seed: int = 0, fmt: str = "parquet") -> dict[str, int]:
    """Write customers, agreements, payments and events files for `customers` people.

    Returns the rows written per table. The same arguments give byte-identical files.
    """
    if not 0 <= customers <= MAX_CUSTOMERS:
        raise UsageError(f"--customers {customers}: must be from 0 to {MAX_CUSTOMERS:,}")
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format {fmt!r}: choose csv or parquet")
    out_dir.mkdir(parents=True, exist_ok=True)
    other = "csv" if fmt == "parquet" else "parquet"
    clashing = [p.name for p in sorted(out_dir.glob(f"*.{other}")) if p.stem in TABLE_NAMES]
    if clashing:
        raise UsageError(
            f"{out_dir} already holds {', '.join(clashing)}; a second file for a table would "
            f"make it unreadable. Remove them or generate into another folder"
        )
    rng = _Random(seed)
    people = _people(customers, rng)
    agreements = _agreements(people, rng)
    tables = {
        "customers": _customers_table(people),
        "agreements": _agreements_table(agreements),
        "payments": _payments_table(agreements, rng),
        "events": _events_table(people, rng),
    }
    paths = {name: out_dir / f"{name}.{fmt}" for name in tables}
    # As a set, through the output module's writer: all four files land or none changes.
    write_together([(paths[name], _filler(frame, fmt)) for name, frame in tables.items()])
    return {name: _count_rows(path, fmt) for name, path in paths.items()}


# --- pseudo-random numbers -------------------------------------------------------------------


def _mix(value: int) -> int:
    """splitmix64's finaliser on one Python integer (for the per-stream constants)."""
    z = (value + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _MIX_1) & _MASK
    z = ((z ^ (z >> 27)) * _MIX_2) & _MASK
    return z ^ (z >> 31)


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


class _Random:
    """Independent streams of numbers, one per name, each a pure function of (seed, key)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def bits(self, key: pl.Expr, stream: str) -> pl.Expr:
        offset = _mix((self.seed & _MASK) ^ (zlib.crc32(stream.encode()) << 32))
        z = key.cast(pl.UInt64) * _u64(_GOLDEN) + _u64(offset)
        z = z.xor(z // _u64(2**30)) * _u64(_MIX_1)
        z = z.xor(z // _u64(2**27)) * _u64(_MIX_2)
        return z.xor(z // _u64(2**31))

    def uniform(self, key: pl.Expr, stream: str) -> pl.Expr:
        """A float in [0, 1) (53 random bits); used only to choose, never as money."""
        return (self.bits(key, stream) // _u64(2**11)).cast(pl.Float64) * 2.0**-53

    def below(self, key: pl.Expr, stream: str, n: int) -> pl.Expr:
        """A whole number in [0, n)."""
        return (self.uniform(key, stream) * n).floor().cast(pl.Int64)


Dtype = pl.DataType | type[pl.DataType]


def _pick(u: pl.Expr, weighted: Sequence[tuple[object, float]], dtype: Dtype) -> pl.Expr:
    """The value whose share of [0, 1) `u` falls in; the shares are the weights, normalised."""
    total = sum(weight for _, weight in weighted)
    uppers, upper = [], 0.0
    for _, weight in weighted:
        upper += weight / total
        uppers.append(upper)
    *earlier, (last_value, _) = weighted
    chosen = pl.lit(last_value, dtype=dtype)
    for (value, _), bound in reversed(list(zip(earlier, uppers, strict=False))):
        chosen = pl.when(u < bound).then(pl.lit(value, dtype=dtype)).otherwise(chosen)
    return chosen


def _pick_by(key: pl.Expr, mapping: dict[int, int]) -> pl.Expr:
    """`mapping[key]` for a few keys, as a when/then chain (streams, unlike `replace_strict`)."""
    chosen = pl.lit(None, dtype=pl.Int64)
    for k, value in mapping.items():
        chosen = pl.when(key == k).then(pl.lit(value, dtype=pl.Int64)).otherwise(chosen)
    return chosen


def _from_list(index: pl.Expr, values: Sequence[str]) -> pl.Expr:
    # A gather from a literal streams; `replace_strict` would hold the whole table in memory.
    return pl.lit(pl.Series(values, dtype=pl.String)).gather(index)


def _days(date: pl.Expr) -> pl.Expr:
    return date.cast(pl.Int32)


# --- people ---------------------------------------------------------------------------------

FIRST_NAMES = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Sophia", "Grace", "Lily", "Freya", "Zoë",
    "Chloé", "Aoife", "Priya", "Fatima", "Mei", "Ana", "Noah", "Oliver", "George", "Leo",
    "Arthur", "Muhammad", "Harry", "Oscar", "Jack", "Charlie", "José", "Łukasz", "Søren",
    "Kwame", "Hiroshi", "Rafael", "Dmitri", "Ciarán", "Liam", "Ethan", "Sam", "Alex",
)  # fmt: skip
SURNAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Khan", "Evans", "Thomas", "Roberts", "O'Brien", "McCarthy", "Nguyen", "García",
    "Müller", "Kowalski", "Rossi", "Okafor", "Mensah", "Sato", "Kim", "Novák", "Jensen",
    "Dubois", "Silva", "Ivanova", "Haddad", "Cohen", "Byrne", "Walsh", "Hughes", "Lewis",
)  # fmt: skip
ORIGINS = (
    ("web", 26.0), ("walk-in", 20.0), ("referral", 16.0), ("Referral", 1.0), ("Web", 2.0),
    ("website", 4.0), ("online", 3.0), ("web lead", 2.0), ("instagram", 7.0),
    ("facebook", 5.0), ("phone", 6.0), ("corporate", 3.0), (None, 5.0),
)  # fmt: skip
PERSONAS = (
    (PROSPECT, 30.0), (MEMBER, 38.0), (FORMER_MEMBER, 12.0), (PACK, 7.0), (USED_PACK, 5.0),
    (DROP_IN, 4.0), (RENEWAL, 4.0),
)  # fmt: skip
AGREEMENTS_PER_CUSTOMER = ((1, 40.0), (2, 28.0), (3, 16.0), (4, 9.0), (5, 5.0), (6, 2.0))
MEMBER_BEHAVIOUR = ((PAYING, 84.0), (ARREARS, 8.0), (SUSPENDED, 5.0), (COLLECTIONS, 3.0))
# Payment lag styles: on the day, early, a little late, late.
LAG_STYLES = ((0, 70.0), (1, 8.0), (2, 15.0), (3, 7.0))


def _people(customers: int, rng: _Random) -> pl.LazyFrame:
    """One row per person with everything later tables are drawn from (internal columns)."""
    i = pl.col("i")
    span = _EXPORTED - _FIRST
    prospect = pl.col("persona") == PROSPECT
    return (
        pl.LazyFrame()
        .select(pl.int_range(customers, dtype=pl.Int64).alias("i"))
        .with_columns(
            (pl.lit(_FIRST) + (rng.uniform(i, "created").sqrt() * (span + 1)).floor())
            .cast(pl.Int32)
            .alias("created"),
            _pick(rng.uniform(i, "persona"), PERSONAS, pl.Int8).alias("persona"),
            _pick(rng.uniform(i, "agreements"), AGREEMENTS_PER_CUSTOMER, pl.Int64).alias(
                "n_agreements"
            ),
            _pick(rng.uniform(i, "behaviour"), MEMBER_BEHAVIOUR, pl.Int8).alias("behaviour"),
            _pick(rng.uniform(i, "lag style"), LAG_STYLES, pl.Int8).alias("lag_style"),
            rng.uniform(i, "first purchase").alias("u_first"),
            rng.uniform(i, "missed").alias("u_missed"),
            _pick(
                rng.uniform(i, "events"),
                ((0, 25.0), (1, 45.0), (2, 20.0), (3, 10.0)),
                pl.Int64,
            ).alias("n_prospect_events"),
            _pick(
                rng.uniform(i, "events"),
                ((0, 45.0), (1, 30.0), (2, 15.0), (3, 10.0)),
                pl.Int64,
            ).alias("n_customer_events"),
            _pick(rng.uniform(i, "origin"), ORIGINS, pl.String).alias("origin"),
            pl.when(rng.uniform(i, "no name") >= 0.02)
            .then(
                pl.concat_str(
                    _from_list(rng.below(i, "first name", len(FIRST_NAMES)), FIRST_NAMES),
                    pl.lit(" "),
                    _from_list(rng.below(i, "surname", len(SURNAMES)), SURNAMES),
                )
            )
            .alias("name"),
        )
        .with_columns(
            pl.when(prospect).then(0).otherwise(pl.col("n_agreements")).alias("n_agreements"),
            pl.when(prospect)
            .then(pl.col("n_prospect_events"))
            .otherwise(pl.col("n_customer_events"))
            .alias("n_events"),
            # Half buy on the day they sign up, the rest within a month (never after export).
            pl.min_horizontal(
                pl.col("created")
                + pl.when(pl.col("u_first") < 0.5)
                .then(0)
                .otherwise(((pl.col("u_first") - 0.5) * 62).floor().cast(pl.Int32)),
                pl.lit(_EXPORTED, dtype=pl.Int32),
            ).alias("start"),
            # Months left unpaid at the end: geometric for arrears, longer for collections.
            pl.when(pl.col("behaviour") == ARREARS)
            .then(1 + (-pl.col("u_missed").log() * 3).floor().clip(0, 17).cast(pl.Int64))
            .when(pl.col("behaviour") == COLLECTIONS)
            .then(3 + (-pl.col("u_missed").log() * 4).floor().clip(0, 15).cast(pl.Int64))
            .otherwise(0)
            .alias("member_missed"),
        )
        .drop("u_first", "u_missed", "n_prospect_events", "n_customer_events")
    )


def _customers_table(people: pl.LazyFrame) -> pl.LazyFrame:
    return people.select(
        pl.format("C-{}", pl.col("i") + 1).alias("customer_id"),
        "name",
        "origin",
        pl.col("created").cast(pl.Date).alias("created_on"),
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


def _agreements(people: pl.LazyFrame, rng: _Random) -> pl.LazyFrame:
    """One row per agreement, in each person's purchase order, with the internal columns the
    payments are drawn from."""
    key = pl.col("i") * _MAX_AGREEMENTS + pl.col("j")
    last = pl.col("j") == pl.col("n_agreements") - 1
    persona = pl.col("persona")
    kind = pl.col("kind")
    slice_days = (_EXPORTED - pl.col("start")).cast(pl.Float64) / pl.col("n_agreements")
    u_status = rng.uniform(key, "status")
    leftover_pack = (kind == CLASS_PACK) & ~last & (u_status < 0.05)
    ended_alert = _pick(
        rng.uniform(key, "alert"),
        (("canceled", 45.0), ("cancelled", 15.0), ("expired", 35.0), (None, 5.0)),
        pl.String,
    )
    earlier_alert = _pick(
        rng.uniform(key, "alert"),
        (("expired", 65.0), ("canceled", 22.0), ("cancelled", 8.0), (None, 5.0)),
        pl.String,
    )
    remaining_share = rng.uniform(key, "sessions")
    return (
        people.filter(pl.col("n_agreements") > 0)
        .with_columns(pl.int_ranges(0, pl.col("n_agreements")).alias("j"))
        .explode("j")
        .with_columns(
            pl.when(pl.col("j") == 0)
            .then(pl.col("start"))
            .otherwise(
                pl.col("start")
                + (
                    slice_days * pl.col("j") + slice_days * 0.15 * rng.uniform(key, "purchase")
                ).floor()
            )
            .cast(pl.Int32)
            .alias("purchase"),
            pl.when(last & persona.is_in([MEMBER, FORMER_MEMBER]))
            .then(pl.lit(MEMBERSHIP))
            .when(last & persona.is_in([PACK, USED_PACK]))
            .then(pl.lit(CLASS_PACK))
            .when(last)
            .then(pl.lit(SINGLE))
            .otherwise(
                _pick(
                    rng.uniform(key, "agreement kind"),
                    ((MEMBERSHIP, 55.0), (CLASS_PACK, 35.0), (SINGLE, 10.0)),
                    pl.Int64,
                )
            )
            .cast(pl.Int8)
            .alias("kind"),
            _pick(rng.uniform(key, "fee"), MONTHLY_FEES, pl.Int64).alias("fee"),
            _pick(rng.uniform(key, "pack size"), PACK_SIZES, pl.Int64).alias("pack_size"),
            rng.uniform(key, "end").alias("u_end"),
            pl.lit(None, dtype=pl.String).alias("no_alert"),
        )
        .with_columns(
            pl.when(kind == MEMBERSHIP).then(pl.col("fee")).alias("monthly_fee"),
            pl.when(kind == CLASS_PACK)
            .then(pl.col("pack_size"))
            .when(kind == SINGLE)
            .then(1)
            .alias("session_quantity"),
            pl.when(kind == MEMBERSHIP)
            .then(None)
            .when(kind == SINGLE)
            .then(pl.when(last & (persona == RENEWAL)).then(1).otherwise(0))
            .when(last & (persona == PACK) | leftover_pack)
            .then(1 + (remaining_share * pl.col("pack_size")).floor().cast(pl.Int64))
            .when(remaining_share < 0.7)
            .then(0)
            .otherwise((remaining_share * pl.col("pack_size") / 2).floor().cast(pl.Int64))
            .clip(upper_bound=pl.col("pack_size"))
            .alias("sessions_remaining"),
            pl.when(last & (persona == MEMBER))
            .then(
                pl.when(pl.col("behaviour") == SUSPENDED)
                .then(pl.lit("suspended"))
                .when(pl.col("behaviour") == COLLECTIONS)
                .then(pl.lit("collections"))
                .otherwise(pl.lit("active"))
            )
            .when(last & persona.is_in([PACK, DROP_IN, RENEWAL]) | leftover_pack)
            .then(pl.lit("active"))
            .otherwise(pl.lit("inactive"))
            .alias("status"),
            pl.when(last & persona.is_in([FORMER_MEMBER, USED_PACK]))
            .then(ended_alert)
            .when(~last & ~leftover_pack)
            .then(earlier_alert)
            .otherwise(pl.col("no_alert"))
            .alias("alert"),
        )
        .with_columns(
            pl.when(kind == CLASS_PACK)
            .then(pl.col("purchase") + PACK_EXPIRES_DAYS)
            .when(kind == SINGLE)
            .then(None)
            .when(last & (persona == MEMBER))
            .then(
                pl.when(
                    (pl.col("u_end") < 0.15) & (pl.col("purchase") + TERM_DAYS > _EXPORTED)
                ).then(pl.col("purchase") + TERM_DAYS)
            )
            .when(last)
            .then(
                pl.col("purchase")
                + ((_EXPORTED - pl.col("purchase")) * (0.15 + 0.75 * pl.col("u_end")))
                .floor()
                .cast(pl.Int32)
            )
            .otherwise(
                pl.col("purchase")
                + (slice_days * (0.7 + 0.2 * pl.col("u_end"))).floor().cast(pl.Int32)
            )
            .cast(pl.Int32)
            .alias("end"),
            # Months left unpaid at the end of this agreement.
            pl.when(last & (persona == MEMBER))
            .then(pl.col("member_missed"))
            .when(last & (persona == FORMER_MEMBER) & (rng.uniform(key, "unpaid tail") < 0.05))
            .then(1 + rng.below(key, "unpaid months", 2))
            .otherwise(0)
            .alias("missed"),
            (rng.uniform(key, "prepaid") < 0.04).alias("prepaid"),
        )
        .with_row_index("number", offset=1)
        .with_columns(pl.format("A-{}", pl.col("number")).alias("agreement_id"))
        .drop("number", "fee", "pack_size", "u_end", "no_alert", "member_missed")
    )


def _agreements_table(agreements: pl.LazyFrame) -> pl.LazyFrame:
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


def _payments_table(agreements: pl.LazyFrame, rng: _Random) -> pl.LazyFrame:
    """Each membership month paid (some late, some never), packs and sessions paid once."""
    is_membership = pl.col("kind") == MEMBERSHIP
    first_month = month_number(pl.col("purchase").cast(pl.Date))
    end_month = month_number(
        pl.min_horizontal(pl.col("end"), pl.lit(_EXPORTED, dtype=pl.Int32)).cast(pl.Date)
    )
    months_paid = (end_month - first_month + 1 - pl.col("missed")).clip(lower_bound=0)
    n_payments = (
        pl.when(is_membership & (pl.col("monthly_fee") > 0))
        .then(months_paid + pl.col("prepaid").cast(pl.Int64))
        .when(is_membership)
        .then(0)
        .otherwise(1)
    )
    key = (pl.col("i") * _MAX_AGREEMENTS + pl.col("j")) * _MAX_PAYMENTS + pl.col("t")
    style = pl.col("lag_style")
    lag = (
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
    month = first_month + pl.col("t").cast(pl.Int32)
    monthly_paid_on = pl.max_horizontal(
        _days(billing_date(month)) + lag.cast(pl.Int32), pl.col("purchase")
    )
    u_kind = rng.uniform(key, "payment kind")
    one_off = pl.col("is_fee") & (u_kind >= 0.86)
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
            .then(monthly_paid_on)
            .otherwise(pl.col("purchase"))
            .cast(pl.Int32)
            .alias("paid"),
            pl.when(pl.col("kind") == CLASS_PACK)
            .then(_pick_by(pl.col("session_quantity"), PACK_PRICES))
            .when(pl.col("kind") == SINGLE)
            .then(SINGLE_PRICE)
            .when(one_off & (u_kind < 0.995))
            .then(pl.col("monthly_fee") + 100)
            .otherwise(pl.col("monthly_fee"))
            .alias("amount"),
            pl.when(~is_membership | one_off)
            .then(pl.lit("one-off"))
            .otherwise(pl.lit("recurring"))
            .alias("kind"),
        )
        .filter(pl.col("paid") <= _EXPORTED)
        .with_row_index("number", offset=1)
        .select(
            pl.format("P-{}", pl.col("number")).alias("payment_id"),
            pl.format("C-{}", pl.col("i") + 1).alias("customer_id"),
            pl.col("paid").cast(pl.Date).alias("paid_on"),
            "amount",
            "kind",
        )
    )


# --- events ---------------------------------------------------------------------------------


def _events_table(people: pl.LazyFrame, rng: _Random) -> pl.LazyFrame:
    key = pl.col("i") * _MAX_AGREEMENTS + pl.col("e")
    prospect = pl.col("persona") == PROSPECT
    last_day = _EXPORTED + BOOKED_AHEAD_DAYS
    day = (
        pl.when(prospect)
        .then(pl.col("created") + pl.col("e") * 21 + rng.below(key, "day", 15))
        .otherwise(
            pl.col("created")
            + (rng.uniform(key, "day") * (last_day - pl.col("created") + 1)).floor()
        )
        .cast(pl.Int32)
    )
    minutes = 6 * 60 + 30 * rng.below(key, "time", 30)
    prospect_kind = _pick(
        rng.uniform(key, "event kind"),
        (("trial", 70.0), ("appointment", 20.0), ("consultation", 10.0)),
        pl.String,
    )
    customer_kind = _pick(
        rng.uniform(key, "event kind"),
        (("class", 60.0), ("appointment", 20.0), ("personal training", 15.0), ("trial", 5.0)),
        pl.String,
    )
    outcome = _pick(
        rng.uniform(key, "outcome"),
        (("attended", 62.0), ("no-show", 16.0), ("canceled", 15.0), ("scheduled", 7.0)),
        pl.String,
    )
    return (
        people.filter(pl.col("n_events") > 0)
        .with_columns(pl.int_ranges(0, pl.col("n_events")).alias("e"))
        .explode("e")
        .with_columns(day.alias("day"))
        .with_row_index("number", offset=1)
        .select(
            pl.format("E-{}", pl.col("number")).alias("event_id"),
            pl.format("C-{}", pl.col("i") + 1).alias("customer_id"),
            (
                pl.col("day").cast(pl.Date).cast(pl.Datetime("us")) + pl.duration(minutes=minutes)
            ).alias("starts_at"),
            pl.when(prospect).then(prospect_kind).otherwise(customer_kind).alias("kind"),
            pl.when(pl.col("day") > _EXPORTED)
            .then(pl.lit("scheduled"))
            .otherwise(outcome)
            .alias("outcome"),
        )
    )


# --- writing --------------------------------------------------------------------------------


# Money is integer cents until written: text with two places in CSV, decimals in Parquet.
_MONEY_COLUMNS = ("monthly_fee", "amount")


def _filler(frame: pl.LazyFrame, fmt: str) -> Fill:
    """What streams `frame` into an open file as `fmt` (the exports are never held whole)."""
    money_columns = [c for c in frame.collect_schema().names() if c in _MONEY_COLUMNS]

    def fill(sink: BinaryIO) -> None:
        if fmt == "csv":
            frame.with_columns(money.as_text(pl.col(c)).alias(c) for c in money_columns).sink_csv(
                sink, date_format="%Y-%m-%d", datetime_format="%Y-%m-%d %H:%M"
            )
        else:
            frame.with_columns(_decimal(pl.col(c)).alias(c) for c in money_columns).sink_parquet(
                sink, row_group_size=ROW_GROUP_ROWS
            )

    return fill


def _decimal(cents: pl.Expr) -> pl.Expr:
    """Cents as Decimal(18, 2). Scaled before dividing: a Decimal(18, 0) divided by 100 is
    rounded to whole units by Polars 2.1, which would turn 39.99 into 40.00."""
    return (cents.cast(MONEY_DTYPE) / 100).cast(MONEY_DTYPE)


def _count_rows(path: Path, fmt: str) -> int:
    scan = pl.scan_csv(path, infer_schema=False) if fmt == "csv" else pl.scan_parquet(path)
    return int(scan.select(pl.len()).collect().item())
