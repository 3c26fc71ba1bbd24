"""Damaged Parquet exports (SPEC 6): one sentence naming the file, or a rejected row naming file,
line and column; never "internal error", in one pass and in buckets alike.

Polars answers some damage with a panic in its native code (pyo3's PanicException, which is a
BaseException, not a PolarsError): a data page whose lengths disagree, or a date column holding
a number of days no calendar has (a page overwritten in one spot, or a number exported as a
date), which panicked with "out-of-range date" when it was compared, shown or handed to Python.
The exports here are made in the test: the generator's 2,000 people, with bytes flipped at
offsets a fuzzing run found, or with a value out of the calendar written on purpose.
"""

from __future__ import annotations

import functools
import struct
import tempfile
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from followup_cli.cli.main import app
from followup_cli.core.schema import TABLE_NAMES
from followup_cli.reading.loading import read_failure
from followup_cli.synthetic.generate import generate

AS_OF = "2024-07-31"
MODES = [pytest.param((), id="one-pass"), pytest.param(("--buckets", "3"), id="buckets")]


@functools.cache
def exports() -> dict[str, bytes]:
    """The generator's 2,000 people as Parquet, the size at which the damage was found."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(2000, Path(tmp), seed=0, fmt="parquet")
        return {name: (Path(tmp) / f"{name}.parquet").read_bytes() for name in TABLE_NAMES}


def folder(tmp_path: Path, **replaced: bytes) -> Path:
    """The clean exports, with the named tables' bytes replaced."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for name, body in {**exports(), **replaced}.items():
        (data / f"{name}.parquet").write_bytes(body)
    return data


def reconcile(data: Path, out: Path, options: tuple[str, ...]) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["reconcile", "--data", str(data), "--as-of", AS_OF, "-q", "-o", str(out), *options]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for said in ("internal error", "Traceback", "PanicException", "panicked"):
        assert said not in result.stderr, result.stderr
    return result.exit_code, result.stderr.strip()


def rejects(out: Path) -> list[tuple[str, str, str, str, str]]:
    """(file, line, column, value, reason) of every rejects row."""
    frame = pl.read_csv(out.with_name(f"{out.stem}-rejects.csv"), infer_schema=False)
    return [(f, n, c, v, r) for f, n, _, c, v, r in frame.iter_rows()]


def with_value(table: str, column: str, line: int, stored: int, dtype: pl.DataType) -> bytes:
    """`table` as Parquet with the value at `line` (1-based row) of `column` replaced by the
    number `stored` (days, or the timestamp's units since 1970), in type `dtype`."""
    frame = pl.read_parquet(exports()[table])
    numbers = frame.get_column(column).cast(dtype).to_physical()
    numbers[line - 1] = stored
    path = Path(tempfile.mkdtemp()) / f"{table}.parquet"
    frame.with_columns(numbers.cast(dtype).alias(column)).write_parquet(path)
    return path.read_bytes()


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar, any year (Python's
    dates stop at 9999)."""
    year -= month <= 2
    era = year // 400
    of_era = year - era * 400
    of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719468


def eighth_date(body: bytes) -> int | None:
    """The number stored for line 8's paid_on, or None if those bytes were not a date's."""
    try:
        return int(pl.read_parquet(body).get_column("paid_on").to_physical()[7])
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return None


# --- pages whose lengths disagree: Polars' reader panics -----------------------------------

# One byte flipped (XOR 0xFF) inside a data page; found by flipping every 97th byte of each file.
PANICKING_PAGES = [("customers", 6499), ("customers", 9506), ("payments", 51507)]


def flipped(table: str, offset: int) -> bytes:
    body = bytearray(exports()[table])
    body[offset] ^= 0xFF
    return bytes(body)


@pytest.mark.parametrize("options", MODES)
@pytest.mark.parametrize(("table", "offset"), PANICKING_PAGES)
def test_a_page_that_makes_the_reader_panic_names_the_file(
    tmp_path: Path, table: str, offset: int, options: tuple[str, ...]
) -> None:
    damaged = flipped(table, offset)
    # The premise: this damage is one Polars' reader panics on (not one it reports as an error).
    with pytest.raises(pl.exceptions.PanicException):
        pl.read_parquet(damaged)
    code, stderr = reconcile(folder(tmp_path, **{table: damaged}), tmp_path / "o.csv", options)
    assert code == 3, stderr
    assert stderr.startswith(
        f"followup: error: {table}.parquet: cannot be read (the Parquet reader stopped: "
    ), stderr
    assert stderr.endswith("); re-export it"), stderr
    assert len(stderr.splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


def test_a_panic_is_said_by_its_innermost_message() -> None:
    """A reader task's panic reaches Python wrapped by each task that waited for it."""
    inner = "assertion `left == right` failed\\n  left: 18979\\n right: 18984"
    wrapped = (
        "called `Result::unwrap()` on an `Err` value: JoinError::Panic(Id(63), "
        '"called `Result::unwrap()` on an `Err` value: JoinError::Panic(Id(62), '
        f'\\"{inner.replace(chr(92), chr(92) * 2)}\\", ...)", ...)'
    )
    said = read_failure(pl.exceptions.PanicException(wrapped))
    assert said == "the Parquet reader stopped: assertion `left == right` failed"


# --- dates beyond the calendar: a rejected row, not a panic --------------------------------

BEYOND = [
    pytest.param(2**31 - 1, "after 9999-12-31", id="largest-int32"),
    pytest.param(-(2**31), "before 0001-01-01", id="smallest-int32"),
    pytest.param(100_000_000, "after 9999-12-31", id="beyond-polars-calendar"),
    pytest.param(3_000_000, "after 9999-12-31", id="beyond-python-calendar"),
]


@pytest.mark.parametrize("options", MODES)
@pytest.mark.parametrize(("days", "where"), BEYOND)
def test_a_payment_date_beyond_the_calendar_is_a_rejected_row(
    tmp_path: Path, days: int, where: str, options: tuple[str, ...]
) -> None:
    payments = with_value("payments", "paid_on", 6, days, pl.Date())
    out = tmp_path / "o.csv"
    code, stderr = reconcile(folder(tmp_path, payments=payments), out, options)
    assert code == 1, stderr
    value = f"{days} days from 1970-01-01"
    shown = f"'{value}" if value.startswith("-") else value  # the rejects file's formula guard
    assert rejects(out) == [
        (
            "payments.parquet",
            "6",
            "paid_on",
            shown,
            f"implausible date {value}: {where}, beyond the calendar; a damaged export?",
        )
    ]


@pytest.mark.parametrize("options", MODES)
def test_a_customer_created_beyond_the_calendar_is_a_rejected_row(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    customers = with_value("customers", "created_on", 6, 2**31 - 1, pl.Date())
    out = tmp_path / "o.csv"
    code, stderr = reconcile(folder(tmp_path, customers=customers), out, options)
    assert code == 1, stderr
    first = rejects(out)[0]
    assert first[:3] == ("customers.parquet", "6", "created_on")
    assert first[4].startswith("implausible date 2147483647 days from 1970-01-01: after ")


@pytest.mark.parametrize("options", MODES)
@pytest.mark.parametrize(
    ("stored", "where"),
    [
        pytest.param(days_from_civil(300000, 1, 1) * 86_400_000, "after", id="year-300000"),
        pytest.param(-days_from_civil(300000, 1, 1) * 86_400_000, "before", id="year-minus-300000"),
        pytest.param(2**62, "after", id="2**62"),
    ],
)
def test_a_timestamp_beyond_the_calendar_is_a_rejected_row(
    tmp_path: Path, stored: int, where: str, options: tuple[str, ...]
) -> None:
    """Milliseconds reach past every calendar: Polars took year 300000 for no date at all
    (null, so not implausible) and panicked converting it to microseconds."""
    events = with_value("events", "starts_at", 6, stored, pl.Datetime("ms"))
    out = tmp_path / "o.csv"
    code, stderr = reconcile(folder(tmp_path, events=events), out, options)
    assert code == 1, stderr
    [(file, line, column, value, reason)] = rejects(out)
    assert (file, line, column) == ("events.parquet", "6", "starts_at")
    assert value.lstrip("'") == f"{stored} milliseconds from 1970-01-01"
    assert reason.startswith(f"implausible date {stored} milliseconds from 1970-01-01: {where} ")


@pytest.mark.parametrize(
    ("day", "where", "edge"),
    [
        pytest.param(days_from_civil(1, 1, 1), "before", "0001-01-02", id="first-day"),
        pytest.param(days_from_civil(9999, 12, 31), "after", "9999-12-30", id="last-day"),
    ],
)
def test_a_zoned_timestamp_on_the_calendars_first_or_last_day_is_beyond_it(
    tmp_path: Path, day: int, where: str, edge: str
) -> None:
    """A timestamp with a time zone keeps a day from either end of the calendar (its local
    time may fall a day further): 0001-01-01 12:00 UTC is refused as beyond the calendar,
    where the same time without a zone is only a placeholder date (test_native_types leaves
    these days out of its comparison with text for that reason)."""
    stored = day * 86_400_000 + 12 * 3_600_000
    events = with_value("events", "starts_at", 6, stored, pl.Datetime("ms", "UTC"))
    out = tmp_path / "o.csv"
    code, stderr = reconcile(folder(tmp_path, events=events), out, ())
    assert code == 1, stderr
    [(file, line, column, _value, reason)] = rejects(out)
    assert (file, line, column) == ("events.parquet", "6", "starts_at")
    assert reason == (
        f"implausible date {stored} milliseconds from 1970-01-01: {where} {edge}, "
        "beyond the calendar; a damaged export?"
    )


@pytest.mark.parametrize("options", MODES)
def test_statistics_that_lie_do_not_hide_a_date_beyond_the_calendar(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    """An uncompressed file whose page holds a date the footer's min/max never saw: the data
    page is overwritten in one spot, as a damaged export is, and the statistics stay."""
    marker = 12477  # 2004-02-29: a plausible date no other row of the file has
    frame = pl.read_parquet(exports()["payments"])
    days = frame.get_column("paid_on").to_physical()
    days[7] = marker
    path = tmp_path / "plain.parquet"
    frame.with_columns(days.cast(pl.Date).alias("paid_on")).write_parquet(
        path, compression="uncompressed", statistics=True
    )
    good = path.read_bytes()
    stored = struct.pack("<i", marker)
    for at in (i for i in range(len(good) - 3) if good[i : i + 4] == stored):
        body = bytearray(good)
        body[at : at + 4] = struct.pack("<i", 2**31 - 1)
        if eighth_date(bytes(body)) == 2**31 - 1:  # the page, not the footer's statistics
            break
    else:
        pytest.fail("the date's bytes were not found in the page")
    out = tmp_path / "o.csv"
    code, stderr = reconcile(folder(tmp_path, payments=bytes(body)), out, options)
    assert code == 1, stderr
    assert [r[:4] for r in rejects(out)] == [
        ("payments.parquet", "8", "paid_on", "2147483647 days from 1970-01-01")
    ]
