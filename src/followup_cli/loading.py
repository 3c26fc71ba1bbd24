"""Finding and reading the exports (SPEC 2): one raw frame per table, every value kept as read.

CSV columns arrive as text and Parquet columns with their native types; `validation` turns both
into typed frames. Every row keeps `_line`: the physical line of a CSV file (header = line 1) or
the 1-based row number of a Parquet file, so a rejected value can be found in the export.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.errors import InputFileError
from followup_cli.schema import TABLES, Table

LINE = "_line"
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
REJECT_COLUMNS = ("file", "line", "column", "value", "reason")
REJECT_SCHEMA = {
    "file": pl.String,
    "line": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "reason": pl.String,
}


@dataclass
class RawTable:
    """One table as read: the file it came from, its rows, and rows that could not be split."""

    table: Table
    path: Path | None  # None: the optional table is absent and counts as empty
    format: str
    frame: pl.DataFrame
    structural_rejects: pl.DataFrame  # rows whose field count does not match the header

    @property
    def file_label(self) -> str:
        return self.path.name if self.path else f"{self.table.name} (absent)"

    @property
    def rows_read(self) -> int:
        return self.frame.height + self.structural_rejects.height


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def locate_tables(data_dir: Path, overrides: Mapping[str, Path | None]) -> dict[str, Path | None]:
    """Which file holds each table: an explicit path, else `<table>.csv|.parquet` in data_dir."""
    explicit = {name: path for name, path in overrides.items() if path is not None}
    listing: list[Path] = []
    if len(explicit) < len(TABLES):
        if not data_dir.is_dir():
            raise InputFileError(
                f"{data_dir}: no such folder; pass --data with the folder holding the exports"
            )
        listing = sorted(p for p in data_dir.iterdir() if p.is_file())
    located: dict[str, Path | None] = {}
    for name, table in TABLES.items():
        if name in explicit:
            path = explicit[name]
            if not path.is_file():
                raise InputFileError(f"{path}: no such file (given for --{name})")
            located[name] = path
            continue
        found = [p for p in listing if p.stem.lower() == name and p.suffix.lower() in FORMATS]
        if len(found) > 1:
            names = " and ".join(p.name for p in found)
            raise InputFileError(
                f"{data_dir}: two files for the {name} table ({names}); keep one, "
                f"or name the one to use with --{name}"
            )
        if not found and table.required:
            raise InputFileError(
                f"{data_dir}: no {name} file (looked for {name}.csv and {name}.parquet); "
                f"export it there or pass --{name} PATH"
            )
        located[name] = found[0] if found else None
    return located


def read_table(table: Table, path: Path | None) -> RawTable:
    """Read one table's file, or an empty frame for an absent optional table."""
    if path is None:
        frame = pl.DataFrame(
            schema={LINE: pl.Int64, **{c.name: pl.String for c in table.columns}}
        )
        return RawTable(table, None, "csv", frame, empty_rejects())
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(
            f"{path}: unknown file type {path.suffix!r}; exports must end in .csv or .parquet"
        )
    if fmt == "parquet":
        frame = _read_parquet(path)
        return RawTable(table, path, fmt, _select_columns(table, path, frame), empty_rejects())
    frame, structural = _read_csv(path)
    return RawTable(table, path, fmt, _select_columns(table, path, frame), structural)


def _select_columns(table: Table, path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    """Match header names trimmed and case-insensitively, drop unknown ones, add absent optional
    columns as empty, and refuse the file if a required column is missing."""
    by_name: dict[str, str] = {}
    for original in frame.columns:
        if original == LINE:
            continue
        normal = original.strip().lower()
        if normal in by_name and normal in {c.name for c in table.columns}:
            raise InputFileError(
                f"{path.name}: the header names column {normal!r} twice "
                f"({by_name[normal]!r} and {original!r}); keep one"
            )
        by_name.setdefault(normal, original)
    missing = [c.name for c in table.columns if c.required and c.name not in by_name]
    if missing:
        has = ", ".join(repr(c) for c in frame.columns if c != LINE) or "no columns"
        raise InputFileError(
            f"{path.name}: required column {', '.join(missing)} is missing "
            f"(line 1 has {has}); add it to the export"
        )
    selected = [pl.col(LINE)]
    for column in table.columns:
        if column.name in by_name:
            selected.append(pl.col(by_name[column.name]).alias(column.name))
        else:
            selected.append(pl.lit(None, dtype=pl.String).alias(column.name))
    return frame.select(selected)


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several unrelated types for a bad file
        raise InputFileError(
            f"{path.name}: not a readable Parquet file ({_first_line(exc)}); re-export it"
        ) from exc
    return frame.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))


def _read_csv(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a CSV file into text columns with physical line numbers.

    Polars does the splitting. It fills a row that is short of fields with empty values without
    saying so, so the file is also read as raw lines and the fields of each line are counted:
    a row whose count differs from the header's is set aside, never silently padded. A quoted
    value that spans lines breaks the one-line-one-row match; such a file (rare) is split by
    Python's csv module instead, which also tracks where each row starts.
    """
    lines = _physical_lines(path)
    if lines.height == 0 or lines.item(0, "raw").strip() == "":
        raise InputFileError(
            f"{path.name}: the file is empty; line 1 must be a header row naming the columns"
        )
    if lines.select((pl.col("raw").str.count_matches('"', literal=True) % 2 == 1).any()).item():
        return _read_csv_slowly(path)
    try:
        frame = pl.read_csv(
            path,
            infer_schema=False,
            truncate_ragged_lines=True,
            encoding="utf8",
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return _read_csv_slowly(path)
    body = lines.slice(1)
    if frame.height != body.height:
        return _read_csv_slowly(path)
    width = len(frame.columns)
    counted = body.select(
        pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(LINE),
        pl.col("raw"),
        pl.col("raw").str.strip_chars().eq("").alias("blank"),
        (
            pl.col("raw").str.replace_all('"[^"]*"', "").str.count_matches(",", literal=True) + 1
        ).alias("fields"),
    )
    frame = frame.with_columns(counted.get_column(LINE)).filter(~counted.get_column("blank"))
    counted = counted.filter(~pl.col("blank"))
    ragged = counted.get_column("fields") != width
    structural = _ragged_rejects(path, counted.filter(ragged), width)
    return frame.filter(~ragged), structural


def _physical_lines(path: Path) -> pl.DataFrame:
    """The file's lines as one text column (no quoting: every newline ends a line)."""
    try:
        return pl.read_csv(
            path,
            has_header=False,
            separator="\x1f",
            quote_char=None,
            schema={"raw": pl.String},
            truncate_ragged_lines=True,
            empty_string_is_null=False,
            raise_if_empty=False,
            encoding="utf8",
        ).with_columns(pl.col("raw").fill_null("").str.strip_prefix("\ufeff"))
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            raise InputFileError(_not_utf8_message(path)) from exc
        raise InputFileError(f"{path.name}: cannot be read ({_first_line(exc)})") from exc
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc


def _read_csv_slowly(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Python's csv module for files polars cannot split line by line; not the main path."""
    csv.field_size_limit(sys.maxsize)
    text = path.read_bytes().decode("utf-8-sig", errors="strict")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    header = next(reader, [])
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in header]
    line_numbers: list[int] = []
    ragged: list[tuple[int, str, int]] = []
    previous_end = reader.line_num
    for record in reader:
        start = previous_end + 1
        previous_end = reader.line_num
        if not record or (len(record) == 1 and record[0].strip() == ""):
            continue
        if len(record) != width:
            ragged.append((start, ",".join(record), len(record)))
            continue
        line_numbers.append(start)
        for values, field in zip(columns, record, strict=True):
            values.append(field if field != "" else None)
    names = _unique_names(header)
    frame = pl.DataFrame(
        {LINE: line_numbers, **dict(zip(names, columns, strict=True))},
        schema={LINE: pl.Int64, **{n: pl.String for n in names}},
    )
    raw = pl.DataFrame(
        {
            LINE: [r[0] for r in ragged],
            "raw": [r[1] for r in ragged],
            "fields": [r[2] for r in ragged],
        },
        schema={LINE: pl.Int64, "raw": pl.String, "fields": pl.Int64},
    )
    return frame, _ragged_rejects(path, raw, width)


def _unique_names(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for name in header:
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}_duplicated_{count - 1}")
    return names


def _ragged_rejects(path: Path, ragged: pl.DataFrame, width: int) -> pl.DataFrame:
    return ragged.select(
        pl.lit(path.name).alias("file"),
        pl.col(LINE).alias("line"),
        pl.lit("*").alias("column"),
        pl.col("raw").str.slice(0, 200).alias("value"),
        pl.format(
            "row has {} fields but the header has {}; check for a missing or extra comma "
            "(a value with a comma must be in double quotes)",
            pl.col("fields"),
            pl.lit(width),
        ).alias("reason"),
    )


def _not_utf8_message(path: Path) -> str:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start : exc.start + 1].hex().upper()
        return (
            f"{path.name}: line {line} is not UTF-8 (byte 0x{byte}); re-export the file as "
            f"UTF-8 (in a spreadsheet: 'CSV UTF-8')"
        )
    return f"{path.name}: not valid UTF-8; re-export the file as UTF-8"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
