"""Rows that could not be split into columns (SPEC 6): their rejects rows, and a best guess at
whom they are about, so that person's output row still counts them in data_issues."""

from __future__ import annotations

import polars as pl

from followup_cli.core.schema import LINE, REJECT_SCHEMA, normalise_id
from followup_cli.core.tables import KEY, REF
from followup_cli.reading.loading import RawTable
from followup_cli.reading.row_checks import cut


def guessed_people(raw: RawTable) -> pl.DataFrame:
    """LINE and `person`: the customer id (as matched) that each row which could not be split
    seems to name, as `validate` reads it (see `unsplit_names`); rows with no guess are left
    out."""
    column = KEY if raw.table.name == "customers" else REF
    return unsplit_names(raw).select(LINE, pl.col(column).alias("person")).drop_nulls("person")


def unsplit_names(raw: RawTable) -> pl.DataFrame:
    """Who a row that could not be split into columns seems to be about: the fields at the
    header's key and customer_id positions, split naively at commas (line, key, ref).

    Only a best guess (a missing comma shifts later fields), but ids come first in an export, so
    a reference to a person whose customers row was broken still says where to look, and that
    person's output row still counts the broken payment or agreement in data_issues.
    """
    key = raw.table.key.name
    return raw.structural_rejects.select(
        pl.col("line").alias(LINE),
        normalise_id(_unsplit_field(raw, key)).alias(KEY),
        normalise_id(_unsplit_field(raw, "customer_id")).alias(REF),
    ).filter(pl.col(REF).is_not_null() | pl.col(KEY).is_not_null())


def _unsplit_field(raw: RawTable, column: str) -> pl.Expr:
    """The field at `column`'s header position of a row that could not be split, as written
    (trimmed, quotes removed), split naively at commas; null when there is none."""
    at = next((at for at, name in enumerate(raw.header) if name.strip().lower() == column), None)
    if at is None:
        return pl.lit(None, dtype=pl.String)
    value = pl.col("value").str.split(",").list.get(at, null_on_oob=True)
    value = value.str.strip_chars().str.strip_chars('"').str.strip_chars()
    return pl.when(value != "").then(value)


def structural_rejects(raw: RawTable) -> pl.DataFrame:
    """Rows that could not be split into columns, as rejects rows: the record_id is the best
    guess at the row's own key (see `unsplit_names`), empty when there is none."""
    frame = raw.structural_rejects
    guess = _unsplit_field(raw, raw.table.key.name)
    if "record_id" in frame.columns:  # a reader that knows the id better says so
        guess = pl.coalesce(pl.col("record_id"), guess)
    return frame.select(
        pl.col("file"),
        pl.col("line"),
        cut(guess).alias("record_id"),
        pl.col("column"),
        cut(pl.col("value")).alias("value"),
        cut(pl.col("reason")).alias("reason"),
    ).cast(REJECT_SCHEMA)
