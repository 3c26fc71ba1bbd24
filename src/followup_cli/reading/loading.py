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

from followup_cli.core.errors import InputFileError
from followup_cli.core.formats import EXPORT_EXTENSIONS
from followup_cli.core.schema import LINE, REJECT_SCHEMA, Table, normalise_name
from followup_cli.reading.csv_reader import make_room_for_line, read_csv


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
    at = _positions(names)
    for column in table.columns:
        if column.name in by_name:
            selected.append(_column(at, by_name[column.name]).alias(column.name))
        else:
            # Null, not text: an absent optional column is empty whatever its type would be.
            selected.append(pl.lit(None, dtype=pl.Null).alias(column.name))
    return frame.select(selected), unknown


# What reading a damaged Parquet file raises: one of Polars' errors, or a panic in its native
# code (an assertion on a page's lengths, an out-of-range date), which pyo3 raises as
# PanicException, a BaseException and not a PolarsError, so `except PolarsError` misses it.
PARQUET_READ_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
)


def cannot_be_read(file_label: str, exc: BaseException) -> InputFileError:
    """The one sentence for a Parquet file damaged past its footer (found when its pages are
    read), whatever the reader raised."""
    return InputFileError(f"{file_label}: cannot be read ({read_failure(exc)}); re-export it")


# A panic in a reader task arrives wrapped by each task that waited for it:
# 'called `Result::unwrap()` on an `Err` value: JoinError::Panic(Id(15), "...", ...)'.
_WRAPPED_PANIC = re.compile(r'JoinError::Panic\(Id\(\d+\), "(.*)", \.\.\.\)', re.DOTALL)
_UNESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


def read_failure(exc: BaseException) -> str:
    """A reader's failure in a few words: the first line of its message, and of a panic the
    innermost message (the assertion that failed, not the tasks that waited for it)."""
    text = str(exc)
    if isinstance(exc, pl.exceptions.PanicException):
        while found := _WRAPPED_PANIC.search(text):
            text = _UNESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), found.group(1))
        first = _first_line_of(text)
        return f"the Parquet reader stopped: {first}" if first else "the Parquet reader stopped"
    return _first_line_of(text) or type(exc).__name__


def _scan_parquet(path: Path) -> tuple[pl.LazyFrame, int]:
    """The file as a lazy scan with 1-based row numbers, and its row count (from metadata)."""
    try:
        rows = int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except (Exception, pl.exceptions.PanicException) as exc:  # several unrelated types
        raise InputFileError(
            f"{path.name}: not a readable Parquet file ({read_failure(exc)}); re-export it"
        ) from exc
    return make_room_for_line(pl.scan_parquet(path)).with_row_index(LINE, offset=1).with_columns(
        pl.col(LINE).cast(pl.Int64)
    ), rows


def _first_line_of(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _positions(names: list[str]) -> dict[str, int]:
    """Each name's first position, found once: `list.index` per column was quadratic in the
    number of columns (10,000 unknown columns took seconds)."""
    return {name: at for at, name in reversed(list(enumerate(names)))}


def _column(positions: dict[str, int], name: str) -> pl.Expr:
    """A column by its position: a header name such as `*` or `^a$` is not a pattern here."""
    return pl.nth(positions[name])


def _by_position(frame: pl.LazyFrame, wanted: list[str]) -> pl.LazyFrame:
    at = _positions(frame.collect_schema().names())
    return frame.select(_column(at, name).alias(name) for name in wanted)
