"""--carry of values an output cannot write (issue 18): carried as empty, or cut, with one
warning per column, and a damaged carried column is said as any damaged export is; never
"internal error".

Carried columns are copied, not validated (SPEC 9), so before this a Parquet customers file
whose carried column held a date or timestamp beyond years 1-9999 made Polars' CSV and JSON
writers panic ("out-of-range date") and the workbook fail; NaN, infinity and a timestamp with
a time zone failed the workbook (xlsxwriter refuses them), and xlsxwriter cut a text over an
Excel cell's 32,767 characters without a word. The exports are the sample's, with customers as
Parquet and one extra column.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from tests.conftest import SAMPLE

DAY = "2024-07-31"
PEOPLE = 18  # the sample's people in the output (its customers file has 19 rows)
FORMATS = ["csv", "xlsx", "jsonl", "parquet"]
MODES = [pytest.param((), id="one-pass"), pytest.param(("--buckets", "2"), id="buckets")]


def _customers() -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "customers.csv", infer_schema=False).with_columns(
        pl.col("created_on").str.to_date()
    )


def _exports(folder: Path, extra: Callable[[int], pl.Series] | None = None) -> Path:
    """The sample exports with customers as Parquet and the column `extra(rows)` added."""
    shutil.copytree(SAMPLE, folder)
    (folder / "customers.csv").unlink()
    customers = _customers()
    if extra is not None:
        customers = customers.with_columns(extra(customers.height).alias("extra"))
    customers.write_parquet(folder / "customers.parquet")
    return folder


def _run(invoke: Any, data: Path, out: Path, *options: str) -> Any:
    result = invoke(
        "reconcile", "--data", str(data), "--as-of", DAY, "--carry", "extra", "-o", str(out)
    )
    for said in ("internal error", "Traceback", "PanicException"):
        assert said not in result.stderr, result.stderr
    return result


def _carried(out: Path) -> list[Any]:
    """The output's `extra` column, in the customers file's order, read back from any format."""
    if out.suffix == ".xlsx":
        values: list[Any] = []
        for sheet in openpyxl.load_workbook(out).worksheets[1:]:
            if sheet.title.startswith("Owing - "):
                continue  # the money call lists repeat people already on a follow-up list
            rows = list(sheet.iter_rows(values_only=True))
            at = rows[0].index("Extra")  # the workbook's headers are words (issue 22)
            values += [(row[0], row[at]) for row in rows[1:]]
        return [value for _, value in sorted(values, key=lambda pair: int(pair[0][2:]))]
    if out.suffix == ".csv":
        return pl.read_csv(out, infer_schema=False).get_column("extra").to_list()
    if out.suffix == ".jsonl":
        return [json.loads(line)["extra"] for line in out.read_text().splitlines()]
    return pl.read_parquet(out).get_column("extra").to_list()


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "column extra" in line]


def _days(days: list[int]) -> Callable[[int], pl.Series]:
    """A Date column storing these numbers of days, the last one repeated to fill the rows."""
    return lambda rows: pl.Series((days + [days[-1]] * rows)[:rows], dtype=pl.Int32).cast(pl.Date)


# --- dates and timestamps beyond years 1-9999 ----------------------------------------------


@pytest.mark.filterwarnings("ignore:Cell .* is marked as a date:UserWarning")  # 0001-01-01
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_carried_date_beyond_the_calendar_is_carried_empty_with_a_warning(
    invoke: Any, tmp_path: Path, fmt: str
) -> None:
    """2,147,483,647 days (the largest int32) on line 2, the calendar's first and last days
    after it, real dates elsewhere: the run goes on, that one cell is empty in every format,
    the edges are carried, and one warning names the column and the count."""
    first, last, new_year = -719_162, 2_932_896, 19_723  # days from 1970-01-01
    data = _exports(tmp_path / "d", _days([2**31 - 1, first, last, new_year]))
    out = tmp_path / f"out.{fmt}"
    result = _run(invoke, data, out)
    assert result.exit_code == 0, result.output
    values = _carried(out)
    assert values[0] in (None, "")
    # (A workbook holds no date before 1900: its 0001-01-01 is a negative day, Excel's ####.)
    edges = [str(v)[:10].rjust(10, "0") for v in values[1:3]]
    assert edges[fmt == "xlsx" :] == ["0001-01-01", "9999-12-31"][fmt == "xlsx" :]
    assert {str(v)[:10] for v in values[3:]} == {"2024-01-01"}
    assert _warnings(result.stderr) == [
        "warning: customers.parquet: column extra holds 1 date beyond years 1-9999, "
        "carried as empty"
    ]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("stored", "unit"),
    [
        pytest.param(9_404_456_908_800_000, "ms", id="year-300000-ms"),
        pytest.param(-(2**62), "us", id="year-minus-144169-us"),
        pytest.param(2**62, "ms", id="2**62-ms"),
    ],
)
def test_a_carried_timestamp_beyond_the_calendar_is_carried_empty(
    invoke: Any, tmp_path: Path, fmt: str, stored: int, unit: str
) -> None:
    def extra(rows: int) -> pl.Series:
        return pl.Series([stored] * rows, dtype=pl.Int64).cast(pl.Datetime(unit))  # type: ignore[arg-type]

    data = _exports(tmp_path / "d", extra)
    out = tmp_path / f"out.{fmt}"
    result = _run(invoke, data, out)
    assert result.exit_code == 0, result.output
    assert all(value in (None, "") for value in _carried(out))
    assert _warnings(result.stderr) == [
        f"warning: customers.parquet: column extra holds {PEOPLE} timestamps beyond years "
        "1-9999, carried as empty"
    ]


# --- what a workbook cannot hold ------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_nan_and_infinity_are_carried_empty(invoke: Any, tmp_path: Path, fmt: str) -> None:
    """A workbook refused them (xlsxwriter: 'NAN/INF not supported'): empty in every format,
    as JSON Lines wrote them already."""

    def extra(rows: int) -> pl.Series:
        return pl.Series([float("nan"), float("inf"), float("-inf")] + [1.5] * (rows - 3))

    out = tmp_path / f"out.{fmt}"
    result = _run(invoke, _exports(tmp_path / "d", extra), out)
    assert result.exit_code == 0, result.output
    values = _carried(out)
    assert all(value in (None, "") for value in values[:3])
    assert {str(value) for value in values[3:]} == {"1.5"}
    assert _warnings(result.stderr) == [
        "warning: customers.parquet: column extra holds 3 NaN or infinite values, carried as empty"
    ]


def test_a_timestamp_with_a_time_zone_is_the_local_time_in_a_workbook(
    invoke: Any, tmp_path: Path
) -> None:
    """Excel has no time zones (xlsxwriter refused the value): the clock time there."""
    noon = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)

    def extra(rows: int) -> pl.Series:
        return pl.Series([noon] * rows).dt.convert_time_zone("Europe/Paris")

    out = tmp_path / "out.xlsx"
    result = _run(invoke, _exports(tmp_path / "d", extra), out)
    assert result.exit_code == 0, result.output
    assert set(_carried(out)) == {dt.datetime(2024, 1, 1, 13)}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_text_longer_than_a_cell_is_cut_with_a_warning(
    invoke: Any, tmp_path: Path, fmt: str
) -> None:
    """100,000 characters: cut to Excel's 32,767 in every format (xlsxwriter cut it silently
    in a workbook only), and said."""

    def extra(rows: int) -> pl.Series:
        return pl.Series(["x" * 100_000, "  short  "] + [None] * (rows - 2), dtype=pl.String)

    out = tmp_path / f"out.{fmt}"
    result = _run(invoke, _exports(tmp_path / "d", extra), out)
    assert result.exit_code == 0, result.output
    values = _carried(out)
    assert values[0] == "x" * 32_767
    assert values[1] == "short"
    assert _warnings(result.stderr) == [
        "warning: customers.parquet: column extra holds 1 text longer than 32,767 characters, "
        "carried cut to 32,767 (the most an Excel cell holds)"
    ]


# --- a damaged carried column ---------------------------------------------------------------


def _damaged_note(folder: Path) -> Path:
    """The sample exports with customers as Parquet holding a `note` column whose page says a
    value is 2 GiB long: the run's own columns read well, the note column cannot be read."""
    data = _exports(folder)
    customers = _customers().with_columns(
        note=pl.format("note {} for the desk", pl.int_range(pl.len()))
    )
    buffer = io.BytesIO()
    customers.write_parquet(buffer, compression="uncompressed")
    body = bytearray(buffer.getvalue())
    at = body.find(b"note 5 for the desk")
    body[at - 4 : at] = (2**31 - 1).to_bytes(4, "little")  # PLAIN: a length, then the bytes
    (data / "customers.parquet").write_bytes(bytes(body))
    # The premise: the contract's columns read, the note column does not.
    contract = [name for name in customers.columns if name != "note"]
    assert pl.read_parquet(bytes(body), columns=contract).height == customers.height
    with pytest.raises((pl.exceptions.PolarsError, pl.exceptions.PanicException)):
        pl.read_parquet(bytes(body), columns=["note"])
    return data


@pytest.mark.parametrize("options", MODES)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_damaged_carried_column_names_the_file(
    invoke: Any, tmp_path: Path, fmt: str, options: tuple[str, ...]
) -> None:
    data = _damaged_note(tmp_path / "d")
    out = tmp_path / f"out.{fmt}"
    result = invoke(
        "reconcile", "--data", str(data), "--as-of", DAY, "--carry", "note", "-o", str(out),
        "-q", *options,
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    said = result.stderr.strip()
    assert said.startswith("followup: error: customers.parquet: cannot be read ("), said
    assert said.endswith("); re-export it"), said
    assert len(said.splitlines()) == 1
    assert "internal error" not in said
    assert not out.exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_carried_text_with_a_zero_byte_is_carried_empty(
    invoke: Any, tmp_path: Path, fmt: str
) -> None:
    """A NUL in a carried Parquet text went into the output as a raw zero byte (a workbook's
    XML cannot hold one), where the same value in a CSV export rejects its row: carried as
    empty in every format, said once."""

    def extra(rows: int) -> pl.Series:
        return pl.Series(["555\x00123", "  \x00 ", "555-0100"] + ["ok"] * (rows - 3))

    out = tmp_path / f"out.{fmt}"
    result = _run(invoke, _exports(tmp_path / "d", extra), out)
    assert result.exit_code == 0, result.output
    values = _carried(out)
    assert values[:2] in ([None, None], ["", ""])
    assert values[2:] == ["555-0100"] + ["ok"] * (len(values) - 3)
    assert fmt in ("parquet", "xlsx") or b"\x00" not in out.read_bytes()  # binary formats
    assert _warnings(result.stderr) == [
        "warning: customers.parquet: column extra holds 2 values with a zero byte (NUL), "
        "which is never text; carried as empty"
    ]


def _named_like_patterns(folder: Path, fmt: str) -> Path:
    """The sample with customers columns named `*`, `^x1$` and `x1` (what the pattern `^x1$`
    would select), and `a` twice beside a column of its own named `a_duplicated_0`."""
    shutil.copytree(SAMPLE, folder)
    customers = _customers().with_columns(
        pl.format("star-{}", pl.int_range(pl.len())).alias("*"),
        pl.format("caret-{}", pl.int_range(pl.len())).alias("^x1$"),
        pl.lit("decoy").alias("x1"),
    )
    if fmt == "parquet":
        (folder / "customers.csv").unlink()
        customers.write_parquet(folder / "customers.parquet")
        return folder
    text = customers.with_columns(pl.col("created_on").cast(pl.String)).write_csv()
    lines = text.splitlines()
    lines = [lines[0] + ",a,a,a_duplicated_0"] + [f"{line},p,q,r" for line in lines[1:]]
    (folder / "customers.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("source", ["csv", "parquet"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_columns_named_like_patterns_are_carried_sorted_and_split(
    invoke: Any, tmp_path: Path, source: str, fmt: str
) -> None:
    """`--carry '*'` and `--carry '^x1$'` stopped the run with an internal error (Polars read
    the names as patterns: every column, or the column x1); so did a header `a,a,a_duplicated_0`
    (two columns named `a_duplicated_0`). Each is a column like any other: carried, sorted by
    and split by, in every output format."""
    data = _named_like_patterns(tmp_path / "data", source)
    out = tmp_path / f"out.{fmt}"
    result = invoke(
        "reconcile", "--data", str(data), "--as-of", DAY, "-o", str(out),
        "--carry", "*,^x1$", "--sort", "^x1$:desc",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    if fmt == "csv":
        frame = pl.read_csv(out, infer_schema=False)
        assert frame.columns[-2:] == ["*", "^x1$"]
        # The sample's first customer (row 0) is on the list; sorted descending, caret-9 first.
        assert frame.get_column("^x1$").to_list()[0] == "caret-9"
        assert "decoy" not in out.read_text()
    split = tmp_path / "split"
    split.mkdir()
    result = invoke(
        "reconcile", "--data", str(data), "--as-of", DAY, "-o", str(split / f"l.{fmt}"),
        "--split-by", "^x1$",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(list(split.glob("l-caret-*"))) == PEOPLE


def test_a_header_repeating_a_name_beside_its_duplicate_name_is_read(
    invoke: Any, tmp_path: Path
) -> None:
    """`a,a,a_duplicated_0`: the second `a` is `a_duplicated_1`, and each can be carried."""
    data = _named_like_patterns(tmp_path / "data", "csv")
    out = tmp_path / "out.csv"
    result = invoke(
        "reconcile", "--data", str(data), "--as-of", DAY, "-o", str(out),
        "--carry", "a,a_duplicated_0,a_duplicated_1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "ignored column(s) not in the contract: " in result.stderr
    assert "'a', 'a_duplicated_1', 'a_duplicated_0'" in result.stderr
    frame = pl.read_csv(out, infer_schema=False)
    assert frame.select("a", "a_duplicated_0", "a_duplicated_1").row(0) == ("p", "r", "q")


def test_a_carry_refusal_on_a_wide_header_names_a_few_columns(invoke: Any, tmp_path: Path) -> None:
    """A --carry of a column the file lacks named every column there (1.7 MB on a header of
    200,000): now the first 20 and how many more."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    lines = (SAMPLE / "customers.csv").read_text().splitlines()
    extra = 5_000
    lines = [lines[0] + "".join(f",x{i}" for i in range(extra))] + [
        line + "," * extra for line in lines[1:]
    ]
    (data / "customers.csv").write_text("\n".join(lines) + "\n")
    for option in ("--carry", "--split-by"):
        result = invoke(
            "reconcile", "--data", str(data), "--as-of", DAY, "-o", str(tmp_path / "o.csv"),
            option, "nosuch",
        )  # fmt: skip
        assert result.exit_code == 2, result.stderr
        message = " ".join(result.stderr.split())
        assert f"{option} nosuch: customers.csv has no such column (its columns: customer_id," in (
            message
        )
        assert "'x13'" not in message and "x13 and 4,986 more)" in message
        assert len(message) < 1_000
