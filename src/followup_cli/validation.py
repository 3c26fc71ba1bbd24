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
from followup_cli.parsing import parse, parse_once_per_value

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
    customers, customer_bad = _check(raw["customers"])
    customers = customers.sort(LINE).with_columns(pl.col("origin").str.to_lowercase())
    # The as-of date: people, purchases and payments after it do not exist yet.
    present = customers.filter(pl.col("created_on") <= as_of).with_row_index(CUST)
    index = present.select(KEY, CUST)
    known = customers.select(KEY, pl.col(LINE).alias("_customer_line")).join(
        index, on=KEY, how="left"
    )
    refused = (
        pl.concat(
            [customer_bad.select(KEY, LINE), _unsplit_names(raw["customers"]).select(KEY, LINE)]
        )
        .group_by(KEY)
        .agg(pl.col(LINE).min().alias("_refused_line"))
    )

    tables = {"customers": customers}
    bad = {"customers": customer_bad}
    for name in ("agreements", "payments", "events"):
        tables[name], bad[name] = _check(raw[name], known, refused)

    dated = {"agreements": "purchase_date", "payments": "paid_on", "events": None}
    kept: dict[str, pl.DataFrame] = {"customers": present}
    for name, date_column in dated.items():
        exists = pl.col(CUST).is_not_null()
        if date_column is not None:
            exists &= pl.col(date_column) <= as_of
        kept[name] = tables[name].filter(exists)

    rejects = {name: _rejects(raw[name], bad[name], refused) for name in raw}
    counts = tuple(
        TableCount(
            table=name,
            file=raw[name].file_label,
            read=raw[name].rows_read,
            used=kept[name].height,
            rejected=bad[name].height + raw[name].structural_rejects.height,
            left_out=tables[name].height - kept[name].height,
        )
        for name in raw
    )
    named = [
        bad[name].select(pl.col(REF if name != "customers" else KEY).alias(REF)) for name in raw
    ] + [_unsplit_names(raw[name]).select(REF) for name in raw]
    issues = (
        pl.concat(named)
        .drop_nulls()
        .join(index, left_on=REF, right_on=KEY, how="inner")
        .group_by(CUST)
        .agg(pl.len().cast(pl.Int64).alias("data_issues"))
    )
    return Validated(
        customers=present.drop(KEY),
        agreements=kept["agreements"],
        payments=kept["payments"],
        events=kept["events"],
        rejects=pl.concat(rejects.values()),
        counts=counts,
        data_issues=issues,
    )


def _check(
    raw: RawTable, known: pl.DataFrame | None = None, refused: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One pass over every row: typed values and a true/false verdict per check.

    Returns the good rows (typed columns, the case-folded keys and, for tables that name a
    customer, that customer's cust_idx: null when they were created after the as-of date) and
    the bad rows (line, keys and which whole-row checks failed). The reasons' text is built
    later, for the bad rows only.
    """
    table, frame = raw.table, raw.frame
    typed = raw.format == "parquet"
    rows = frame.lazy()
    values, flags = [], []
    for column in table.columns:
        name, dtype = column.name, frame.schema[column.name]
        parsed = parse(column, dtype, raw.file_label, typed)
        if parse_once_per_value(column, dtype, typed):
            verdicts = (
                frame.lazy()
                .select(pl.col(name).unique())
                .select(
                    pl.col(name),
                    parsed.value.alias(f"_value_{name}"),
                    parsed.refused.alias(f"_bad_{name}"),
                )
            )
            rows = rows.join(verdicts, on=name, how="left", nulls_equal=True)
            values.append(pl.col(f"_value_{name}").alias(name))
            flags.append(pl.col(f"_bad_{name}"))
        else:
            values.append(parsed.value.alias(name))
            flags.append(parsed.refused.alias(f"_bad_{name}"))
    checked = rows.select(pl.col(LINE), *values, *flags)
    key = table.key.name
    keys = [pl.col(key).str.to_lowercase().alias(KEY)]
    names_customer = "customer_id" in table.column_names and key != "customer_id"
    if names_customer:
        keys.append(pl.col("customer_id").str.to_lowercase().alias(REF))
    # Repeated ids: equal hashes are only candidates, confirmed exactly below on the few.
    checked = checked.with_columns(keys).with_columns(
        (pl.col(KEY).is_not_null() & pl.col(KEY).hash().is_duplicated()).alias("_maybe_repeat")
    )
    whole_row = []
    if names_customer and known is not None:
        checked = checked.join(known.lazy(), left_on=REF, right_on=KEY, how="left")
        whole_row.append(
            (pl.col(REF).is_not_null() & pl.col("_customer_line").is_null()).alias("_unknown")
        )
    if table.name == "agreements":
        whole_row += [
            (pl.col("end_date") < pl.col("purchase_date")).fill_null(False).alias("_ends_early"),
            (pl.col("sessions_remaining") > pl.col("session_quantity"))
            .fill_null(False)
            .alias("_too_many_left"),
        ]
    flagged = pl.any_horizontal(
        [pl.col(f"_bad_{c.name}") for c in table.columns] + whole_row
    ).fill_null(True)
    carried = ["_unknown"] if names_customer and known is not None else []
    outputs = [LINE, *table.column_names, KEY, *([REF, CUST] if carried else [])]
    frame_checked = checked.select(
        *outputs,
        *[f for f in whole_row if f.meta.output_name() in carried],
        flagged.alias("_flagged"),
        "_maybe_repeat",
    ).collect()
    repeats = _repeats(frame_checked)
    problem = pl.col("_flagged")
    if repeats.height:
        problem |= pl.col(LINE).is_in(repeats.get_column(LINE).implode())
    if not frame_checked.select(problem.any()).item():
        # The usual case: nothing wrong, so no filtering copy of the whole table.
        return frame_checked.select(outputs), frame_checked.clear().select(
            LINE, KEY, *([REF, *carried] if carried else [])
        ).join(repeats, on=LINE, how="left")
    good = frame_checked.filter(~problem).select(outputs)
    bad = (
        frame_checked.filter(problem)
        .select(LINE, KEY, *([REF, *carried] if carried else []))
        .join(repeats, on=LINE, how="left")
    )
    return good, bad


def _repeats(checked: pl.DataFrame) -> pl.DataFrame:
    """Lines whose id an earlier line already has, with that first line."""
    candidates = checked.filter(pl.col("_maybe_repeat")).select(LINE, KEY)
    return (
        candidates.with_columns(pl.col(LINE).min().over(KEY).alias("_first_line"))
        .filter(pl.col(LINE) != pl.col("_first_line"))
        .select(LINE, "_first_line")
    )


def _rejects(raw: RawTable, bad: pl.DataFrame, refused: pl.DataFrame) -> pl.DataFrame:
    """One rejects row per refused value of the bad rows, with a reason a person can act on.

    The reasons are the same `parse` expressions as the main pass, evaluated again on these
    few rows only, plus the whole-row checks (repeated id, unknown customer, impossible pair).
    """
    table = raw.table
    typed = raw.format == "parquet"
    rows = raw.frame.join(bad, on=LINE, how="inner")
    if "_unknown" in rows.columns:
        rows = rows.join(refused, left_on=REF, right_on=KEY, how="left")
    parsed = {
        c.name: parse(c, raw.frame.schema[c.name], raw.file_label, typed) for c in table.columns
    }
    rows = rows.with_columns(
        *[p.value.alias(f"_value_{name}") for name, p in parsed.items()],
        *[p.reason.alias(f"_why_{name}") for name, p in parsed.items()],
    )
    key = table.key.name
    overrides: dict[str, pl.Expr] = {
        key: pl.when(pl.col("_first_line").is_not_null()).then(
            pl.format(
                "duplicate {} '{}': line {} has it already; this later row is set aside",
                pl.lit(key),
                pl.col(f"_value_{key}"),
                pl.col("_first_line"),
            )
        )
    }
    if "_unknown" in rows.columns:
        unknown = pl.col("_unknown")
        overrides["customer_id"] = (
            pl.when(unknown & pl.col("_refused_line").is_not_null())
            .then(
                pl.format(
                    "customer '{}' was set aside (customers line {}); fix that row first",
                    pl.col("_value_customer_id"),
                    pl.col("_refused_line"),
                )
            )
            .when(unknown)
            .then(
                pl.format(
                    "customer '{}' is not in the customers file", pl.col("_value_customer_id")
                )
            )
        )
    if table.name == "agreements":
        overrides["end_date"] = pl.when(
            pl.col("_value_end_date") < pl.col("_value_purchase_date")
        ).then(
            pl.format(
                "end_date {} is before purchase_date {}",
                pl.col("_value_end_date"),
                pl.col("_value_purchase_date"),
            )
        )
        overrides["sessions_remaining"] = pl.when(
            pl.col("_value_sessions_remaining") > pl.col("_value_session_quantity")
        ).then(
            pl.format(
                "sessions_remaining {} is more than the {} sessions purchased",
                pl.col("_value_sessions_remaining"),
                pl.col("_value_session_quantity"),
            )
        )
    rows = rows.with_columns(
        pl.coalesce(overrides[name], pl.col(f"_why_{name}")).alias(f"_why_{name}")
        for name in overrides
    )
    per_column = [
        rows.filter(pl.col(f"_why_{c.name}").is_not_null()).select(
            pl.lit(raw.file_label).alias("file"),
            pl.col(LINE).alias("line"),
            pl.lit(c.name).alias("column"),
            _as_text(pl.col(c.name), raw.frame.schema[c.name]).str.slice(0, 200).alias("value"),
            pl.col(f"_why_{c.name}").alias("reason"),
            pl.lit(position, dtype=pl.Int64).alias("_position"),
        )
        for position, c in enumerate(table.columns)
    ]
    structural = raw.structural_rejects.with_columns(pl.lit(-1, dtype=pl.Int64).alias("_position"))
    return pl.concat([structural, *per_column]).sort("line", "_position").select(REJECT_COLUMNS)


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


def _as_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return expr if dtype == pl.String else expr.cast(pl.String)
