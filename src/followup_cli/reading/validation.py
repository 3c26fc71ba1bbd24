"""Validating the exports (SPEC 2 and 6): typed frames for the rules, a rejects frame for people.

Nothing is printed or raised for a bad row: every refused value becomes a rejects row (file,
line, record_id, column, value, reason) and the command decides what to do with them. Every row
read is accounted for: used, rejected, or left out because it lies after the as-of date.

One streaming pass per table computes the typed values and a true/false verdict per check; the
reasons' text is built afterwards, from the file, for the few rows set aside.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from followup_cli.core.schema import CUST, LINE, REJECT_COLUMNS, REJECT_SCHEMA, Kind, normalise_id
from followup_cli.core.tables import ID, KEY_HASH, REF, TableCount, Validated
from followup_cli.reading import whole_column
from followup_cli.reading.loading import PARQUET_READ_ERRORS, RawTable, cannot_be_read
from followup_cli.reading.parsing import parse, parse_once_per_value
from followup_cli.reading.row_checks import cut as _cut
from followup_cli.reading.row_checks import quoted as _quoted
from followup_cli.reading.row_checks import row_checks as _row_checks

# CUST moved to schema.py; it is still importable from here for code written before.
__all__ = ["CUST", "KEY", "REF", "TableCount", "Validated", "validate"]

KEY = "_key"  # this row's own id, trimmed and case-folded for matching


# The date that says whether a row existed yet on the as-of day.
DATED = {"customers": "created_on", "agreements": "purchase_date", "payments": "paid_on"}


@dataclass(frozen=True)
class _Checked:
    good: pl.DataFrame  # rows that passed, as typed columns, as-of filtering aside
    bad_lines: pl.DataFrame  # line, and the first line holding the same id for a repeat
    present: pl.Expr  # which good rows existed on the as-of day


# A table's repeated ids: each later line holding an id (LINE) and the first line with it.
REPEATS_SCHEMA = {LINE: pl.Int64, "_first_line": pl.Int64}


def validate(
    raw: dict[str, RawTable],
    as_of: dt.date,
    repeats: Mapping[str, pl.DataFrame] | None = None,
) -> Validated:
    """Type every table, set aside bad rows with reasons, and split off what lies after as_of.

    `repeats` (per table name, REPEATS_SCHEMA) replaces the repeated ids found in `raw` when
    `raw` holds only part of a table: a bucket (see `buckets`) must still set aside a payment
    whose id another bucket's payment has first. Lines outside `raw` are simply never met.
    """
    given = repeats or {}
    checked = _check(raw["customers"], as_of)
    everyone = checked.good.sort(LINE).with_columns(pl.col("origin").str.to_lowercase())
    customers = everyone.filter(pl.col("created_on") <= as_of).with_row_index(CUST)
    # Every customer on file, with a cust_idx only if they existed on the as-of day.
    known = everyone.select(
        KEY, pl.col("customer_id").alias(ID), pl.col(LINE).alias("_customer_line")
    ).join(customers.select(KEY, CUST), on=KEY, how="left")
    known_case = whole_column.id_case(everyone.get_column("customer_id"))
    customer_rejects, customer_refs = _rejects(raw["customers"], checked.bad_lines, as_of)
    refused = (
        pl.concat([customer_refs, _unsplit_names(raw["customers"]).select(LINE, pl.col(KEY))])
        .drop_nulls(KEY)
        .group_by(KEY)
        .agg(pl.col(LINE).min().alias("_refused_line"))
    )
    kept = {"customers": customers}
    counts = [_count(raw["customers"], everyone.height, customers.height, checked)]
    rejects, named = [customer_rejects], [customer_refs.select(pl.col(KEY).alias(REF))]
    people = [_named_by(raw["customers"], customer_refs.rename({KEY: REF}))]
    # The largest table last, so that the others' working memory does not come on top of its
    # kept rows (the peak at 1M people); results are put back in the tables' order.
    checked_in = sorted(("agreements", "payments", "events"), key=lambda name: raw[name].rows)
    found = {}
    for name in checked_in:
        checked = _check(raw[name], as_of, known, given.get(name), known_case)
        kept[name] = checked.good.drop(LINE).filter(checked.present)
        count = _count(raw[name], checked.good.height, kept[name].height, checked)
        found[name] = count, *_rejects(raw[name], checked.bad_lines, as_of, known, refused)
        del checked
    for name in ("agreements", "payments", "events"):
        count, table_rejects, refs = found[name]
        counts.append(count)
        rejects.append(table_rejects)
        named.append(refs.select(REF))
        people.append(_named_by(raw[name], refs))
    named += [_unsplit_names(raw[name]).select(REF) for name in raw]
    people += [_named_by(raw[name], _unsplit_names(raw[name])) for name in raw]
    issues = (
        pl.concat(named)
        .drop_nulls()
        .join(customers.select(KEY, CUST), left_on=REF, right_on=KEY, how="inner")
        .group_by(CUST)
        .agg(pl.len().cast(pl.Int64).alias("data_issues"))
    )
    return Validated(
        customers=customers.drop(KEY),
        agreements=kept["agreements"],
        payments=kept["payments"],
        events=kept["events"],
        rejects=pl.concat(rejects),
        counts=tuple(counts),
        data_issues=issues,
        rejected_people=pl.concat(people).drop_nulls(REF),
        as_of=as_of,
    )


def guessed_people(raw: RawTable) -> pl.DataFrame:
    """LINE and `person`: the customer id (trimmed, case-folded) that each row which could not
    be split seems to name, as `validate` reads it (see `_unsplit_names`); rows with no guess
    are left out."""
    column = KEY if raw.table.name == "customers" else REF
    return _unsplit_names(raw).select(LINE, pl.col(column).alias("person")).drop_nulls("person")


def _named_by(raw: RawTable, refs: pl.DataFrame) -> pl.DataFrame:
    """file, line, _ref: which person each rejected line of one file names."""
    return refs.select(
        pl.lit(raw.file_label).alias("file"), pl.col(LINE).alias("line"), pl.col(REF)
    )


def _count(raw: RawTable, good: int, used: int, checked: _Checked) -> TableCount:
    return TableCount(
        table=raw.table.name,
        file=raw.file_label,
        read=raw.rows_read,
        used=used,
        rejected=checked.bad_lines.height + raw.structural_rejects.height,
        left_out=good - used,
    )


def _check(
    raw: RawTable,
    as_of: dt.date,
    known: pl.DataFrame | None = None,
    repeats: pl.DataFrame | None = None,
    known_case: whole_column.IdCase | None = None,
) -> _Checked:
    """One streaming pass over every row: typed values and a true/false verdict per check.

    The good rows keep what the rules read: for the customers table its case-folded key, for
    the others the cust_idx of the customer they name (null when that customer was created
    after the as-of date) instead of the customer's id.
    """
    table, frame, typed = raw.table, _within_calendar(raw), raw.format == "parquet"
    figures = _figures(raw)
    distinct = _distinct_values(raw)
    rows = frame
    values, flags = [], []
    for column in table.columns:
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
    key = table.key.name
    is_customers = known is None
    # Ids that fold to themselves one for one are matched (and hashed) as they are.
    as_is = whole_column.case_of(figures, key) is not None and not is_customers
    rows = rows.select(pl.col(LINE), *values, *flags).with_columns(
        (pl.col(key) if as_is else normalise_id(pl.col(key))).alias(KEY)
    )
    kept = [c.name for c in table.columns if is_customers or c.name != "customer_id"]
    present: pl.Expr = pl.lit(True)
    if known is not None:
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
        if table.name in DATED:
            present &= pl.col(DATED[table.name]) <= as_of
    whole_row = [check.refused_when(pl.col).fill_null(False) for check in _row_checks(table.name)]
    # The verdict columns, not the parse expressions: by now the raw columns hold typed values.
    # Columns proven clean as a whole have no verdict column: no row of theirs is refused.
    verdicts = [pl.col(flag.meta.output_name()) for flag in flags]
    flagged = pl.any_horizontal([*verdicts, *whole_row, pl.lit(False)]).fill_null(True)
    outputs = [LINE, *kept, *([KEY] if is_customers else [CUST])]
    collected = _collect(
        rows.select(
            *outputs,
            pl.when(pl.col(KEY).is_not_null()).then(pl.col(KEY).hash()).alias(KEY_HASH),
            flagged.alias("_flagged"),
        ),
        raw,
    )
    if repeats is None:
        repeats = _repeats(collected, raw)
    problem = pl.col("_flagged")
    if repeats.height:
        problem |= pl.col(LINE).is_in(repeats.get_column(LINE).implode())
    bad_lines = collected.filter(problem).select(LINE).join(repeats, on=LINE, how="left")
    good = collected.select(outputs) if bad_lines.height == 0 else collected.filter(~problem)
    return _Checked(good.select(outputs), bad_lines, present)


def _figures(raw: RawTable) -> whole_column.Figures:
    """The whole-column figures of every column (one pass; Parquet answers most from its
    metadata), and a second pass for id columns that need a second look."""
    typed = raw.format == "parquet"
    columns = [(c, raw.schema[c.name]) for c in raw.table.columns]
    wanted = [figure for c, dtype in columns for figure in whole_column.summary(c, dtype, typed)]
    frame = _within_calendar(raw)  # a smallest date of year -5,000,000 is not a Python date
    figures = _collect(frame.select(wanted), raw).row(0, named=True)
    again = [figure for c, _ in columns for figure in whole_column.second_look(c, figures)]
    if again:
        figures |= _collect(frame.select(again), raw).row(0, named=True)
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
        found = [_collect(query, raw) for query in queries]  # names the file that failed
    return dict(zip(names, found, strict=True))


def _collect(query: pl.LazyFrame, raw: RawTable) -> pl.DataFrame:
    """Run a query over a file; a Parquet file damaged past its footer is only found here,
    as an error or as a panic in Polars' reader (see `loading.PARQUET_READ_ERRORS`)."""
    try:
        return query.collect()
    except PARQUET_READ_ERRORS as exc:
        if raw.format != "parquet":
            raise
        raise cannot_be_read(raw.file_label, exc) from exc


# The calendar that Python and every Polars operation can hold: years 1 to 9999 (less a day at
# either end for a timestamp with a time zone, whose local time may fall a day further). A
# Parquet date is any 32-bit number of days (a damaged page, or a number exported as a date,
# gives year 5,000,000), a timestamp any 64-bit number of its units; beyond this calendar Polars
# panics when it shows or converts the value ("out-of-range date"), takes it for no date at all
# (null), or Python cannot hold it.
_EPOCH = dt.date(1970, 1, 1)
_PER_DAY = {"ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_INT64 = (-(2**63), 2**63 - 1)
_DATED_KINDS = (Kind.DATE, Kind.DATETIME)


def _native_dates(raw: RawTable) -> list[tuple[str, pl.DataType]]:
    """The Parquet date and timestamp columns that hold dates (other kinds refuse the type)."""
    if raw.format != "parquet":
        return []
    dated = [(c.name, raw.schema[c.name]) for c in raw.table.columns if c.kind in _DATED_KINDS]
    return [(name, dtype) for name, dtype in dated if isinstance(dtype, (pl.Date, pl.Datetime))]


def _calendar_days(dtype: pl.DataType) -> tuple[dt.date, dt.date]:
    """The first and last day of the calendar for a column of this type."""
    zoned = isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    day = dt.timedelta(days=1 if zoned else 0)
    return dt.date.min + day, dt.date.max - day


def _calendar(dtype: pl.DataType) -> tuple[int, int]:
    """The first and last moment of the calendar as the type's stored number (days, or the
    timestamp's units since 1970-01-01), within the numbers the type can store."""
    first, last = ((day - _EPOCH).days for day in _calendar_days(dtype))
    if not isinstance(dtype, pl.Datetime):
        return first, last
    per_day = _PER_DAY[dtype.time_unit or "us"]
    return max(first * per_day, _INT64[0]), min((last + 1) * per_day - 1, _INT64[1])


def _within_calendar(raw: RawTable) -> pl.LazyFrame:
    """`raw.frame` with each date or timestamp beyond the calendar moved to its nearer end
    (0001-01-01 or 9999-12-31): still refused as implausible, as it was, but safe to compare,
    convert and show. The rejects file says what was there (`_beyond_calendar`)."""
    dates = _native_dates(raw)
    if not dates:
        return raw.frame
    return raw.frame.with_columns(
        pl.col(name).to_physical().clip(*_calendar(dtype)).cast(dtype).alias(name)
        for name, dtype in dates
    )


def _repeats(collected: pl.DataFrame, raw: RawTable) -> pl.DataFrame:
    """Lines whose id an earlier line already has, with that first line.

    Rows with equal hashes are only candidates; their ids are read again from the file and
    compared exactly, so a hash collision never sets a row aside.
    """
    none = pl.DataFrame(schema=REPEATS_SCHEMA)
    hashes = collected.get_column(KEY_HASH).drop_nulls()
    if hashes.n_unique() == hashes.len():  # the usual case, told by one cheap count
        return none
    ordered = hashes.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    candidates = collected.filter(pl.col(KEY_HASH).is_in(repeated.implode())).select(LINE)
    return first_lines(_collect(candidate_ids(raw, candidates.lazy()), raw))


def candidate_ids(raw: RawTable, lines: pl.LazyFrame) -> pl.LazyFrame:
    """LINE and KEY (the id as matched) of the rows of `raw` at `lines`, read again from the
    file to compare candidate repeats exactly (also by --buckets, which finds candidates
    across buckets)."""
    key = raw.table.key.name
    return raw.frame.join(lines, on=LINE, how="semi").select(
        LINE, normalise_id(pl.col(key).cast(pl.String)).alias(KEY)
    )


def first_lines(ids: pl.DataFrame) -> pl.DataFrame:
    """Each line whose id (KEY) an earlier line has, with that first line (REPEATS_SCHEMA). An
    id blank after trimming is missing, not a repeat: that row is refused as missing."""
    return (
        ids.filter(pl.col(KEY).str.len_bytes() > 0)
        .with_columns(pl.col(LINE).min().over(KEY).alias("_first_line"))
        .filter(pl.col(LINE) != pl.col("_first_line"))
        .select(LINE, "_first_line")
        .sort(LINE)
    )


def _rejects(
    raw: RawTable,
    bad_lines: pl.DataFrame,
    as_of: dt.date,
    known: pl.DataFrame | None = None,
    refused: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One rejects row per refused value of the bad rows, with a reason a person can act on,
    and the person each bad row names (line, REF; KEY for the customers table).

    The reasons are the same `parse` expressions as the main pass, evaluated again on these
    few rows only, plus the whole-row checks (repeated id, unknown customer, impossible pair).
    """
    table = raw.table
    typed = raw.format == "parquet"
    if bad_lines.height == 0:  # the usual case: no need to read the file again
        refs = pl.DataFrame(schema={LINE: pl.Int64, REF if known is not None else KEY: pl.String})
        return _structural_rejects(raw), refs
    rows = _collect(raw.frame.join(bad_lines.lazy(), on=LINE, how="inner"), raw)
    rows, beyond = _beyond_calendar(raw, rows)
    parsed = {
        c.name: parse(c, raw.schema[c.name], raw.file_label, typed, as_of) for c in table.columns
    }
    rows = rows.with_columns(
        *[p.value.alias(f"_value_{name}") for name, p in parsed.items()],
        *[p.reason.alias(f"_why_{name}") for name, p in parsed.items()],
    )
    key = table.key.name
    rows = rows.with_columns(normalise_id(pl.col(f"_value_{key}")).alias(KEY))
    overrides: dict[str, list[pl.Expr]] = {
        key: [
            pl.when(pl.col("_first_line").is_not_null()).then(
                pl.format(
                    "duplicate {} '{}': line {} has it already; this later row is set aside",
                    pl.lit(key),
                    _quoted(pl.col(f"_value_{key}")),
                    pl.col("_first_line"),
                )
            )
        ]
    }
    if known is not None and refused is not None:
        rows = (
            rows.with_columns(normalise_id(pl.col("_value_customer_id")).alias(REF))
            .join(known.drop(ID), left_on=REF, right_on=KEY, how="left")
            .join(refused, left_on=REF, right_on=KEY, how="left")
        )

    for name, reason in beyond.items():  # the value itself is the reason: said first
        overrides.setdefault(name, []).insert(0, reason)

    def value(name: str) -> pl.Expr:
        return pl.col(f"_value_{name}")

    for check in _row_checks(table.name) if known is not None and refused is not None else []:
        refused_when = check.refused_when(value).fill_null(False)
        overrides.setdefault(check.column, []).append(
            pl.when(refused_when).then(check.reason(value))
        )
    rows = rows.with_columns(
        pl.coalesce(*reasons, pl.col(f"_why_{name}")).alias(f"_why_{name}")
        for name, reasons in overrides.items()
    )
    per_column = [
        rows.filter(pl.col(f"_why_{c.name}").is_not_null()).select(
            pl.lit(raw.file_label).alias("file"),
            pl.col(LINE).alias("line"),
            _cut(_as_text(pl.col(key), raw.schema[key])).alias("record_id"),
            pl.lit(c.name).alias("column"),
            _cut(
                pl.coalesce(
                    pl.col(f"{_AS_STORED}{c.name}"), _as_text(pl.col(c.name), raw.schema[c.name])
                )
                if c.name in beyond
                else _as_text(pl.col(c.name), raw.schema[c.name])
            ).alias("value"),
            _cut(pl.col(f"_why_{c.name}")).alias("reason"),
            pl.lit(position, dtype=pl.Int64).alias("_position"),
        )
        for position, c in enumerate(table.columns)
    ]
    structural = _structural_rejects(raw).with_columns(
        pl.lit(-1, dtype=pl.Int64).alias("_position")
    )
    rejects = pl.concat([structural, *per_column]).sort("line", "_position").select(REJECT_COLUMNS)
    refs = rows.select(LINE, REF) if REF in rows.columns else rows.select(LINE, KEY)
    return rejects, refs


_AS_STORED = "_as_stored_"  # a date beyond the calendar, as the number the file stores
_BEYOND = "_beyond_"  # why that date is refused
_UNIT_NAMES = {"ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def _beyond_calendar(raw: RawTable, rows: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, pl.Expr]]:
    """The bad rows made safe to check and show when a date lies beyond the calendar (see
    `_within_calendar`): the date moves to the calendar's nearer end, the number the file
    stores goes to `_as_stored_<column>` (the rejects file's value) and the reason naming it
    to `_beyond_<column>`, whose expression is returned per column (null for other rows)."""
    reasons: dict[str, pl.Expr] = {}
    for name, dtype in _native_dates(raw):
        first, last = _calendar(dtype)
        first_day, last_day = _calendar_days(dtype)
        number = pl.col(name).to_physical()
        if rows.select(number.is_between(first, last).fill_null(True).all()).item():
            continue
        unit = _UNIT_NAMES[dtype.time_unit or "us"] if isinstance(dtype, pl.Datetime) else "days"
        early = number < first
        stored = pl.format(f"{{}} {unit} from 1970-01-01", number)
        rows = rows.with_columns(
            pl.when(early | (number > last)).then(stored).alias(f"{_AS_STORED}{name}"),
            pl.when(early)
            .then(pl.lit(f"before {first_day}"))
            .when(number > last)
            .then(pl.lit(f"after {last_day}"))
            .alias(f"{_BEYOND}{name}"),
        ).with_columns(
            pl.format(
                "implausible date {}: {}, beyond the calendar; a damaged export?",
                pl.col(f"{_AS_STORED}{name}"),
                pl.col(f"{_BEYOND}{name}"),
            ).alias(f"{_BEYOND}{name}"),
            number.clip(first, last).cast(dtype).alias(name),
        )
        reasons[name] = pl.col(f"{_BEYOND}{name}")
    return rows, reasons


def _unsplit_names(raw: RawTable) -> pl.DataFrame:
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
    names = [name.strip().lower() for name in raw.header]
    if column not in names:
        return pl.lit(None, dtype=pl.String)
    value = pl.col("value").str.split(",").list.get(names.index(column), null_on_oob=True)
    value = value.str.strip_chars().str.strip_chars('"').str.strip_chars()
    return pl.when(value != "").then(value)


def _structural_rejects(raw: RawTable) -> pl.DataFrame:
    """Rows that could not be split into columns, as rejects rows: the record_id is the best
    guess at the row's own key (see `_unsplit_names`), empty when there is none."""
    frame = raw.structural_rejects
    guess = _unsplit_field(raw, raw.table.key.name)
    if "record_id" in frame.columns:  # a reader that knows the id better says so
        guess = pl.coalesce(pl.col("record_id"), guess)
    return frame.select(
        pl.col("file"),
        pl.col("line"),
        _cut(guess).alias("record_id"),
        pl.col("column"),
        _cut(pl.col("value")).alias("value"),
        _cut(pl.col("reason")).alias("reason"),
    ).cast(REJECT_SCHEMA)


def _as_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return expr if dtype == pl.String else expr.cast(pl.String)
