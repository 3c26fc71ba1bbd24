"""Parquet's native types against text (issue 18): the same values give the same output.

A club system writes Parquet with whatever types its database has: Int16 amounts, UInt8
session counts, Decimal(10, 3) fees, Categorical ids, zoned timestamps. Each value is read as
the same value written as text in a CSV file is, row for row and reject for reject; a type
that cannot hold the column's values (a binary float for money, text for a date) refuses the
whole file with one sentence. Nothing is ever silently changed: a fee of Int16 400 once became
null and a UInt8 3 became 0.44, because cents were computed in the column's own type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tempfile
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from followup_cli.core.errors import FollowupError
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.schema import TABLES, Column, Kind
from followup_cli.reading import whole_column
from followup_cli.reading.parsing import parse
from followup_cli.reading.run import run
from followup_cli.reading.value_bounds import MAX_COUNT, MAX_UNITS
from tests.conftest import AS_OF

Invoke = Callable[..., Any]

# --- The cases, as they were found ---


def _exports(folder: Path, fee: pl.Series, amounts: pl.Series) -> Path:
    """C-1 with one agreement billed May and June 2024 at `fee`, and a payment per amount."""
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {"customer_id": ["C-1"], "name": ["Ann"], "created_on": [dt.date(2024, 1, 1)]}
    ).write_parquet(folder / "customers.parquet")
    pl.DataFrame(
        {
            "agreement_id": ["A-1"],
            "customer_id": ["C-1"],
            "purchase_date": [dt.date(2024, 5, 1)],
            "status": ["active"],
            "monthly_fee": fee,
            "end_date": [dt.date(2024, 6, 30)],
        }
    ).write_parquet(folder / "agreements.parquet")
    pl.DataFrame(
        {
            "payment_id": [f"P-{n}" for n in range(amounts.len())],
            "customer_id": ["C-1"] * amounts.len(),
            "paid_on": [dt.date(2024, 6, 1)] * amounts.len(),
            "amount": amounts,
            "kind": ["recurring"] * amounts.len(),
        }
    ).write_parquet(folder / "payments.parquet")
    pl.DataFrame(
        schema={
            "event_id": pl.String,
            "customer_id": pl.String,
            "starts_at": pl.Datetime("us"),
            "outcome": pl.String,
        }
    ).write_parquet(folder / "events.parquet")
    return folder


@pytest.mark.parametrize(
    ("fee", "amounts"),
    [
        # Int16 400 * 100 wrapped to -25536: both payments vanished and C-1 "owed 800.00".
        pytest.param(
            pl.Series([400], dtype=pl.Int32),
            pl.Series([400, 400], dtype=pl.Int16),
            id="Int32 fee, Int16 payments",
        ),
        # UInt8 3 * 100 wrapped to 44: credited as 0.44 (and 200 as 0.32, 197 as 0.20).
        pytest.param(
            pl.Series([300], dtype=pl.Int64),
            pl.Series([3, 200, 200, 197], dtype=pl.UInt8),
            id="UInt8 payments",
        ),
        # UInt16 700 * 100 wrapped to 4464: charged as 44.64.
        pytest.param(
            pl.Series([700], dtype=pl.UInt16),
            pl.Series([700, 700], dtype=pl.Int64),
            id="UInt16 fee",
        ),
        # Int8 4 * 100 wrapped to -112: every fee empty, no ledger at all.
        pytest.param(
            pl.Series([4], dtype=pl.Int8),
            pl.Series([4, 4], dtype=pl.Int64),
            id="Int8 fee",
        ),
    ],
)
def test_small_integer_money_is_widened_before_it_becomes_cents(
    tmp_path: Path, invoke: Invoke, fee: pl.Series, amounts: pl.Series
) -> None:
    """Whole units in any integer width are that many units: two months' fees paid exactly
    are Paid in Full with a balance of 0.00, exit 0, nothing rejected."""
    folder = _exports(tmp_path / "in", fee, amounts)
    rejects = tmp_path / "rejects.csv"
    result = invoke(
        "reconcile", "--data", str(folder), "--as-of", "2024-07-31", "-q", "--rejects", str(rejects)
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith(
        "C-1,Ann,Customer,Active Customer,active agreement A-1,Paid in Full,0.00,0.00,,,"
    )
    assert not rejects.exists()


# --- Every column in every native type a club system might write, against the same text ---

INTS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
TEXTS = (pl.String, pl.Categorical, "Enum")  # an Enum's categories are the values written
DECIMALS = tuple(
    pl.Decimal(p, s)
    for p, s in [(4, 0), (38, 0), (4, 1), (9, 2), (18, 2), (38, 2), (10, 3), (12, 4), (38, 20)]
)
DATETIMES = tuple(
    pl.Datetime(unit, zone)
    for unit in ("ms", "us", "ns")
    for zone in (None, "UTC", "America/New_York", "Asia/Kolkata")
)
FLOATS = (pl.Float32, pl.Float64)
EVERY_TYPE = (*INTS, *FLOATS, *DECIMALS, pl.Boolean, *TEXTS, pl.Date, *DATETIMES)

# The types each kind of column is read from; every other type refuses the file (exit 3).
ACCEPTED: dict[Kind, tuple[Any, ...]] = {
    Kind.KEY: (*TEXTS, *INTS),
    Kind.CUSTOMER_REF: (*TEXTS, *INTS),
    Kind.TEXT: (*TEXTS, *INTS),
    Kind.VOCAB: TEXTS,
    Kind.DATE: (pl.Date,),
    Kind.DATETIME: (pl.Date, *DATETIMES),
    Kind.COUNT: INTS,
    Kind.MONEY: (*INTS, *DECIMALS),
}

D = Decimal
# Three rows a table, all good as written: C-11 pays its fees, C-12 has a single session left,
# C-13 is a prospect who came to a trial. Ids are digits so that an integer type can hold them.
BASE: dict[str, dict[str, list[Any]]] = {
    "customers": {
        "customer_id": ["11", "12", "13"],
        "name": ["Ann", "Bob", "Cy"],
        "origin": ["web", "referral", None],
        "created_on": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), dt.date(2024, 7, 31)],
    },
    "agreements": {
        "agreement_id": ["21", "22", "23"],
        "customer_id": ["11", "12", "11"],
        "purchase_date": [dt.date(2024, 5, 1), dt.date(2024, 6, 15), dt.date(2023, 1, 1)],
        "session_quantity": [None, 1, 10],
        "sessions_remaining": [None, 1, 0],
        "status": ["active", "active", "inactive"],
        "alert": [None, None, "expired"],
        "monthly_fee": [D(40), None, D(10)],
        "end_date": [None, None, dt.date(2023, 3, 31)],
    },
    "payments": {
        "payment_id": ["31", "32", "33"],
        "customer_id": ["11", "11", "12"],
        "paid_on": [dt.date(2024, 6, 1), dt.date(2024, 7, 1), dt.date(2024, 6, 20)],
        "amount": [D(40), D(9), D(16)],
        "kind": ["recurring", "one-off", "one-off"],
    },
    "events": {
        "event_id": ["41", "42", "43"],
        "customer_id": ["13", "13", "12"],
        "starts_at": [
            dt.datetime(2024, 7, 20, 10),
            dt.datetime(2024, 8, 2, 9, 30),
            dt.datetime(2024, 7, 1, 18),
        ],
        "kind": ["trial", "class", None],
        "outcome": ["attended", "scheduled", "no-show"],
    },
}
ROWS = 3


def _int_range(dtype: Any) -> tuple[int, int]:
    bits = {pl.Int8: 8, pl.Int16: 16, pl.Int32: 32, pl.Int64: 64}
    if dtype in bits:
        return -(2 ** (bits[dtype] - 1)), 2 ** (bits[dtype] - 1) - 1
    unsigned = {pl.UInt8: 8, pl.UInt16: 16, pl.UInt32: 32, pl.UInt64: 64}
    return 0, 2 ** unsigned[dtype] - 1


def _in_range(dtype: Any, values: Sequence[int]) -> list[int]:
    low, high = _int_range(dtype)
    return [v for v in values if low <= v <= high]


def _integers(dtype: Any, edges: Sequence[int]) -> st.SearchStrategy[Any]:
    """Integers the type holds: the edges among them, the type's own extremes, any other."""
    low, high = _int_range(dtype)
    return st.one_of(
        st.sampled_from(_in_range(dtype, [*edges, low, high, low + 1, high - 1])),
        st.integers(low, high),
    )


def _decimals(dtype: pl.Decimal, good: bool) -> st.SearchStrategy[Decimal]:
    """Amounts the decimal type holds: good ones are positive with at most 2 places."""
    scale = dtype.scale or 0
    precision = dtype.precision or 38
    largest = 10**precision - 1
    if good:
        # Up to MAX_UNITS.99 (the cents of the largest whole amount count too), or the type's
        # own largest amount if smaller.
        top = min((MAX_UNITS + 1) * 10**scale - 1, largest)
        step = 10 ** max(scale - 2, 0)  # no third decimal
        edge = st.sampled_from([top // step, min(MAX_UNITS * 10**scale, top) // step, 1])
        units = st.one_of(edge, st.integers(1, top // step)).map(lambda n: n * step)
    else:
        edges = [0, -1, -(10**scale), 10**scale * (MAX_UNITS + 1), largest, -largest]
        if scale > 2:
            edges += [10**scale * 4 + 1, 10**scale * 4 + 10 ** (scale - 3)]
        units = st.one_of(
            st.sampled_from([e for e in edges if -largest <= e <= largest]),
            st.integers(-largest, largest),
        )
    # From text, not scaleb: scaleb rounds to the context's 28 digits, and a Decimal(38, 20)
    # edge of 10**28 units came back with 19 places, not the 20 its column writes.
    return units.map(lambda n: Decimal(f"{n}E-{scale}"))


_WORDS = ["", "  ", "bogus", "Ann", " padded ", "=1+2", "x" * 1001, "é", "C-1", "c-1"]
_DATES = [
    dt.date(1, 1, 1),
    dt.date(1899, 12, 31),
    dt.date(1900, 1, 1),
    dt.date(2024, 2, 29),
    AS_OF,
    AS_OF + dt.timedelta(days=1),
    dt.date(2124, 7, 31),
    dt.date(2124, 8, 1),
    dt.date(9999, 12, 31),
]


Good = Callable[[int], st.SearchStrategy[Any]]


@dataclasses.dataclass(frozen=True)
class Cell:
    """How to draw one column's values in one native type: good values keep the row usable,
    edges are what a text export could also hold wrongly (negative, too large, missing)."""

    good: Good  # by row: that row's good values
    edge: st.SearchStrategy[Any]


def _cell(table: str, column: Column, dtype: Any) -> Cell:
    base = BASE[table][column.name]
    kind = column.kind

    def as_is(row: int) -> st.SearchStrategy[Any]:
        return st.just(base[row])

    nothing = st.none()
    if kind in (Kind.KEY, Kind.CUSTOMER_REF, Kind.TEXT):
        ids = BASE["customers"]["customer_id"]
        if dtype in INTS:
            numbers = [int(v) for v in [*BASE[table][TABLES[table].key.name], *ids]]
            good: Good
            if kind is Kind.TEXT:
                good = lambda _row: _integers(dtype, [])  # noqa: E731
            elif kind is Kind.CUSTOMER_REF:
                good = lambda _row: st.sampled_from(ids).map(int)  # noqa: E731
            else:
                good = lambda row: st.just(int(base[row]))  # noqa: E731
            return Cell(good, st.one_of(nothing, _integers(dtype, [0, -1, 99, *numbers])))
        if kind is Kind.CUSTOMER_REF:
            return Cell(
                lambda _row: st.sampled_from(ids),
                st.one_of(nothing, st.sampled_from([*_WORDS, " 12 ", "99", "13 "])),
            )
        others = [*BASE[table][column.name], " 12 ", "11", "21", "31", "41", "99"]
        return Cell(as_is, st.one_of(nothing, st.sampled_from([*_WORDS, *others])))
    if kind is Kind.VOCAB:
        spellings = sorted(column.vocabulary)
        variants = st.sampled_from(spellings).flatmap(
            lambda word: st.sampled_from([word, word.upper(), f" {word.title()} "])
        )
        return Cell(
            as_is if not column.required else (lambda _row: variants),
            st.one_of(nothing, variants, st.sampled_from(_WORDS)),
        )
    if kind is Kind.DATE:
        dates = st.dates(dt.date(1899, 1, 1), dt.date(2125, 1, 1))
        return Cell(as_is, st.one_of(nothing, st.sampled_from(_DATES), dates))
    if kind is Kind.DATETIME:
        if dtype == pl.Date:
            midnight: Good = lambda row: st.just(  # noqa: E731
                dt.datetime.combine(base[row].date(), dt.time())
            )
            days = st.one_of(
                st.sampled_from(_DATES), st.dates(dt.date(1899, 1, 1), dt.date(2125, 1, 1))
            )
            return Cell(
                midnight, st.one_of(nothing, days.map(lambda d: dt.datetime.combine(d, dt.time())))
            )
        moments = st.one_of(
            st.sampled_from([dt.datetime.combine(d, dt.time(23, 59, 59)) for d in _DATES]),
            st.datetimes(dt.datetime(1899, 1, 1), dt.datetime(2125, 1, 1)).map(
                lambda t: t.replace(microsecond=0)
            ),
        )
        return Cell(as_is, st.one_of(nothing, moments))
    if kind is Kind.COUNT:
        sessions = st.one_of(nothing, st.integers(0, 50))
        edges = [0, -1, MAX_COUNT, MAX_COUNT + 1, 2**31, 2**63 - 1, 2**63]
        return Cell(lambda _row: sessions, st.one_of(nothing, _integers(dtype, edges)))
    # Money.
    good_amounts: st.SearchStrategy[Decimal]
    edge: st.SearchStrategy[Any]
    if isinstance(dtype, pl.Decimal):
        good_amounts = _decimals(dtype, good=True)
        edge = _decimals(dtype, good=False)
    else:
        high = _int_range(dtype)[1]
        good_amounts = st.integers(1, min(high, MAX_UNITS)).map(Decimal)
        edges = [0, -1, 3, 255, 400, 700, MAX_UNITS, MAX_UNITS + 1, 10**13, 2**63, 2**64 - 1]
        edge = _integers(dtype, edges).map(Decimal)
    optional = nothing if not column.required else st.nothing()
    return Cell(lambda _row: st.one_of(optional, good_amounts), st.one_of(nothing, edge))


def _canonical(kind: Kind) -> Any:
    """The type an export of ours would use: the reference side of every comparison."""
    return {
        Kind.DATE: pl.Date,
        Kind.DATETIME: pl.Datetime("us"),
        Kind.COUNT: pl.Int64,
        Kind.MONEY: pl.Decimal(18, 2),
    }.get(kind, pl.String)


def _native(name: str, values: list[Any], dtype: Any, kind: Kind) -> pl.Series:
    """`values` as a Parquet column of type `dtype` (whole amounts as integers, dates of a
    datetime column as dates, zoned timestamps at the same wall-clock time)."""
    if dtype in INTS:
        return pl.Series(name, [None if v is None else int(v) for v in values], dtype=dtype)
    if dtype in ("Enum", pl.Categorical, pl.String):
        text = pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)
        if dtype == "Enum":
            return text.cast(pl.Enum(sorted(set(text.drop_nulls())) or ["-"]))
        return text.cast(dtype)
    if dtype == pl.Date and kind is Kind.DATETIME:
        return pl.Series(name, [None if v is None else v.date() for v in values], dtype=pl.Date)
    if isinstance(dtype, pl.Datetime):
        naive = pl.Series(name, values, dtype=pl.Datetime(dtype.time_unit))
        if dtype.time_zone is None:
            return naive
        zoned = naive.dt.replace_time_zone(
            dtype.time_zone, ambiguous="earliest", non_existent="null"
        )
        assume(zoned.null_count() == naive.null_count())  # not a wall time skipped by DST
        # A zoned timestamp stored (in UTC) on the calendar's first or last day is refused as
        # beyond the calendar (its local time may fall a day further: calendar_bounds), a
        # reason text without a zone cannot give; the row is refused either way.
        stored = zoned.dt.convert_time_zone("UTC").dt.date()
        assume(stored.is_between(dt.date.min, dt.date.max, closed="none").all())
        return zoned
    return pl.Series(name, values, dtype=dtype)


def _text(value: Any, dtype: Any) -> str | None:
    """One value as a club system writes it in CSV."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(int(value)) if dtype in INTS else f"{value:f}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


_NS_RANGE = (dt.datetime(1677, 9, 22), dt.datetime(2262, 4, 11))


@st.composite
def _table_in_native_types(
    draw: st.DrawFn, table: str
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Every column of `table` in a type drawn from those it is read from, with values the
    type holds: mostly good, with edges in up to two columns."""
    columns = TABLES[table].columns
    dtypes = {c.name: draw(st.sampled_from(ACCEPTED[c.kind])) for c in columns}
    edgy = draw(st.sets(st.sampled_from([c.name for c in columns]), max_size=2))
    values: dict[str, list[Any]] = {}
    for column in columns:
        cell = _cell(table, column, dtypes[column.name])
        values[column.name] = [
            draw(st.one_of(cell.good(row), cell.edge) if column.name in edgy else cell.good(row))
            for row in range(ROWS)
        ]
        if isinstance(dtypes[column.name], pl.Datetime) and dtypes[column.name].time_unit == "ns":
            # Nanoseconds since 1970 in 64 bits span 1677 to 2262 only.
            within = [v is None or _NS_RANGE[0] <= v <= _NS_RANGE[1] for v in values[column.name]]
            assume(all(within))
    return dtypes, values


def _write_base(folder: Path, but: str) -> None:
    """Every table but `but` as Parquet in our own types."""
    for name, table in TABLES.items():
        if name != but:
            pl.DataFrame(
                [
                    _native(c.name, BASE[name][c.name], _canonical(c.kind), c.kind)
                    for c in table.columns
                ]
            ).write_parquet(folder / f"{name}.parquet")


def _outcome(folder: Path, table: str) -> tuple[pl.DataFrame, list[tuple[Any, ...]]] | str:
    """The output and the rejects, with the file name and the lines of the table under test
    made the same for both formats (a CSV file's header is line 1); or the refusal's sentence."""
    try:
        result = run(folder, {}, AS_OF, LedgerSettings())
    except FollowupError as exc:
        return str(exc).replace(f"{table}.csv", f"{table}.parquet")
    as_csv = (folder / f"{table}.csv").exists()

    def line(number: int) -> int:
        return number - 1 if as_csv else number

    def lines_in(reason: str, file: str) -> str:
        if not as_csv:
            return reason
        # "line 3 has it already" (this file), "customers line 4" (the customers file).
        here = r"(?<![a-z] )line ([0-9]+)" if file.startswith(table) else r"(?!)"
        there = rf"{table} line ([0-9]+)"
        for pattern in (here, there):
            reason = re.sub(pattern, lambda m: m[0].replace(m[1], str(line(int(m[1])))), reason)
        return reason

    rejects = []
    for file, number, record_id, column, value, reason in result.rejects.iter_rows():
        own = file == f"{table}.csv"
        rejects.append(
            (
                f"{table}.parquet" if own else file,
                line(number) if own else number,
                record_id or "",
                column,
                # A timestamp's text form depends on its unit; its verdict must not.
                "" if column == "starts_at" else value or "",
                lines_in(reason, file),
            )
        )
    return result.output, rejects


@settings(max_examples=160, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_native_parquet_column_reads_as_the_same_values_written_as_text(
    data: st.DataObject,
) -> None:
    """Any column in any type it is read from gives the output and the rejects (same rows,
    same reasons) that the same values written as text in CSV give."""
    table = data.draw(st.sampled_from(list(TABLES)))
    dtypes, values = data.draw(_table_in_native_types(table))
    columns = TABLES[table].columns
    with tempfile.TemporaryDirectory() as native_dir, tempfile.TemporaryDirectory() as text_dir:
        native, text = Path(native_dir), Path(text_dir)
        _write_base(native, but=table)
        _write_base(text, but=table)
        pl.DataFrame(
            [_native(c.name, values[c.name], dtypes[c.name], c.kind) for c in columns]
        ).write_parquet(native / f"{table}.parquet")
        pl.DataFrame(
            {
                c.name: pl.Series(
                    [_text(v, dtypes[c.name]) for v in values[c.name]], dtype=pl.String
                )
                for c in columns
            }
        ).write_csv(text / f"{table}.csv")
        from_native, from_text = _outcome(native, table), _outcome(text, table)
    if isinstance(from_text, str) or isinstance(from_native, str):
        assert from_native == from_text
        return
    assert from_native[1] == from_text[1]
    assert_frame_equal(from_native[0], from_text[0])


def _one_table(folder: Path, table: str, frame: pl.DataFrame) -> Path:
    """The base exports in our own types, with `table` replaced by `frame`."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_base(folder, but=table)
    frame.write_parquet(folder / f"{table}.parquet")
    return folder


def _rejected(folder: Path) -> list[tuple[Any, ...]]:
    outcome = _outcome(folder, "none")
    assert not isinstance(outcome, str), outcome
    return [(file, line, column, reason) for file, line, _id, column, _v, reason in outcome[1]]


def test_an_amount_beyond_a_decimals_range_of_cents_is_rejected_not_an_overflow(
    tmp_path: Path,
) -> None:
    """A Decimal(38, 2) amount of 10**35 is one rejected row (too large), as in CSV; computing
    its cents overflowed 38 digits and stopped the whole run."""
    payments = pl.DataFrame(
        {
            "payment_id": ["31", "32"],
            "customer_id": ["11", "11"],
            "paid_on": [dt.date(2024, 6, 1)] * 2,
            "amount": pl.Series([D(40), D(10**35)], dtype=pl.Decimal(38, 2)),
            "kind": ["recurring", "recurring"],
        }
    )
    assert _rejected(_one_table(tmp_path / "in", "payments", payments)) == [
        (
            "payments.parquet",
            2,
            "amount",
            "too large for an amount of money (at most 99,999,999.99)",
        )
    ]


_CENTS_TYPES = [*INTS, *(d for d in DECIMALS if (d.scale or 0) <= 2)]


def _largest(dtype: pl.DataType, limit: int) -> int:
    """The most whole units a column of `dtype` holds, up to `limit`."""
    if isinstance(dtype, pl.Decimal):
        return min(10 ** ((dtype.precision or 38) - (dtype.scale or 0)) - 1, limit)
    name = str(dtype)  # "Int16", "UInt64"
    bits = int(name.removeprefix("U").removeprefix("Int"))
    return min(2 ** (bits - (not name.startswith("U"))) - 1, limit)


@pytest.mark.parametrize(
    ("kind", "dtype"),
    [(Kind.MONEY, dtype) for dtype in _CENTS_TYPES] + [(Kind.COUNT, dtype) for dtype in INTS],
    ids=str,
)
def test_a_column_proven_clean_reads_as_every_row_checked(kind: Kind, dtype: pl.DataType) -> None:
    """The value a whole column proven within range is read as (no check of each row) is the
    value checking each row gives, in every type: cents of decimals at scales 0 to 2 and of
    whole units in any integer width, at the smallest, a middle and the largest value."""
    column = Column("amount", kind, required=True, allow_zero=False)
    top = Decimal(_largest(dtype, MAX_UNITS if kind is Kind.MONEY else MAX_COUNT))
    # The smallest amount the type holds (0.1 at scale 1), and for a count none at all.
    places = dtype.scale or 0 if isinstance(dtype, pl.Decimal) else 0
    step = Decimal(1).scaleb(-places)
    if kind is Kind.MONEY and places and top == MAX_UNITS:
        top += 1 - step  # 99,999,999.99 (or .9): the cents of the largest whole amount
    smallest = step if kind is Kind.MONEY else Decimal(0)
    middle = (top / 3).quantize(step, rounding="ROUND_DOWN")
    written = [smallest, middle, top]
    frame = pl.Series("amount", written, dtype=pl.Decimal(38, 2)).cast(dtype).to_frame()
    figures = frame.select(whole_column.summary(column, dtype, typed=True)).row(0, named=True)
    fast = whole_column.trusted(column, dtype, figures, AS_OF)
    assert fast is not None, figures  # proven: the row checks are left out
    checked = parse(column, dtype, "payments.parquet", typed=True, as_of=AS_OF).value
    got = frame.select(fast.alias("fast"), checked.alias("checked"))
    assert got.schema == pl.Schema({"fast": pl.Int64, "checked": pl.Int64})
    per = 100 if kind is Kind.MONEY else 1
    assert got["checked"].to_list() == [int(v * per) for v in written]
    assert got["fast"].to_list() == got["checked"].to_list()


@pytest.mark.parametrize(
    "sessions",
    [
        pytest.param(pl.Series([10**10], dtype=pl.Int64), id="Int64"),
        pytest.param(pl.Series([2**64 - 1], dtype=pl.UInt64), id="UInt64 beyond Int64"),
    ],
)
def test_a_count_text_refuses_is_refused_natively_too(tmp_path: Path, sessions: pl.Series) -> None:
    """Ten digits of sessions are refused in CSV (nine at most); an Int64 10**10 was accepted
    from Parquet. Both now say it is too large."""
    agreements = pl.DataFrame(
        {
            "agreement_id": ["21"],
            "customer_id": ["11"],
            "purchase_date": [dt.date(2024, 5, 1)],
            "session_quantity": sessions,
            "status": ["active"],
        }
    )
    assert _rejected(_one_table(tmp_path / "in", "agreements", agreements)) == [
        (
            "agreements.parquet",
            1,
            "session_quantity",
            "too large for a number of sessions (at most 999,999,999)",
        )
    ]


@pytest.mark.parametrize(
    ("dtype", "largest"),
    [
        (pl.Decimal(18, 2), "99999999.99"),
        (pl.Decimal(12, 1), "99999999.9"),
        (pl.Decimal(38, 4), "99999999.9900"),
        (pl.Int64, "99999999"),
    ],
    ids=str,
)
def test_the_largest_amount_is_accepted_from_parquet_as_from_text(
    tmp_path: Path, dtype: pl.DataType, largest: str
) -> None:
    """SPEC 6's largest amount is 99,999,999.99, and text is read so. A Parquet decimal of
    99,999,999.01 to .99 was refused as "too large (at most 99,999,999.99)": its whole units
    were compared with 99,999,999 as if they were the amount. One more whole unit is refused,
    from text and from Parquet alike."""
    beyond = str(int(Decimal(largest)) + 1)
    amounts = pl.Series([D(largest), D(beyond)], dtype=pl.Decimal(38, 4)).cast(dtype)
    payments = pl.DataFrame(
        {
            "payment_id": ["31", "32"],
            "customer_id": ["11", "11"],
            "paid_on": [dt.date(2024, 6, 1)] * 2,
            "amount": amounts,
            "kind": ["recurring", "recurring"],
        }
    )
    native = _one_table(tmp_path / "parquet", "payments", payments)
    written = pl.Series([largest.removesuffix("00"), beyond])  # as text, at most 2 places
    text = _one_table(tmp_path / "text", "payments", payments.with_columns(amount=written))
    for table in text.glob("*.parquet"):  # the same exports as CSV
        pl.read_parquet(table).write_csv(
            table.with_suffix(".csv"), datetime_format="%Y-%m-%d %H:%M"
        )
        table.unlink()
    too_large = "too large for an amount of money (at most 99,999,999.99)"
    assert _rejected(native) == [("payments.parquet", 2, "amount", too_large)]
    assert _rejected(text) == [("payments.csv", 3, "amount", too_large)]  # line 1: header


def test_a_blank_customer_reference_in_parquet_is_missing(tmp_path: Path) -> None:
    """A Parquet text customer_id of "" or spaces is missing, as an empty CSV field is; it was
    named "customer '' is not in the customers file"."""
    payments = pl.DataFrame(
        {
            "payment_id": ["31", "32"],
            "customer_id": ["", "  "],
            "paid_on": [dt.date(2024, 6, 1)] * 2,
            "amount": pl.Series([D(40), D(9)], dtype=pl.Decimal(18, 2)),
            "kind": ["recurring", "recurring"],
        }
    )
    missing = "customer_id is missing; it is required"
    assert _rejected(_one_table(tmp_path / "in", "payments", payments)) == [
        ("payments.parquet", 1, "customer_id", missing),
        ("payments.parquet", 2, "customer_id", missing),
    ]


def test_an_implausible_parquet_date_is_the_rows_only_reason(tmp_path: Path) -> None:
    """A Parquet purchase_date of 2124-08-01 is implausible, and that is all the row is blamed
    for, as in CSV: the end_date check no longer compares with the refused date."""
    agreements = pl.DataFrame(
        {
            "agreement_id": ["21"],
            "customer_id": ["11"],
            "purchase_date": [dt.date(2124, 8, 1)],
            "status": ["inactive"],
            "end_date": [dt.date(2023, 3, 31)],
        }
    )
    [(file, line, column, reason)] = _rejected(
        _one_table(tmp_path / "in", "agreements", agreements)
    )
    assert (file, line, column) == ("agreements.parquet", 1, "purchase_date")
    assert reason.startswith("implausible date 2124-08-01")


NUL_REASON = "holds a zero byte (NUL) at character {}"


@pytest.mark.parametrize(
    ("table", "column", "written", "at"),
    [
        ("customers", "name", "Lucy\x00Park", 5),
        ("customers", "origin", "we\x00b", 3),
        ("customers", "customer_id", "12\x00", 3),
        ("payments", "customer_id", "\x0011", 1),
        ("payments", "payment_id", "3\x002", 2),
        ("payments", "kind", "one-off\x00", 8),
        # Characters, not bytes: ë and Å are two bytes each (it said 12).
        ("customers", "name", "Zoë Ådams\x00", 10),
    ],
)
def test_a_zero_byte_in_parquet_text_rejects_the_row_as_in_csv(
    tmp_path: Path, table: str, column: str, written: str, at: int
) -> None:
    """A NUL in a Parquet text value went into the output (exit 0, a raw zero byte in the
    CSV), where the same row in CSV is rejected: NUL is never text (docs/decisions.md). The
    row is rejected, naming the column and the character; the value is shown as \\x00."""
    frame = pl.DataFrame(BASE[table]).with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit(written))
        .otherwise(pl.col(column))
        .alias(column)
    )
    folder = _one_table(tmp_path / "in", table, frame)
    outcome = _outcome(folder, table)
    assert not isinstance(outcome, str), outcome
    output, rejects = outcome
    own = [r for r in rejects if r[0] == f"{table}.parquet" and r[3] == column]
    assert [(line, value) for _f, line, _id, _c, value, _r in own] == [
        (2, written.replace("\x00", "\\x00"))
    ]
    assert own[0][5].startswith(NUL_REASON.format(at))
    assert not any("\x00" in str(v) for row in output.iter_rows() for v in row)
    assert not any("\x00" in str(v) for row in rejects for v in row)


def _in_zone(path: Path, zone: str) -> None:
    """Relabel the Parquet file's `Israel` time zone (six letters) as `zone` (six too): Polars
    writes no zone it does not know, but pandas writes `+05:30`. The zone is only in the
    Arrow schema stored in the footer (base64), so the same length keeps the file whole."""
    import base64

    data = path.read_bytes()
    start = data.index(b"ARROW:schema")
    found = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}").search(data, start + len(b"ARROW:schema"))
    assert found is not None and len(zone) == len("Israel")
    schema = base64.b64decode(found.group(0))
    assert b"Israel" in schema
    patched = base64.b64encode(schema.replace(b"Israel", zone.encode()))
    path.write_bytes(data[: found.start()] + patched + data[found.end() :])


def _zoned(column: str, wall: pl.Expr, minutes: int) -> pl.Expr:
    """`wall` (naive) as the instant whose wall time it is at `minutes` east of UTC, labelled
    with a zone to relabel (`_in_zone`)."""
    instant = wall.dt.replace_time_zone("UTC") - pl.duration(minutes=minutes)
    return instant.dt.convert_time_zone("Israel").alias(column)


@pytest.mark.parametrize(("zone", "minutes"), [("+05:30", 330), ("-03:30", -210), ("+05:45", 345)])
def test_a_timestamp_in_an_offset_polars_does_not_know_reads_as_its_wall_time(
    tmp_path: Path, zone: str, minutes: int
) -> None:
    """pandas writes fixed offsets such as +05:30, which Polars' zone database lacks: reading
    the schema made Polars panic (exit 3, "not a readable Parquet file", the column unnamed),
    even for a column the run ignores. starts_at is read as its wall time, as a zone Polars
    knows is, and an extra column in such a zone is ignored: the output is the same as with
    the wall times written without a zone."""
    events = pl.DataFrame(BASE["events"])
    plain = _one_table(tmp_path / "plain", "events", events)
    zoned = events.with_columns(_zoned("starts_at", pl.col("starts_at"), minutes))
    folder = _one_table(tmp_path / "zoned", "events", zoned)
    _in_zone(folder / "events.parquet", zone)
    customers = pl.DataFrame(BASE["customers"]).with_columns(
        _zoned("updated_at", pl.lit(dt.datetime(2024, 7, 1, 9)), minutes)
    )
    customers.write_parquet(folder / "customers.parquet")
    _in_zone(folder / "customers.parquet", zone)
    assert pl.read_parquet_schema(folder / "events.parquet")["starts_at"].time_zone == zone
    got, expected = _outcome(folder, "events"), _outcome(plain, "events")
    assert not isinstance(got, str), got
    assert not isinstance(expected, str), expected
    assert_frame_equal(got[0], expected[0])
    assert got[1] == expected[1]


@pytest.mark.parametrize("name", ["starts_at", "Starts At"])
def test_a_zone_that_is_no_offset_nor_known_is_refused_naming_the_column(
    tmp_path: Path, name: str
) -> None:
    """Refused in a column the run reads, however the header writes its name (`Starts At`
    is starts_at: it was read as UTC wall time, exit 0)."""
    events = pl.DataFrame(BASE["events"]).with_columns(_zoned("starts_at", pl.col("starts_at"), 0))
    folder = _one_table(tmp_path / "in", "events", events.rename({"starts_at": name}))
    _in_zone(folder / "events.parquet", "Mars/X")
    outcome = _outcome(folder, "events")
    assert outcome == (
        f"events.parquet: column {name} is stored in the time zone 'Mars/X', which is neither "
        "a zone name nor an offset such as +05:30; re-export it in UTC or without a time zone"
    )
