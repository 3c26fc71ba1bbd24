"""Validating the exports (SPEC 2 and 6): typed frames for the rules, a rejects frame for people.

Nothing is printed or raised for a bad row: every refused value becomes a rejects row (file,
line, column, value, reason) and the command decides what to do with them. Every row read is
accounted for: used, rejected, or left out because it lies after the as-of date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from followup_cli.loading import LINE, REJECT_COLUMNS, RawTable
from followup_cli.parsing import parse
from followup_cli.schema import Table

CUST = "cust_idx"  # position of the person in the customers file, among rows kept
KEY = "_key"  # this row's own id, trimmed and case-folded for matching
REF = "_ref"  # the customer id this row names, trimmed and case-folded


@dataclass(frozen=True)
class TableCount:
    """How every row read from one file was used: read = used + rejected + left_out."""

    table: str
    file: str
    read: int
    used: int
    rejected: int
    left_out: int


@dataclass(frozen=True)
class Validated:
    customers: pl.DataFrame
    agreements: pl.DataFrame
    payments: pl.DataFrame
    events: pl.DataFrame
    rejects: pl.DataFrame
    counts: tuple[TableCount, ...]
    data_issues: pl.DataFrame  # cust_idx, data_issues: rejected rows that name the person


def validate(raw: dict[str, RawTable], as_of: dt.date) -> Validated:
    """Type every table, set aside bad rows with reasons, and split off what lies after as_of."""
    checked = {name: _check_values(table) for name, table in raw.items()}

    customers, customer_rejects = _split(checked["customers"], raw["customers"])
    customers = customers.with_columns(pl.col("origin").str.to_lowercase())
    known = customers.select(KEY, pl.col(LINE).alias("_customer_line"), "created_on")
    refused = pl.concat(
        [
            checked["customers"].filter(pl.col("_problem")).select(KEY, LINE),
            _unsplit_names(raw["customers"]).select(KEY, LINE),
        ]
    ).rename({LINE: "_refused_line"})

    tables: dict[str, pl.DataFrame] = {}
    rejects = [customer_rejects]
    rejected_refs = [_rejected_refs(checked["customers"]), _unsplit_names(raw["customers"])]
    for name in ("agreements", "payments", "events"):
        frame = _check_references(checked[name], raw[name], known, refused)
        good, bad = _split(frame, raw[name])
        tables[name] = good
        rejects.append(bad)
        rejected_refs.append(_rejected_refs(frame))
        rejected_refs.append(_unsplit_names(raw[name]))

    # The as-of date: people, purchases and payments after it do not exist yet.
    present = customers.filter(pl.col("created_on") <= as_of).with_row_index(CUST)
    index = present.select(KEY, CUST)
    dated = {"agreements": "purchase_date", "payments": "paid_on", "events": None}
    kept: dict[str, pl.DataFrame] = {}
    for name, date_column in dated.items():
        frame = tables[name].join(index, left_on=REF, right_on=KEY, how="left")
        exists = pl.col(CUST).is_not_null()
        if date_column is not None:
            exists &= pl.col(date_column) <= as_of
        kept[name] = frame.filter(exists)

    counts = tuple(
        TableCount(
            table=name,
            file=raw[name].file_label,
            read=raw[name].rows_read,
            used=(present if name == "customers" else kept[name]).height,
            rejected=_rejected_rows(bad),
            left_out=(customers if name == "customers" else tables[name]).height
            - (present if name == "customers" else kept[name]).height,
        )
        for name, bad in zip(raw, rejects, strict=True)
    )
    issues = (
        pl.concat([refs.select(REF) for refs in rejected_refs])
        .join(index, left_on=REF, right_on=KEY, how="inner")
        .group_by(CUST)
        .agg(pl.len().cast(pl.Int64).alias("data_issues"))
    )
    return Validated(
        customers=present.drop(KEY),
        agreements=kept["agreements"],
        payments=kept["payments"],
        events=kept["events"],
        rejects=pl.concat(rejects),
        counts=counts,
        data_issues=issues,
    )


def _check_values(raw: RawTable) -> pl.DataFrame:
    """Parse every column; add one reason column per spec column, and the duplicate-key check."""
    table, frame = raw.table, raw.frame
    values, reasons = [], []
    for column in table.columns:
        value, reason = parse(
            column, frame.schema[column.name], raw.file_label, typed=raw.format == "parquet"
        )
        values.append(value.alias(column.name))
        reasons.append(reason.alias(f"_why_{column.name}"))
    raw_text = [
        _as_text(pl.col(c.name), frame.schema[c.name]).alias(f"_raw_{c.name}")
        for c in table.columns
    ]
    checked = frame.select(pl.col(LINE), *values, *reasons, *raw_text)
    key = table.key.name
    checked = checked.with_columns(pl.col(key).str.to_lowercase().alias(KEY))
    if "customer_id" in table.column_names and key != "customer_id":
        checked = checked.with_columns(pl.col("customer_id").str.to_lowercase().alias(REF))
    # A repeated id: the first row stands, each later one is set aside with a pointer to it.
    first_line = pl.col(LINE).min().over(KEY)
    duplicate = pl.col(KEY).is_not_null() & (pl.col(LINE) != first_line)
    checked = checked.with_columns(
        pl.when(duplicate)
        .then(
            pl.format(
                "duplicate {} '{}': line {} has it already; this later row is set aside",
                pl.lit(key),
                pl.col(key),
                first_line,
            )
        )
        .otherwise(pl.col(f"_why_{key}"))
        .alias(f"_why_{key}")
    )
    checked = _check_impossible(table, checked)
    return checked.with_columns(_any_problem(table))


def _check_impossible(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """Values that parse but cannot both be true."""
    if table.name != "agreements":
        return frame
    return frame.with_columns(
        pl.when(pl.col("end_date") < pl.col("purchase_date"))
        .then(
            pl.format(
                "end_date {} is before purchase_date {}",
                pl.col("end_date"),
                pl.col("purchase_date"),
            )
        )
        .otherwise(pl.col("_why_end_date"))
        .alias("_why_end_date"),
        pl.when(pl.col("sessions_remaining") > pl.col("session_quantity"))
        .then(
            pl.format(
                "sessions_remaining {} is more than the {} sessions purchased",
                pl.col("sessions_remaining"),
                pl.col("session_quantity"),
            )
        )
        .otherwise(pl.col("_why_sessions_remaining"))
        .alias("_why_sessions_remaining"),
    )


def _check_references(
    frame: pl.DataFrame, raw: RawTable, known: pl.DataFrame, refused: pl.DataFrame
) -> pl.DataFrame:
    """Every row must name a customer on the customers file (and one that was not refused)."""
    refused_first = refused.group_by(KEY).agg(pl.col("_refused_line").min())
    joined = (
        frame.join(known, left_on=REF, right_on=KEY, how="left", maintain_order="left")
        .join(refused_first, left_on=REF, right_on=KEY, how="left", maintain_order="left")
        .drop("created_on")
    )
    unknown = pl.col(REF).is_not_null() & pl.col("_customer_line").is_null()
    return joined.with_columns(
        pl.when(unknown & pl.col("_refused_line").is_not_null())
        .then(
            pl.format(
                "customer '{}' was set aside (customers line {}); fix that row first",
                pl.col("customer_id"),
                pl.col("_refused_line"),
            )
        )
        .when(unknown)
        .then(pl.format("customer '{}' is not in the customers file", pl.col("customer_id")))
        .otherwise(pl.col("_why_customer_id"))
        .alias("_why_customer_id")
    ).with_columns(_any_problem(raw.table))


def _any_problem(table: Table) -> pl.Expr:
    return pl.any_horizontal([pl.col(f"_why_{c.name}").is_not_null() for c in table.columns]).alias(
        "_problem"
    )


def _split(frame: pl.DataFrame, raw: RawTable) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The good rows with typed columns, and one rejects row per refused value."""
    table = raw.table
    good = frame.filter(~pl.col("_problem")).select(
        LINE, *[c.name for c in table.columns], KEY, *([REF] if REF in frame.columns else [])
    )
    bad = frame.filter(pl.col("_problem"))
    per_column = [
        bad.filter(pl.col(f"_why_{c.name}").is_not_null()).select(
            pl.lit(raw.file_label).alias("file"),
            pl.col(LINE).alias("line"),
            pl.lit(c.name).alias("column"),
            pl.col(f"_raw_{c.name}").str.slice(0, 200).alias("value"),
            pl.col(f"_why_{c.name}").alias("reason"),
            pl.lit(position, dtype=pl.Int64).alias("_position"),
        )
        for position, c in enumerate(table.columns)
    ]
    structural = raw.structural_rejects.with_columns(pl.lit(-1, dtype=pl.Int64).alias("_position"))
    rejects = pl.concat([structural, *per_column]).sort("line", "_position").select(REJECT_COLUMNS)
    return good, rejects


def _rejected_refs(frame: pl.DataFrame) -> pl.DataFrame:
    """The customer named by each rejected row, so the person's output row can say so."""
    ref = REF if REF in frame.columns else KEY
    return frame.filter(pl.col("_problem") & pl.col(ref).is_not_null()).select(
        pl.col(ref).alias(REF)
    )


def _unsplit_names(raw: RawTable) -> pl.DataFrame:
    """Who a row that could not be split into columns seems to be about: the fields at the
    header's key and customer_id positions, split naively at commas (line, key, ref).

    Only a best guess (a missing comma shifts later fields), but ids come first in an export, so
    a reference to a person whose customers row was broken still says where to look, and that
    person's output row still counts the broken payment or agreement in data_issues.
    """
    names = [name.strip().lower() for name in raw.header]
    fields = pl.col("value").str.split(",")

    def field_of(column: str) -> pl.Expr:
        if column not in names:
            return pl.lit(None, dtype=pl.String)
        value = fields.list.get(names.index(column), null_on_oob=True)
        value = value.str.strip_chars().str.strip_chars('"').str.strip_chars().str.to_lowercase()
        return pl.when(value != "").then(value)

    key = raw.table.key.name
    return raw.structural_rejects.select(
        pl.col("line").alias(LINE),
        field_of(key).alias(KEY),
        field_of("customer_id").alias(REF),
    ).filter(pl.col(REF).is_not_null() | pl.col(KEY).is_not_null())


def _rejected_rows(rejects: pl.DataFrame) -> int:
    return rejects.select(pl.col("line").n_unique()).item() if rejects.height else 0


def _as_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return expr if dtype == pl.String else expr.cast(pl.String)
