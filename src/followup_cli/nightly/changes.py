"""What changed since the previous run (SPEC 8): one row per person who moved, arrived or left.

Only the two statuses count as a change. Balance and days_in_arrears move every night for
anyone who owes money, so a row diff of two outputs is mostly noise; the person a manager must
call is the one whose follow-up list or account status is different from yesterday.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from followup_cli.core import frames
from followup_cli.core.list_names import CHANGE_WORDS
from followup_cli.core.money import MONEY_DTYPE
from followup_cli.core.schema import normalise_id
from followup_cli.nightly.earlier_output import COMPARED_BEFORE, REQUIRED

CHANGE_COLUMNS = (
    "customer_id",
    "name",
    "previous_as_of",
    "as_of",
    "from_status",
    "to_status",
    "from_account_status",
    "to_account_status",
    "previous_balance",
    "balance",
    "reason",
)
TRANSITION_COLUMNS = ("field", "from", "to", "people")
# Newly on one of these lists is what the morning call list starts with.
# Each with its field: a follow-up list a rules file names "Disabled" is no account Disabled.
URGENT = (
    ("follow_up_status", "Delinquent Customer"),
    ("account_status", "Disabled"),
    ("follow_up_status", "Collections Customer"),
)
NEW, GONE, NONE = CHANGE_WORDS
GONE_REASON = "not in this run: no longer in the customers export"

_KEY = "_match_id"
_POS, _PREV_POS = "_pos", "_prev_pos"


def match_id(column: str = "customer_id") -> pl.Expr:
    """Ids are matched as validation matches them: trimmed and case-insensitively."""
    return normalise_id(pl.col(column))


def _held(frame: pl.DataFrame | pl.LazyFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """The compared `columns`, the balance as money (a run's is already: nothing to do), so
    that a balance that is not money is refused whoever moved."""
    balance = pl.col("balance").cast(MONEY_DTYPE)
    return frame.lazy().select(columns).with_columns(balance).collect()


def _keys(frame: pl.DataFrame, position: str) -> pl.LazyFrame:
    """What the join needs of a run: the id as matched, the two statuses, the row's place."""
    return (
        frame.lazy()
        .select(match_id().alias(_KEY), "follow_up_status", "account_status")
        .with_row_index(position)
    )


def changes(
    previous: pl.DataFrame | pl.LazyFrame,
    current: pl.DataFrame | pl.LazyFrame,
    previous_as_of: dt.date | None,
    as_of: dt.date | None,
) -> pl.DataFrame:
    """The SPEC 8 changes frame: people in the current run's order, then those gone, in the
    previous run's order. from_* are empty for a new person, to_* for one who is gone.

    Only ids and statuses go through the join, which finds who moved; their names and balances
    are then taken by their place in each run, and the reason by its place in this one (the
    previous run's reasons are not read). With every column in the join, the nightly job's
    peak at a million people was the comparison's (1.13 GB against 0.95 for the rest of the
    run)."""
    now, then = _held(current, REQUIRED), _held(previous, COMPARED_BEFORE)
    moved = (
        _keys(now, _POS)
        .join(_keys(then, _PREV_POS), on=_KEY, how="full", suffix="_prev", coalesce=True)
        .filter(
            pl.col(_POS).is_null()
            | pl.col(_PREV_POS).is_null()
            | pl.col("follow_up_status").ne_missing(pl.col("follow_up_status_prev"))
            | pl.col("account_status").ne_missing(pl.col("account_status_prev"))
        )
        .select(_POS, _PREV_POS)
        .collect()
        .sort([_POS, _PREV_POS], nulls_last=True, maintain_order=True)
    )
    # A person new tonight has no place in the previous run, one gone none in this: nulls.
    here_at, there_at = moved.get_column(_POS), moved.get_column(_PREV_POS)
    here_rows = frames.gathered(now, [pl.col(REQUIRED).gather(here_at)])
    there = pl.col(COMPARED_BEFORE).gather(there_at).name.suffix("_prev")
    there_rows = frames.gathered(then, [there])
    joined = pl.DataFrame([here_at, *here_rows.get_columns(), *there_rows.get_columns()])
    here = pl.col(_POS).is_not_null()
    return (
        joined.lazy()
        .select(
            pl.coalesce("customer_id", "customer_id_prev").alias("customer_id"),
            pl.coalesce("name", "name_prev").alias("name"),
            pl.lit(previous_as_of, dtype=pl.Date).alias("previous_as_of"),
            pl.lit(as_of, dtype=pl.Date).alias("as_of"),
            pl.col("follow_up_status_prev").alias("from_status"),
            pl.col("follow_up_status").alias("to_status"),
            pl.col("account_status_prev").alias("from_account_status"),
            pl.col("account_status").alias("to_account_status"),
            pl.col("balance_prev").alias("previous_balance"),
            pl.col("balance"),
            pl.when(here).then(pl.col("reason")).otherwise(pl.lit(GONE_REASON)).alias("reason"),
        )
        .collect()
    )


def transitions(changed: pl.DataFrame) -> pl.DataFrame:
    """From -> to counts per status field; newly Delinquent, Disabled and Collections first,
    then the biggest moves. `(new)` and `(gone)` stand for a person arriving or leaving."""
    new = pl.col("from_status").is_null()
    gone = pl.col("to_status").is_null()

    def moves(field: str, before: str, after: str) -> pl.LazyFrame:
        return (
            changed.lazy()
            .filter(pl.col(before).ne_missing(pl.col(after)))
            .select(
                pl.lit(field).alias("field"),
                pl.when(new)
                .then(pl.lit(NEW))
                .otherwise(pl.col(before).fill_null(NONE))
                .alias("from"),
                pl.when(gone)
                .then(pl.lit(GONE))
                .otherwise(pl.col(after).fill_null(NONE))
                .alias("to"),
            )
        )

    both = pl.concat(
        [
            moves("follow_up_status", "from_status", "to_status"),
            moves("account_status", "from_account_status", "to_account_status"),
        ]
    )
    rank = pl.lit(len(URGENT), dtype=pl.Int8)
    for place, (field, status) in reversed(list(enumerate(URGENT))):
        first = (pl.col("field") == field) & (pl.col("to") == status)
        rank = pl.when(first).then(pl.lit(place, dtype=pl.Int8)).otherwise(rank)
    return (
        both.group_by("field", "from", "to")
        .agg(pl.len().cast(pl.Int64).alias("people"))
        .sort(
            [rank, pl.col("people"), "field", "from", "to"],
            descending=[False, True, False, False, False],
        )
        .collect()
    )
