"""Members' visits (issue 21): the classes people with agreements book, so that a `no_visit`
(At Risk) rule has people at every scale (shares in generate.py's docstring).

Visits fall in the VISIT_DAYS days up to the export day, which covers the as-of dates the
generated exports are used at (2024-07-31 to the export day) with two months of history before
them. Only people whose first purchase is on or before 2024-07-31 visit: at any of those as-of
dates a person with visits is a customer, so no prospect gains an event. A visitor comes every
7 to 21 days (a steady cadence with a day of jitter either way); a lapsed visitor came the same
way but stopped somewhere in the window; some never come. They are the events table's last
rows, numbered V-1, V-2, ... in customer order, so the events made before them (and every
prospect's) keep their rows and ids. The default rules never read a customer's events, so the
default output does not depend on them.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from followup_cli.synthetic.base import EXPORTED, MEMBER, PACK, PROSPECT, Random, pick

VISITS_BY = (dt.date(2024, 7, 31) - dt.date(1970, 1, 1)).days  # only people who bought by then
VISIT_DAYS = 120  # visits fall in the 120 days up to the export day (2024-06-03 to 2024-09-30)
MAX_VISITS = 32  # keys leave room for this many visits per person (120 / 7 + 1 is 18)
REGULAR, LAPSED, NEVER = range(3)
# Current members and class-pack holders mostly come; the others mostly have stopped.
CURRENT_VISITORS = ((REGULAR, 60.0), (LAPSED, 25.0), (NEVER, 15.0))
OTHER_VISITORS = ((REGULAR, 10.0), (LAPSED, 40.0), (NEVER, 50.0))
VISIT_OUTCOMES = (("attended", 78.0), ("no-show", 11.0), ("canceled", 11.0))


def visits_table(people: pl.LazyFrame, rng: Random) -> pl.LazyFrame:
    """One `class` event per visit of a person with agreements, in the events table's columns."""
    i = pl.col("i")
    current = pl.col("persona").is_in([MEMBER, PACK])
    pattern = (
        pl.when(current)
        .then(pick(rng.uniform(i, "visitor"), CURRENT_VISITORS, pl.Int8))
        .otherwise(pick(rng.uniform(i, "visitor"), OTHER_VISITORS, pl.Int8))
    )
    first = pl.max_horizontal(pl.col("start"), pl.lit(EXPORTED - VISIT_DAYS + 1)).cast(pl.Int64)
    window = pl.lit(EXPORTED, dtype=pl.Int64) - pl.col("first")
    stop = (
        pl.when(pl.col("pattern") == REGULAR)
        .then(pl.lit(EXPORTED, dtype=pl.Int64))
        .otherwise(pl.col("first") + (rng.uniform(i, "visits stop") * window).floor())
    )
    every = 7 + rng.below(i, "visit every", 15)
    phase = (rng.uniform(i, "visit phase") * pl.col("every")).floor().cast(pl.Int64)
    count = ((pl.col("stop") - pl.col("first") - pl.col("phase")) // pl.col("every") + 1).clip(0)
    key = i * MAX_VISITS + pl.col("v")
    day = (
        pl.col("first")
        + pl.col("phase")
        + pl.col("v") * pl.col("every")
        + rng.below(key, "visit jitter", 3)
        - 1
    ).clip(pl.col("first"), pl.col("stop"))
    minutes = 6 * 60 + 30 * rng.below(key, "visit time", 30)
    return (
        people.filter((pl.col("persona") != PROSPECT) & (pl.col("start") <= VISITS_BY))
        .with_columns(pattern.alias("pattern"), first.alias("first"), every.alias("every"))
        .filter(pl.col("pattern") != NEVER)
        .with_columns(stop.cast(pl.Int64).alias("stop"), phase.alias("phase"))
        .with_columns(count.alias("count"))
        .filter(pl.col("count") > 0)
        .with_columns(pl.int_ranges(0, pl.col("count")).alias("v"))
        .explode("v")
        .with_columns(day.alias("day"))
        .with_row_index("number", offset=1)
        .select(
            pl.format("V-{}", pl.col("number")).alias("event_id"),
            pl.format("C-{}", i + 1).alias("customer_id"),
            (
                pl.col("day").cast(pl.Int32).cast(pl.Date).cast(pl.Datetime("us"))
                + pl.duration(minutes=minutes)
            ).alias("starts_at"),
            pl.lit("class").alias("kind"),
            pick(rng.uniform(key, "visit outcome"), VISIT_OUTCOMES, pl.String).alias("outcome"),
        )
    )
