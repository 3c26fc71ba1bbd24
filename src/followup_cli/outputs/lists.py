"""Lists for people (SPEC 9): which follow-up lists to keep, their order, and carried columns.

Every choice is checked before any export is read, so a typo in `--status`, `--sort` or
`--carry` costs a second, not a whole run, and writes nothing (exit 2).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.core.default_rules import DEFAULT_RULES
from followup_cli.core.errors import InputFileError, UsageError
from followup_cli.core.formats import format_of
from followup_cli.core.frames import column
from followup_cli.core.listing import LISTED_NAMES, first_of
from followup_cli.core.schema import (
    FILES_OWN_LINE,
    LINE,
    OUTPUT_COLUMNS,
    TABLES,
    Rows,
    normalise_name,
)
from followup_cli.outputs.safe_csv import is_text
from followup_cli.reading import zones
from followup_cli.reading.csv_grammar import NUL
from followup_cli.reading.csv_header import column_names, csv_header
from followup_cli.reading.csv_reader import read_csv
from followup_cli.reading.loading import PARQUET_READ_ERRORS, cannot_be_read

# The default decision tables' order (customer table, Unclassified included, then prospect
# table): the order of every list everywhere (a rules file gives its own: RuleSet.list_order).
LIST_ORDER = DEFAULT_RULES.list_order


# "Most overdue first" and "most owed first" are what a manager sorts these by, so they sort
# descending unless told otherwise; balance is negative when owed, so ascending puts the
# biggest debt first. Every other column sorts ascending.
DESCENDING_BY_DEFAULT = frozenset({"days_in_arrears", "past_due", "data_issues"})


def chosen_statuses(requested: Sequence[str], lists: Sequence[str] = LIST_ORDER) -> tuple[str, ...]:
    """--status names, matched case-insensitively and trimmed, as the statuses' own spelling;
    `lists` are the rules file's (SPEC 11), the defaults' without one."""
    by_key = {status.casefold(): status for status in lists}
    chosen = []
    for name in requested:
        status = by_key.get(" ".join(name.split()).casefold())
        if status is None:
            valid = ", ".join(f'"{s}"' for s in lists)
            raise UsageError(f"--status {name!r} is not a follow-up list; choose from {valid}")
        if status not in chosen:
            chosen.append(status)
    return tuple(chosen)


@dataclass(frozen=True)
class SortOrder:
    column: str
    descending: bool


def sort_order(spec: str | None, columns: Sequence[str]) -> SortOrder | None:
    """--sort COLUMN or COLUMN:asc|desc, checked against the output's columns."""
    if spec is None:
        return None
    # Matched as --carry names columns (`Home Club` is home_club); the direction follows the
    # last colon, since a carried column's name may hold one (`club:zone`, `club:zone:desc`).
    name, colon, direction = spec.rpartition(":")
    if not colon or normalise_name(spec) in columns or normalise_name(name) not in columns:
        first, colon, _ = spec.partition(":")
        if colon and normalise_name(spec) not in columns and normalise_name(first) in columns:
            raise UsageError(f"--sort {spec!r}: the direction after ':' is asc or desc")
        name, direction = spec, ""
    column = normalise_name(name)
    if column not in columns:
        raise UsageError(
            f"--sort {spec!r}: no such output column; choose from {', '.join(columns)}"
        )
    direction = direction.strip().lower()
    if direction not in ("", "asc", "desc"):
        raise UsageError(f"--sort {spec!r}: the direction after ':' is asc or desc")
    descending = column in DESCENDING_BY_DEFAULT if direction == "" else direction == "desc"
    return SortOrder(column, descending)


def keep_lists(output: Rows, statuses: Sequence[str]) -> Rows:
    """Only the rows on the chosen lists (all of them when none was chosen), in memory or not."""
    if not statuses:
        return output
    return output.filter(pl.col("follow_up_status").is_in(list(statuses)))


def sort_rows(output: pl.DataFrame, order: SortOrder | None) -> pl.DataFrame:
    """Stable, so people with equal values stay in the customers file's order; empty last."""
    if order is None:
        return output
    return output.sort(
        column(order.column), descending=order.descending, nulls_last=True, maintain_order=True
    )


def carried_columns(
    customers: Path, requested: Sequence[str], option: str = "--carry", *, listed: bool = False
) -> dict[str, str]:
    """--carry names matched to the customers file's header: output name -> name in the file.

    Names are matched as the contract's columns are (`normalise_name`), and the output column is
    named by the same key, so `Phone` in the file and `--carry phone` give a `phone` column.
    `option` is the one a refusal names (--split-by reads its column the same way). `listed`:
    each of `requested` may list names with commas (`phone,email`), unless the header has it
    as written (a column named `Phone, mobile`).
    """
    if not any(name.strip() for name in requested):
        return {}
    header = _header(customers)
    written = set(header)
    wanted = [
        name
        for item in requested
        for name in ([item] if not listed or item in written else item.split(","))
        if name.strip()
    ]
    types = _parquet_types(customers)
    by_key = _by_key(header)
    carried: dict[str, str] = {}
    for name in wanted:
        key = normalise_name(name)
        if key in OUTPUT_COLUMNS:
            raise UsageError(f"{option} {name.strip()}: {key} is in the output already")
        matches = by_key.get(key, [])
        # As written, spaces and all, then trimmed (`--carry "phone, email"`), then any alike.
        exact = [n for n in (name, name.strip()) if n in matches]
        found = exact[:1] or matches
        if not found:
            names = [LINE if n == FILES_OWN_LINE else n for n in header if n != LINE]
            has = first_of(names[:LISTED_NAMES], LISTED_NAMES, len(names)) or "no columns"
            raise UsageError(
                f"{option} {name.strip()}: {customers.name} has no such column (its columns: {has})"
            )
        if len(found) > 1:
            alike = first_of([repr(n) for n in found[:LISTED_NAMES]], LISTED_NAMES, len(found))
            raise UsageError(
                f"{option} {name.strip()}: {customers.name} has {len(found)} columns read as "
                f"{key} ({alike}); name one exactly as the file writes it"
            )
        (source,) = found
        if carried.get(key, source) != source:
            raise UsageError(
                f"{option} {name.strip()}: {carried[key]!r} is carried as {key} already; carry one "
                f"of the two"
            )
        dtype = types.get(source)
        if dtype is not None and not _carriable(dtype):
            raise UsageError(
                f"{option} {name.strip()}: {customers.name} stores {source} as {dtype}, which has "
                f"no one-cell form in CSV or a workbook; carry a text, number, date or "
                f"true/false column, or export this one as text"
            )
        carried[key] = source
    return carried


def _by_key(header: list[str]) -> dict[str, list[str]]:
    """The header's column names by the key they are matched by (`normalise_name`), in the
    file's order: `phone` and `Phone` share one."""
    by_key: dict[str, list[str]] = {}
    for name in header:
        # An export's own `_line`, which the run names FILES_OWN_LINE, is carried as `_line`.
        key = normalise_name(LINE if name == FILES_OWN_LINE else name)
        if name != LINE:
            by_key.setdefault(key, []).append(name)
    return by_key


# The columns a workbook's lists carry without --carry (SPEC 9), when the customers file has
# them: what a person phoning members needs.
CONTACT_COLUMNS = ("phone", "email")


def contact_columns(customers: Path, carried: dict[str, str]) -> dict[str, str]:
    """`carried` and then the contact columns the customers file has (matched as --carry
    matches names), for a workbook: one it cannot carry is left out, not refused."""
    try:
        header = _header(customers)
    except (OSError, InputFileError, pl.exceptions.PolarsError):
        return carried  # the run itself says what is wrong with the file, in its own words
    types = _parquet_types(customers)
    by_key = _by_key(header)
    contacts = dict(carried)
    for key in CONTACT_COLUMNS:
        alike = by_key.get(key, [])
        if not alike or key in contacts:
            continue
        source = key if key in alike else alike[0]  # `phone` itself before `Phone`
        dtype = types.get(source)
        if dtype is None or _carriable(dtype):
            contacts[key] = source
    return contacts


def _carriable(dtype: pl.DataType) -> bool:
    """A value one cell holds in every output format: text (Categorical and Enum too), a
    number, a date or time, true/false. Lists, arrays, structs, bytes, durations and Python
    objects have no one-cell form in CSV or a workbook, so they are refused (exit 2) rather
    than failing half-way through writing."""
    return not (
        dtype.is_nested()
        or isinstance(dtype, pl.Binary | pl.Duration | pl.Object)
        or dtype == pl.Unknown
    )


def _parquet_types(customers: Path) -> dict[str, pl.DataType]:
    """Each column's type in a Parquet customers file (a CSV's columns are all text)."""
    if format_of(customers) != "parquet":
        return {}
    try:
        schema = pl.scan_parquet(customers, glob=False).collect_schema()
        return dict(zip(column_names(list(schema)), schema.values(), strict=True))
    except (OSError, pl.exceptions.PolarsError):
        return {}  # the run itself reports an unreadable file, with the reason


def carry(
    output: pl.DataFrame,
    customers: Path,
    columns: dict[str, str],
    lines: pl.Series,
    read: pl.LazyFrame | None = None,
    warn: Callable[[list[str]], None] | None = None,
) -> pl.DataFrame:
    """The output with the carried columns after the contract's; `lines` is each output row's
    line in the customers file, so every row gets the values from its own line. `read` is the
    run's own reading of the customers file's extra columns (RawTable.unknown_frame), used
    when it holds them all, so the values are the very ones the run read. A value no output
    can hold is carried as empty, or cut, and `warn` is told once per column (_writable)."""
    if not columns:
        return output
    sources = list(dict.fromkeys(columns.values()))
    # The columns by place, under names of the tool's own until the end: a header name such as
    # `*` or `^a$` is a pattern to Polars wherever a name is taken as one.
    inner = {source: f"_carried_{at}" for at, source in enumerate(sources)}
    if read is not None and set(sources) <= set(read.collect_schema().names()):
        raw = read.select(LINE, *by_place(read.collect_schema().names(), inner)).collect()
    else:
        raw = _read_columns(customers, inner)
    picked = (
        pl.DataFrame({LINE: lines.cast(pl.Int64)})
        .with_row_index("_position")
        .join(raw, on=LINE, how="left")
        .sort("_position")
    )
    values = [
        _writable(pl.col(inner[source]), picked.schema[inner[source]]).alias(name)
        for name, source in columns.items()
    ]
    carried = picked.select(values)
    if warn is not None:
        warn(_unwritable(picked, carried, columns, inner, customers.name))
    return output.hstack(carried.get_columns())


def by_place(names: list[str], wanted: dict[str, str]) -> list[pl.Expr]:
    """The columns `wanted` (name in `names` -> new name) selected by their place."""
    at = {name: place for place, name in reversed(list(enumerate(names)))}
    return [pl.nth(at[name]).alias(new) for name, new in wanted.items()]


def _header(customers: Path) -> list[str]:
    """The customers file's column names as the run reads them: a Parquet file's schema, or a
    CSV file's header by the reader's own function (a header the reader refuses is refused
    here, in the reader's words, before anything else is read)."""
    if format_of(customers) == "parquet":  # named as the run names them (loading)
        return column_names(list(pl.scan_parquet(customers, glob=False).collect_schema()))
    return csv_header(customers)


def _read_columns(customers: Path, names: dict[str, str]) -> pl.DataFrame:
    """The chosen columns of the customers file as read (name in the file -> name to give it),
    with each row's line."""
    if format_of(customers) == "parquet":
        scan = pl.scan_parquet(customers, glob=False)
        schema = scan.collect_schema()
        # A timestamp in a zone Polars does not know: its wall time (`zones`), as the run reads.
        scan = zones.wall_times(scan, schema, customers.name, ())
        scan = scan.select(by_place(column_names(schema.names()), names))
        try:
            return (
                scan.with_row_index(LINE, offset=1)
                .with_columns(pl.col(LINE).cast(pl.Int64))
                .collect()
            )
        except PARQUET_READ_ERRORS as exc:
            # A page of a carried column damaged while the run's own columns read well: the
            # one sentence of any damaged export (SPEC 6), not an internal error.
            raise cannot_be_read(customers.name, exc) from exc
    # The same reader as the run, with the same key, so the lines are the same lines: the key
    # decides where a quoted value over several lines ends (loading.read_table).
    # Only the chosen columns are needed: a wide header's others are not made columns.
    frame, _ragged = read_csv(customers, TABLES["customers"].key.name, needed=names.__contains__)
    return frame.select(LINE, *by_place(frame.columns, names))


# Carried values are copied, not validated (SPEC 9), but each must be one every output format
# can write: CSV's and JSON's writers panic on a date or timestamp beyond years 1-9999 (Polars
# formats only those), a workbook refuses NaN and infinity, and an Excel cell holds at most
# 32,767 characters (xlsxwriter cut longer text silently). Such a value is carried as empty, or
# cut, the same in every format, and said once per column.
EXCEL_CELL_CHARACTERS = 32_767
_FIRST_DAY, _LAST_DAY = dt.date(1, 1, 1), dt.date(9999, 12, 31)
_EPOCH = dt.datetime(1970, 1, 1)
_PER_SECOND = {"ms": 1_000, "us": 1_000_000}


def _writable(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A carried column's values as every output format can write them."""
    if is_text(dtype):
        # Text is trimmed, as every text value of the exports is; an empty cell is empty.
        # Categorical and Enum (Parquet) are text too, written as String: a trimmed value
        # may not be one of an Enum's categories.
        value = value.cast(pl.String).str.strip_chars()
        # A zero byte (NUL) is never text (a CSV row holding one is rejected; a workbook's XML
        # cannot hold it): the value is carried as empty.
        kept = (value != "") & ~value.str.contains(NUL, literal=True)
        return pl.when(kept).then(value.str.slice(0, EXCEL_CELL_CHARACTERS))
    if dtype.is_float():
        return pl.when(value.is_finite()).then(value)
    within = _in_calendar(value, dtype)
    return value if within is None else pl.when(within).then(value)


def _in_calendar(value: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
    """Whether a date or timestamp falls in years 1-9999, compared as the stored number (a
    value beyond them panics when it is formatted); None for a type that cannot leave them."""
    if isinstance(dtype, pl.Date):
        first, last = ((d - _EPOCH.date()).days for d in (_FIRST_DAY, _LAST_DAY))
        return value.to_physical().is_between(first, last)
    if isinstance(dtype, pl.Datetime) and dtype.time_unit in _PER_SECOND:
        # A time zone moves the local time up to a day either way from the stored UTC time.
        margin = dt.timedelta(days=1) if dtype.time_zone else dt.timedelta(0)
        ends = (
            dt.datetime.combine(_FIRST_DAY, dt.time()) + margin,
            dt.datetime.combine(_LAST_DAY, dt.time.max) - margin,
        )
        per_second = _PER_SECOND[dtype.time_unit]
        low, high = (
            (d - _EPOCH) // dt.timedelta(microseconds=1) * per_second // 10**6 for d in ends
        )
        return value.to_physical().is_between(low, high)
    return None  # nanoseconds reach years 1677-2262 only; a time of day is read or null


def _unwritable(
    picked: pl.DataFrame,
    carried: pl.DataFrame,
    columns: dict[str, str],
    inner: dict[str, str],
    file: str,
) -> list[str]:
    """One warning per carried column whose values were emptied or cut, with their count;
    `inner` names each source column as `picked` holds it."""
    said = []
    for name, source in columns.items():
        dtype = picked.schema[inner[source]]
        if is_text(dtype):
            trimmed = picked.get_column(inner[source]).cast(pl.String).str.strip_chars()
            nul = trimmed.str.contains(NUL, literal=True).fill_null(False)
            if nul.any():
                count = int(nul.sum())
                plural = "" if count == 1 else "s"
                said.append(
                    f"{file}: column {source} holds {count:,} value{plural} with a zero byte "
                    f"(NUL), which is never text; carried as empty"
                )
            count = int(((trimmed.str.len_chars() > EXCEL_CELL_CHARACTERS) & ~nul).sum())
            noun, beyond = "text", f" longer than {EXCEL_CELL_CHARACTERS:,} characters"
            done = f"carried cut to {EXCEL_CELL_CHARACTERS:,} (the most an Excel cell holds)"
        else:
            emptied = carried.get_column(name).null_count()
            count = emptied - picked.get_column(inner[source]).null_count()
            noun, beyond = _EMPTIED.get(type(dtype), ("value", " no output can hold"))
            done = "carried as empty"
        if count:
            plural = "" if count == 1 else "s"
            said.append(f"{file}: column {source} holds {count:,} {noun}{plural}{beyond}, {done}")
    return said


_EMPTIED: dict[type[pl.DataType], tuple[str, str]] = {
    pl.Date: ("date", " beyond years 1-9999"),
    pl.Datetime: ("timestamp", " beyond years 1-9999"),
    pl.Float32: ("NaN or infinite value", ""),
    pl.Float64: ("NaN or infinite value", ""),
}
