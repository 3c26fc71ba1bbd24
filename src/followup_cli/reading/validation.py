"""Validating the exports (SPEC 2 and 6): typed frames for the rules, a rejects frame for people.

Nothing is printed or raised for a bad row: every refused value becomes a rejects row (file,
line, record_id, column, value, reason) and the command decides what to do with them. Every row
read is accounted for: used, rejected, or left out because it lies after the as-of date.

One streaming pass per table computes the typed values and a true/false verdict per check; the
reasons' text is built afterwards, from the file, for the few rows set aside (`reject_reasons`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from followup_cli.core.schema import CUST, LINE, REJECT_COLUMNS, TABLES, normalise_id
from followup_cli.core.tables import ID, KEY, KEY_HASH, REF, TableCount, Validated, id_hash
from followup_cli.reading import reject_reasons, whole_column
from followup_cli.reading import repeats as repeated
from followup_cli.reading.calendar_bounds import within_calendar
from followup_cli.reading.file_query import collect
from followup_cli.reading.loading import PARQUET_READ_ERRORS, Exports, RawTable
from followup_cli.reading.parsing import parse, parse_once_per_value
from followup_cli.reading.reject_reasons import POSITION
from followup_cli.reading.row_checks import row_checks
from followup_cli.reading.unsplit import unsplit_names

# The date that says whether a row existed yet on the as-of day.
DATED = {"customers": "created_on", "agreements": "purchase_date", "payments": "paid_on"}
OTHERS = ("agreements", "payments", "events")

# The rejects' order (SPEC 6): by table, line, then column. `validate(..., ordered=False)`
# leaves these on, unsorted, for --buckets to sort every part once (`in_reject_order`).
TABLE_RANK = "_table"
_RANKS = {name: rank for rank, name in enumerate(TABLES)}


def in_reject_order(rejects: pl.DataFrame) -> pl.DataFrame:
    """Rejects rows (with TABLE_RANK and POSITION) in the rejects file's order."""
    order = rejects.sort(TABLE_RANK, "line", POSITION, maintain_order=True)
    return order.select(REJECT_COLUMNS)


@dataclass(frozen=True)
class _Checked:
    good: pl.DataFrame  # rows that passed, as typed columns (see `present`)
    good_rows: int  # how many rows passed, whether they existed on the as-of day or not
    bad_lines: pl.DataFrame  # line, and the first line holding the same id for a repeat
    # Which rows of `good` existed on the as-of day; None: `good` holds only those already.
    present: pl.Expr | None

    def used(self) -> pl.DataFrame:
        """The good rows that existed on the as-of day, without their line."""
        good = self.good.drop(LINE)
        return good if self.present is None else good.filter(self.present)


@dataclass(frozen=True)
class _Customers:
    """The customers table checked, and what the other tables are checked against."""

    kept: pl.DataFrame  # existing on the as-of day, with their cust_idx
    known: pl.DataFrame  # every customer on file: KEY, ID, their line, cust_idx if existing
    known_case: whole_column.IdCase | None
    refused: pl.DataFrame  # KEY, _refused_line: customers set aside
    count: TableCount
    rejects: pl.DataFrame
    refs: pl.DataFrame  # LINE, KEY of the customers set aside

    @property
    def on_file(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """What another table's rejected rows are explained against: known, refused."""
        return self.known, self.refused


def validate(
    raw: Mapping[str, RawTable],
    as_of: dt.date,
    repeats: Mapping[str, pl.DataFrame] | None = None,
    *,
    ordered: bool = True,
    payment_ids: bool = True,
) -> Validated:
    """Type every table, set aside bad rows with reasons, and split off what lies after as_of.

    `repeats` (per table name, `repeats.REPEATS_SCHEMA`) replaces the repeated ids found in
    `raw` when `raw` holds only part of a table: a bucket (see `scaleout`) must still set aside
    a payment whose id another bucket's payment has first. Lines outside `raw` are simply never
    met. `ordered` False leaves the rejects unsorted, with their order's columns (see
    `in_reject_order`). `payment_ids` False leaves the payments' own ids out of the payments
    table: the rules never read them (only `explain` shows them), and at 10,000,000 customers
    they are 1.4 GB of memory. They are still checked, and a repeated one still set aside.

    Given `Exports`, each table is read as it comes, and its rows are let go once validated.
    """
    tables = raw if isinstance(raw, Exports) else Exports.held(raw)
    given = repeats or {}
    people = _customers(tables["customers"], as_of)
    kept = {"customers": people.kept}
    counts, rejects = [people.count], [people.rejects]
    named, who = [people.refs.select(pl.col(KEY).alias(REF))], [people.refs.rename({KEY: REF})]
    # Results are put back in the tables' order.
    found = {}
    for name in in_turn(tables):
        table = tables[name]
        keep_key = payment_ids or name != "payments"
        checked = _check(
            table, as_of, people.known, given.get(name), people.known_case, keep_key=keep_key
        )
        kept[name] = checked.used()
        count = _count(table, checked.good_rows, kept[name].height, checked)
        found[name] = (
            count,
            *reject_reasons.rejects(table, checked.bad_lines, as_of, people.on_file),
        )
        del checked, table
        tables.done(name)
    for name in OTHERS:
        count, table_rejects, refs = found[name]
        counts.append(count)
        rejects.append(table_rejects)
        named.append(refs.select(REF))
        who.append(refs)
    rejected_people = [
        _named_by(tables[name], refs) for name, refs in zip(TABLES, who, strict=True)
    ]
    for table in tables.values():
        unsplit = unsplit_names(table)
        named.append(unsplit.select(REF))
        rejected_people.append(_named_by(table, unsplit))
    everything = pl.concat(
        part.with_columns(pl.lit(_RANKS[name], dtype=pl.Int64).alias(TABLE_RANK))
        for name, part in zip(TABLES, rejects, strict=True)
    )
    return Validated(
        customers=people.kept.drop(KEY),
        agreements=kept["agreements"],
        payments=kept["payments"],
        events=kept["events"],
        rejects=in_reject_order(everything) if ordered else everything,
        counts=tuple(counts),
        data_issues=_data_issues(named, people.kept),
        rejected_people=pl.concat(rejected_people).drop_nulls(REF),
        as_of=as_of,
    )


def in_turn(tables: Exports) -> list[str]:
    """The order the tables other than customers are validated in, for the run's peak memory.

    A CSV file this run splits in memory is the most validation ever holds (at 1,000,000
    customers the payments' values 0.5 GB, their typed pass 0.41 GB more): those tables go
    first, the largest (by estimated rows) first, so that no other table's kept rows lie
    under those values (the CSV run's live peak 1.91 -> 1.64 GB, measured when every value
    was text and the payments' 0.86 GB). A Parquet file is only scanned, and a bucket's
    tables are held already: those go after, the largest last, so that the others' working
    memory does not come on top of its kept rows. Among tables of one size, the tables'
    order."""
    text = [name for name in OTHERS if tables.is_text(name)]
    scanned = [name for name in OTHERS if not tables.is_text(name)]
    return [
        *sorted(text, key=lambda name: -tables.rows(name)),
        *sorted(scanned, key=tables.rows),
    ]


def _customers(raw: RawTable, as_of: dt.date) -> _Customers:
    """The customers table checked: those existing on the as-of day numbered in file order."""
    checked = _check(raw, as_of)
    everyone = checked.good.sort(LINE).with_columns(pl.col("origin").str.to_lowercase())
    customers = everyone.filter(pl.col("created_on") <= as_of).with_row_index(CUST)
    # Every customer on file, with a cust_idx only if they existed on the as-of day.
    known = everyone.select(
        KEY, pl.col("customer_id").alias(ID), pl.col(LINE).alias("_customer_line")
    ).join(customers.select(KEY, CUST), on=KEY, how="left")
    table_rejects, refs = reject_reasons.rejects(raw, checked.bad_lines, as_of)
    refused = (
        pl.concat([refs, unsplit_names(raw).select(LINE, pl.col(KEY))])
        .drop_nulls(KEY)
        .group_by(KEY)
        .agg(pl.col(LINE).min().alias("_refused_line"))
    )
    return _Customers(
        kept=customers,
        known=known,
        known_case=whole_column.id_case(everyone.get_column("customer_id")),
        refused=refused,
        count=_count(raw, everyone.height, customers.height, checked),
        rejects=table_rejects,
        refs=refs,
    )


def _data_issues(named: list[pl.DataFrame], customers: pl.DataFrame) -> pl.DataFrame:
    """cust_idx, data_issues: how many rejected rows name each existing customer."""
    return (
        pl.concat(named)
        .drop_nulls()
        .join(customers.select(KEY, CUST), left_on=REF, right_on=KEY, how="inner")
        .group_by(CUST)
        .agg(pl.len().cast(pl.Int64).alias("data_issues"))
    )


def _named_by(raw: RawTable, refs: pl.DataFrame) -> pl.DataFrame:
    """file, line, _ref: which person each rejected line of one file names."""
    return refs.select(
        pl.lit(raw.file_label).alias("file"), pl.col(LINE).alias("line"), pl.col(REF)
    )


def _count(raw: RawTable, good: int, used: int, checked: _Checked) -> TableCount:
    rejected = checked.bad_lines.height + raw.structural_rejects.height
    return TableCount(raw.table.name, raw.file_label, raw.rows_read, used, rejected, good - used)


def _check(
    raw: RawTable,
    as_of: dt.date,
    known: pl.DataFrame | None = None,
    repeats: pl.DataFrame | None = None,
    known_case: whole_column.IdCase | None = None,
    *,
    keep_key: bool = True,
) -> _Checked:
    """One streaming pass over every row: typed values and a true/false verdict per check.

    The good rows keep what the rules read: for the customers table its key as matched, for
    the others the cust_idx of the customer they name (null when that customer was created
    after the as-of date) instead of the customer's id; without `keep_key`, not the row's own
    id either (its hash is taken in the same pass, for the repeated-id check).
    """
    table = raw.table
    key = table.key.name
    figures = _figures(raw, distinct_key=repeats is None)
    values, flags = _typed(raw, figures, as_of)
    rows = within_calendar(raw).select(pl.col(LINE), *values, *flags)
    is_customers = known is None
    if is_customers:
        rows = rows.with_columns(normalise_id(pl.col(key)).alias(KEY))
    left_out = {"customer_id"} if not is_customers else set()
    if not keep_key:
        left_out.add(key)
    kept = [c.name for c in table.columns if c.name not in left_out]
    present: pl.Expr | None = None
    if known is not None:
        rows, present = _with_customers(rows, raw, figures, known, known_case, as_of)
    whole_row = [check.refused_when(pl.col).fill_null(False) for check in row_checks(table.name)]
    # The verdict columns, not the parse expressions: by now the raw columns hold typed values.
    # Columns proven clean as a whole have no verdict column: no row of theirs is refused.
    verdicts = [pl.col(flag.meta.output_name()) for flag in flags]
    flagged = pl.any_horizontal([*verdicts, *whole_row, pl.lit(False)]).fill_null(True)
    outputs = [LINE, *kept, *([KEY] if is_customers else [CUST])]
    if repeats is None and whole_column.ids_distinct(figures, key):
        repeats = pl.DataFrame(schema=repeated.REPEATS_SCHEMA)  # proven: no id is repeated
    hashed = []
    if repeats is None:
        plain = whole_column.case_of(figures, key) == "upper"
        hashed.append(id_hash(pl.col(key), plain_upper=plain))
    query = rows.select(*outputs, *hashed, flagged.alias("_flagged"))
    if repeats is not None and present is not None:
        # The repeated ids are known before the pass: rows that passed but did not exist on
        # the as-of day are counted, not kept (no copy of the used rows is made after it).
        repeat = pl.col(LINE).is_in(repeats.get_column(LINE).implode())
        query = query.filter(pl.col("_flagged") | repeat | present)
        present = None
    collected = collect(query, raw)
    if repeats is None:
        lines = repeated.candidates(collected.select(LINE, KEY_HASH))
        repeats = repeated.confirmed(raw, lines)
    problem = pl.col("_flagged")
    if repeats.height:
        problem |= pl.col(LINE).is_in(repeats.get_column(LINE).implode())
    bad_lines = collected.filter(problem).select(LINE).join(repeats, on=LINE, how="left")
    good = collected.select(outputs) if bad_lines.height == 0 else collected.filter(~problem)
    # Every row of the table went through the pass: any not collected passed (see above).
    good_rows = raw.rows - bad_lines.height
    return _Checked(good.select(outputs), good_rows, bad_lines, present)


def _typed(
    raw: RawTable, figures: whole_column.Figures, as_of: dt.date
) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Each column's typed value, and its verdict (`_bad_<column>`) unless proven clean."""
    typed = raw.format == "parquet"
    distinct = _distinct_values(raw)
    values, flags = [], []
    for column in raw.table.columns:
        name, dtype = column.name, raw.schema[column.name]
        value = whole_column.trusted(column, dtype, figures, as_of)
        if value is not None:
            values.append(value.alias(name))
            continue
        parsed = parse(column, dtype, raw.file_label, typed, as_of)
        if name in distinct:
            value, refused = whole_column.per_distinct_value(column, distinct[name], parsed)
            values.append(value.alias(name))
            if refused is not None:
                flags.append(refused.alias(f"_bad_{name}"))
        else:
            values.append(parsed.value.alias(name))
            flags.append(parsed.refused.alias(f"_bad_{name}"))
    return values, flags


def _with_customers(
    rows: pl.LazyFrame,
    raw: RawTable,
    figures: whole_column.Figures,
    known: pl.DataFrame,
    known_case: whole_column.IdCase | None,
    as_of: dt.date,
) -> tuple[pl.LazyFrame, pl.Expr]:
    """Another table's rows with the cust_idx of the customer each names, and which rows
    existed on the as-of day. Ids written in one case on both sides are matched as they are."""
    ref_case = whole_column.case_of(figures, "customer_id")
    if ref_case is not None and ref_case == known_case:
        rows = rows.join(known.lazy().drop(KEY), left_on="customer_id", right_on=ID, how="left")
    else:
        rows = rows.join(
            known.lazy().drop(ID),
            left_on=normalise_id(pl.col("customer_id")),
            right_on=KEY,
            how="left",
        )
    present = pl.col(CUST).is_not_null()
    if raw.table.name in DATED:
        present &= pl.col(DATED[raw.table.name]) <= as_of
    return rows, present


def _figures(raw: RawTable, *, distinct_key: bool = False) -> whole_column.Figures:
    """The whole-column figures of every column (one pass; Parquet answers most from its
    metadata), and a second pass for what needs a second look. `distinct_key`: also whether
    the table's own ids are in order, so all distinct as written (`whole_column.in_order`)."""
    typed = raw.format == "parquet"
    columns = [(c, raw.schema[c.name]) for c in raw.table.columns]
    wanted = [figure for c, dtype in columns for figure in whole_column.summary(c, dtype, typed)]
    frame = within_calendar(raw)  # a smallest date of year -5,000,000 is not a Python date
    figures = collect(frame.select(wanted), raw).row(0, named=True)
    again = [figure for c, _ in columns for figure in whole_column.second_look(c, figures)]
    if distinct_key:
        again += whole_column.order_look(raw.table.key.name, figures)
    if again:
        figures |= collect(frame.select(again), raw).row(0, named=True)
    return figures


def _distinct_values(raw: RawTable) -> dict[str, pl.DataFrame]:
    """Each column judged once per distinct value (words, and dates and amounts as text): its
    distinct raw values, all columns read in one go."""
    typed = raw.format == "parquet"
    names = [
        c.name for c in raw.table.columns if parse_once_per_value(c, raw.schema[c.name], typed)
    ]
    queries = [raw.frame.select(pl.col(name).unique()) for name in names]
    try:
        found = pl.collect_all(queries)
    except PARQUET_READ_ERRORS:
        found = [collect(query, raw) for query in queries]  # names the file that failed
    return dict(zip(names, found, strict=True))
