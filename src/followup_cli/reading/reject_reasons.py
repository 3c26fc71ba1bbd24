"""The rejects rows of a table's bad lines (SPEC 6): one per refused value, with a reason a
person can act on, built after validation's pass and only for the few lines it set aside.

The reasons are the same `parse` expressions as the pass, evaluated again on those rows, plus
the whole-row checks (a repeated id, an unknown or rejected customer, an impossible pair).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from followup_cli.core import frames
from followup_cli.core.schema import LINE, normalise_id
from followup_cli.core.tables import ID, KEY, REF
from followup_cli.reading import repeats as repeated
from followup_cli.reading.calendar_bounds import AS_STORED, beyond_calendar
from followup_cli.reading.file_query import collect
from followup_cli.reading.loading import RawTable
from followup_cli.reading.parsing import parse
from followup_cli.reading.row_checks import cut, quoted, row_checks
from followup_cli.reading.unsplit import structural_rejects

# A rejects row's column position in its file, for the rejects' order (`validation`).
POSITION = "_position"


def rejects(
    raw: RawTable,
    bad_lines: pl.DataFrame,
    as_of: dt.date,
    people: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One rejects row per refused value of the bad rows, with a reason a person can act on
    (unsorted, with POSITION: see `in_reject_order`), and the person each bad row names (line,
    REF; KEY for the customers table). `bad_lines` are the lines set aside (line, and the
    first line holding the same id for a repeat); `people`, for a table other than customers,
    every customer on file (KEY, ID, line, cust_idx) and those set aside (KEY, line).

    The reasons are the same `parse` expressions as the main pass, evaluated again on these
    few rows only, plus the whole-row checks (repeated id, unknown customer, impossible pair).
    """
    structural = structural_rejects(raw).with_columns(pl.lit(-1, dtype=pl.Int64).alias(POSITION))
    if bad_lines.height == 0:  # the usual case: no need to read the file again
        refs = pl.DataFrame(schema={LINE: pl.Int64, REF if people else KEY: pl.String})
        return structural, refs
    # The reasons are built with pl.format, which panics over empty chunks (`frames.aligned`).
    rows = frames.aligned(collect(raw.frame.join(bad_lines.lazy(), on=LINE, how="inner"), raw))
    rows, beyond = beyond_calendar(raw, rows)
    typed = raw.format == "parquet"
    parsed = {
        c.name: parse(c, raw.schema[c.name], raw.file_label, typed, as_of)
        for c in raw.table.columns
    }
    rows = rows.with_columns(
        *[p.value.alias(f"_value_{name}") for name, p in parsed.items()],
        *[p.reason.alias(f"_why_{name}") for name, p in parsed.items()],
    )
    rows = _reasons(raw, rows, beyond, people)
    per_column = [
        _column_rejects(raw, rows, position, name, name in beyond)
        for position, name in enumerate(c.name for c in raw.table.columns)
    ]
    rejects = pl.concat([structural, *per_column])
    refs = rows.select(LINE, REF) if REF in rows.columns else rows.select(LINE, KEY)
    return rejects, refs


def _reasons(
    raw: RawTable,
    rows: pl.DataFrame,
    beyond: dict[str, pl.Expr],
    people: tuple[pl.DataFrame, pl.DataFrame] | None,
) -> pl.DataFrame:
    """Each column's reason (`_why_<column>`): a date beyond the calendar first, then its
    value's own reason, a repeated id, and the whole-row checks (unknown customer, ...)."""
    key = raw.table.key.name
    rows = rows.with_columns(normalise_id(pl.col(f"_value_{key}")).alias(KEY))
    overrides: dict[str, list[pl.Expr]] = {
        key: [
            pl.when(pl.col(repeated.FIRST_LINE).is_not_null()).then(
                pl.format(
                    "duplicate {} '{}': line {} has it already; this later row is set aside",
                    pl.lit(key),
                    quoted(pl.col(f"_value_{key}")),
                    pl.col(repeated.FIRST_LINE),
                )
            )
        ]
    }
    if people is not None:
        known, refused = people
        rows = (
            rows.with_columns(normalise_id(pl.col("_value_customer_id")).alias(REF))
            .join(known.drop(ID), left_on=REF, right_on=KEY, how="left")
            .join(refused, left_on=REF, right_on=KEY, how="left")
        )
    for name, reason in beyond.items():  # the value itself is the reason: said first
        overrides.setdefault(name, []).insert(0, reason)

    def value(name: str) -> pl.Expr:
        return pl.col(f"_value_{name}")

    for check in row_checks(raw.table.name) if people is not None else []:
        refused_when = check.refused_when(value).fill_null(False)
        overrides.setdefault(check.column, []).append(
            pl.when(refused_when).then(check.reason(value))
        )
    return rows.with_columns(
        pl.coalesce(*reasons, pl.col(f"_why_{name}")).alias(f"_why_{name}")
        for name, reasons in overrides.items()
    )


def _column_rejects(
    raw: RawTable, rows: pl.DataFrame, position: int, name: str, beyond: bool
) -> pl.DataFrame:
    """The rejects rows of one column: the bad rows with a reason there."""
    key = raw.table.key.name
    written = _as_text(pl.col(name), raw.schema[name])
    if beyond:  # a date beyond the calendar: the number the file stores
        written = pl.coalesce(pl.col(f"{AS_STORED}{name}"), written)
    return rows.filter(pl.col(f"_why_{name}").is_not_null()).select(
        pl.lit(raw.file_label).alias("file"),
        pl.col(LINE).alias("line"),
        cut(_as_text(pl.col(key), raw.schema[key])).alias("record_id"),
        pl.lit(name).alias("column"),
        cut(written).alias("value"),
        cut(pl.col(f"_why_{name}")).alias("reason"),
        pl.lit(position, dtype=pl.Int64).alias(POSITION),
    )


def _as_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return expr if dtype == pl.String else expr.cast(pl.String)
