"""Finding and reading the exports (SPEC 2): one raw frame per table, every value kept as read.

CSV columns arrive as text and Parquet columns with their native types; `validation` turns both
into typed frames. Every row keeps `_line`: the physical line of a CSV file (header = line 1) or
the 1-based row number of a Parquet file, so a rejected value can be found in the export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.csv_reader import make_room_for_line, read_csv
from followup_cli.errors import InputFileError
from followup_cli.formats import EXPORT_EXTENSIONS
from followup_cli.schema import LINE, REJECT_SCHEMA, Table, normalise_name


@dataclass
class RawTable:
    """One table as read: the file it came from, its rows, and rows that could not be split.

    `frame` is lazy: a Parquet file is scanned, not loaded, so validation streams through it;
    a CSV file has been split in memory already (see `_read_csv`).
    """

    table: Table
    path: Path | None  # None: run `--without` this table, which counts as empty
    format: str
    frame: pl.LazyFrame
    schema: dict[str, pl.DataType]  # the frame's columns (spec names) and their types
    rows: int  # rows in `frame`
    structural_rejects: pl.DataFrame  # rows whose field count does not match the header
    header: tuple[str, ...] = ()  # the file's column names as written, in order
    # Columns beyond the contract, named as in the file (a repeated name gets Polars'
    # `_duplicated_N` suffix): ignored by the rules, named in the summary and the run report.
    unknown_columns: tuple[str, ...] = ()
    # Those columns' values as read, with `_line`, for carrying them into the output.
    unknown_frame: pl.LazyFrame | None = None

    @property
    def file_label(self) -> str:
        return self.path.name if self.path else f"{self.table.name} (--without)"

    @property
    def rows_read(self) -> int:
        return self.rows + self.structural_rejects.height


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def read_table(table: Table, path: Path | None) -> RawTable:
    """Read one table's file, or an empty frame for a table run `--without`."""
    if path is None:
        frame = pl.DataFrame(schema={LINE: pl.Int64, **{c.name: pl.String for c in table.columns}})
        return _raw(table, None, "csv", frame.lazy(), 0, empty_rejects())
    fmt = EXPORT_EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(
            f"{path}: unknown file type {path.suffix!r}; exports must end in .csv or .parquet"
        )
    if fmt == "parquet":
        scan, rows = _scan_parquet(path)
        return _raw(table, path, fmt, scan, rows, empty_rejects())
    frame, structural = read_csv(path, table.key.name)
    header = tuple(c for c in frame.columns if c != LINE)
    return _raw(table, path, fmt, frame.lazy(), frame.height, structural, header)


def _raw(
    table: Table,
    path: Path | None,
    fmt: str,
    frame: pl.LazyFrame,
    rows: int,
    structural: pl.DataFrame,
    header: tuple[str, ...] = (),
) -> RawTable:
    if path is None:
        return RawTable(table, None, fmt, frame, dict(frame.collect_schema()), rows, structural)
    selected, unknown = _select_columns(table, path, frame)
    return RawTable(
        table,
        path,
        fmt,
        selected,
        dict(selected.collect_schema()),
        rows,
        structural,
        header,
        unknown_columns=tuple(unknown),
        unknown_frame=_by_position(frame, [LINE, *unknown]),
    )


def _select_columns(
    table: Table, path: Path, frame: pl.LazyFrame
) -> tuple[pl.LazyFrame, list[str]]:
    """Match header names after normalising them, add absent optional columns as empty, and
    refuse the file if a required column is missing or named twice.

    Returns the contract columns and the names of the others (as in the file), which the
    rules ignore but a person is told about.
    """
    names = frame.collect_schema().names()
    by_name: dict[str, str] = {}
    unknown: list[str] = []
    for original in names:
        if original == LINE:
            continue
        normal = normalise_name(original)
        # Polars renames a repeated header name "x" to "x_duplicated_0": the same clash.
        repeated = re.fullmatch(r"(.*)_duplicated_[0-9]+", normal)
        if repeated and normalise_name(repeated.group(1)) in table.column_names:
            normal = normalise_name(repeated.group(1))
        if normal not in table.column_names:
            unknown.append(original)
            continue
        if normal in by_name:
            raise InputFileError(
                f"{path.name}: the header names column {normal!r} twice "
                f"({by_name[normal]!r} and {original!r}); keep one"
            )
        by_name[normal] = original
    missing = [c.name for c in table.columns if c.required and c.name not in by_name]
    if missing:
        has = ", ".join(repr(c) for c in names if c != LINE) or "no columns"
        raise InputFileError(
            f"{path.name}: required column {', '.join(missing)} is missing "
            f"(line 1 has {has}); add it to the export"
        )
    selected = [pl.col(LINE)]
    for column in table.columns:
        if column.name in by_name:
            selected.append(_column(names, by_name[column.name]).alias(column.name))
        else:
            # Null, not text: an absent optional column is empty whatever its type would be.
            selected.append(pl.lit(None, dtype=pl.Null).alias(column.name))
    return frame.select(selected), unknown


def _scan_parquet(path: Path) -> tuple[pl.LazyFrame, int]:
    """The file as a lazy scan with 1-based row numbers, and its row count (from metadata)."""
    try:
        rows = int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except Exception as exc:  # polars raises several unrelated types for a bad file
        raise InputFileError(
            f"{path.name}: not a readable Parquet file ({_first_line(exc)}); re-export it"
        ) from exc
    return make_room_for_line(pl.scan_parquet(path)).with_row_index(LINE, offset=1).with_columns(
        pl.col(LINE).cast(pl.Int64)
    ), rows


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _column(names: list[str], name: str) -> pl.Expr:
    """A column by its position: a header name such as `*` or `^a$` is not a pattern here."""
    return pl.nth(names.index(name))


def _by_position(frame: pl.LazyFrame, wanted: list[str]) -> pl.LazyFrame:
    names = frame.collect_schema().names()
    return frame.select(_column(names, name).alias(name) for name in wanted)
