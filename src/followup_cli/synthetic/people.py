"""The synthetic club's people and their calendar events (shares in generate.py's docstring)."""

from __future__ import annotations

import polars as pl

from followup_cli.synthetic.base import (
    ARREARS,
    BOOKED_AHEAD_DAYS,
    COLLECTIONS,
    DROP_IN,
    EXPORTED,
    FIRST,
    FORMER_MEMBER,
    MAX_AGREEMENTS,
    MEMBER,
    PACK,
    PAYING,
    PROSPECT,
    RENEWAL,
    SUSPENDED,
    USED_PACK,
    Random,
    from_list,
    pick,
)

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
# A club of three branches (issue 22: one output set per club); 5% have none on file.
HOME_CLUBS = (("Downtown", 45.0), ("Riverside", 30.0), ("Uptown", 20.0), (None, 5.0))
PHONE_MISSING, EMAIL_MISSING = 0.10, 0.15
PERSONAS = (
    (PROSPECT, 30.0), (MEMBER, 38.0), (FORMER_MEMBER, 12.0), (PACK, 7.0), (USED_PACK, 5.0),
    (DROP_IN, 4.0), (RENEWAL, 4.0),
)  # fmt: skip
AGREEMENTS_PER_CUSTOMER = ((1, 40.0), (2, 28.0), (3, 16.0), (4, 9.0), (5, 5.0), (6, 2.0))
MEMBER_BEHAVIOUR = ((PAYING, 84.0), (ARREARS, 8.0), (SUSPENDED, 5.0), (COLLECTIONS, 3.0))
# Payment lag styles: on the day, early, a little late, late.
LAG_STYLES = ((0, 70.0), (1, 8.0), (2, 15.0), (3, 7.0))
# How many calendar events a prospect, and a customer, has.
PROSPECT_EVENTS = ((0, 25.0), (1, 45.0), (2, 20.0), (3, 10.0))
CUSTOMER_EVENTS = ((0, 45.0), (1, 30.0), (2, 15.0), (3, 10.0))


def make_people(customers: int, rng: Random) -> pl.LazyFrame:
    """One row per person with everything later tables are drawn from (internal columns)."""
    i = pl.col("i")
    span = EXPORTED - FIRST
    prospect = pl.col("persona") == PROSPECT
    return (
        pl.LazyFrame()
        .select(pl.int_range(customers, dtype=pl.Int64).alias("i"))
        .with_columns(
            (pl.lit(FIRST) + (rng.uniform(i, "created").sqrt() * (span + 1)).floor())
            .cast(pl.Int32)
            .alias("created"),
            pick(rng.uniform(i, "persona"), PERSONAS, pl.Int8).alias("persona"),
            pick(rng.uniform(i, "agreements"), AGREEMENTS_PER_CUSTOMER, pl.Int64).alias(
                "n_agreements"
            ),
            pick(rng.uniform(i, "behaviour"), MEMBER_BEHAVIOUR, pl.Int8).alias("behaviour"),
            pick(rng.uniform(i, "lag style"), LAG_STYLES, pl.Int8).alias("lag_style"),
            rng.uniform(i, "first purchase").alias("u_first"),
            rng.uniform(i, "missed").alias("u_missed"),
            pick(rng.uniform(i, "events"), PROSPECT_EVENTS, pl.Int64).alias("n_prospect_events"),
            pick(rng.uniform(i, "events"), CUSTOMER_EVENTS, pl.Int64).alias("n_customer_events"),
            pick(rng.uniform(i, "origin"), ORIGINS, pl.String).alias("origin"),
            _name(rng).alias("name"),
            pick(rng.uniform(i, "home club"), HOME_CLUBS, pl.String).alias("home_club"),
            _phone(rng).alias("phone"),
        )
        .with_columns(
            pl.when(prospect).then(0).otherwise(pl.col("n_agreements")).alias("n_agreements"),
            pl.when(prospect)
            .then(pl.col("n_prospect_events"))
            .otherwise(pl.col("n_customer_events"))
            .alias("n_events"),
            _start().alias("start"),
            _member_missed().alias("member_missed"),
            _email(rng).alias("email"),
        )
        .drop("u_first", "u_missed", "n_prospect_events", "n_customer_events")
    )


def _name(rng: Random) -> pl.Expr:
    """A first name and a surname; a few people have no name at all."""
    i = pl.col("i")
    return pl.when(rng.uniform(i, "no name") >= 0.02).then(
        pl.concat_str(
            from_list(rng.below(i, "first name", len(FIRST_NAMES)), FIRST_NAMES),
            pl.lit(" "),
            from_list(rng.below(i, "surname", len(SURNAMES)), SURNAMES),
        )
    )


def _phone(rng: Random) -> pl.Expr:
    """A number from the 555-0100 to 555-0199 range kept for fiction; 10% have none."""
    i = pl.col("i")
    number = pl.format("555-01{}", rng.below(i, "phone", 100).cast(pl.String).str.zfill(2))
    return pl.when(rng.uniform(i, "no phone") >= PHONE_MISSING).then(number)


def _email(rng: Random) -> pl.Expr:
    """first.last@example.com from the name, accents dropped (Zoë: zoe); 15% have none, and
    neither has a person without a name."""
    i = pl.col("i")
    plain = (
        pl.col("name")
        .str.normalize("NFKD")
        .str.to_lowercase()
        .str.replace_all("ł", "l", literal=True)  # letters NFKD keeps whole (Łukasz, Søren)
        .str.replace_all("ø", "o", literal=True)
        .str.replace_all(r"[^a-z ]", "")
        .str.replace(" ", ".", literal=True)
    )
    return pl.when(rng.uniform(i, "no email") >= EMAIL_MISSING).then(plain + "@example.com")


def _start() -> pl.Expr:
    """The first purchase: half buy on the day they sign up, the rest within a month (never
    after the export)."""
    u_first = pl.col("u_first")
    return pl.min_horizontal(
        pl.col("created")
        + pl.when(u_first < 0.5).then(0).otherwise(((u_first - 0.5) * 62).floor().cast(pl.Int32)),
        pl.lit(EXPORTED, dtype=pl.Int32),
    )


def _member_missed() -> pl.Expr:
    """Months a member leaves unpaid at the end: geometric for arrears, longer for collections."""
    behaviour, u_missed = pl.col("behaviour"), pl.col("u_missed")
    return (
        pl.when(behaviour == ARREARS)
        .then(1 + (-u_missed.log() * 3).floor().clip(0, 17).cast(pl.Int64))
        .when(behaviour == COLLECTIONS)
        .then(3 + (-u_missed.log() * 4).floor().clip(0, 15).cast(pl.Int64))
        .otherwise(0)
    )


def customers_table(people: pl.LazyFrame) -> pl.LazyFrame:
    return people.select(
        pl.format("C-{}", pl.col("i") + 1).alias("customer_id"),
        "name",
        "origin",
        pl.col("created").cast(pl.Date).alias("created_on"),
        # Beyond the contract (SPEC 2: ignored by the rules), for --carry and --split-by.
        "home_club",
        "phone",
        "email",
    )


# --- events ---------------------------------------------------------------------------------


def events_table(people: pl.LazyFrame, rng: Random) -> pl.LazyFrame:
    key = pl.col("i") * MAX_AGREEMENTS + pl.col("e")
    prospect = pl.col("persona") == PROSPECT
    last_day = EXPORTED + BOOKED_AHEAD_DAYS
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
    prospect_kind = pick(
        rng.uniform(key, "event kind"),
        (("trial", 70.0), ("appointment", 20.0), ("consultation", 10.0)),
        pl.String,
    )
    customer_kind = pick(
        rng.uniform(key, "event kind"),
        (("class", 60.0), ("appointment", 20.0), ("personal training", 15.0), ("trial", 5.0)),
        pl.String,
    )
    outcome = pick(
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
            pl.when(pl.col("day") > EXPORTED)
            .then(pl.lit("scheduled"))
            .otherwise(outcome)
            .alias("outcome"),
        )
    )
