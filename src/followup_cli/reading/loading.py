"""Finding and reading the exports (SPEC 2): one raw frame per table, every value kept as read.

CSV columns arrive as text and Parquet columns with their native types; `validation` turns both
into typed frames. Every row keeps `_line`: the physical line of a CSV file (header = line 1) or
the 1-based row number of a Parquet file, so a rejected value can be found in the export.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.core.errors import InputFileError
from followup_cli.core.formats import EXPORT_EXTENSIONS
from followup_cli.core.listing import LISTED_NAMES, first_of
from followup_cli.core.schema import LINE, REJECT_SCHEMA, TABLES, Table, matched_name
from followup_cli.reading import zones
from followup_cli.reading.csv_header import column_names, header_as_written, repeats
from followup_cli.reading.csv_reader import read_csv
from followup_cli.reading.parsing import DISTINCT_KINDS


@dataclass
class RawTable:
    """One table as read: the file it came from, its rows, and rows that could not be split.

    `frame` is lazy: a Parquet file is scanned, not loaded, so validation streams through it;
    a CSV file has been split in memory already (see `read_table`), its dates, amounts and
    words as categories (`pl.Categorical`), its other values as text.
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

    def without_rows(self) -> RawTable:
        """This table as read with its rows let go: what the summary and the run report read
        (counts, columns, the rows that could not be split), without a CSV file's text."""
        return dataclasses.replace(self, frame=pl.LazyFrame(schema=self.schema), unknown_frame=None)


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
        scan, rows = _scan_parquet(path, table)
        return _raw(table, path, fmt, scan, rows, empty_rejects())
    repeating = [c.name for c in table.columns if c.kind in DISTINCT_KINDS]
    header, matched = _header_matched(table, path)
    wanted = set(matched[0].values())
    frame, structural = read_csv(path, table.key.name, repeating, wanted.__contains__)
    # The header as written: a wide file's frame holds only the contract's columns (read_csv).
    return _raw(table, path, fmt, frame.lazy(), frame.height, structural, tuple(header), matched)


class Exports(Mapping[str, RawTable]):
    """The run's tables, each read when first asked for, so that validation holds one CSV
    file's values at a time: a CSV file is split into columns in memory (the 445 MB payments
    file of 1,000,000 customers is 0.5 GB of it, 0.84 GB when every value was text), and
    holding all four files' text to the end of the run made its peak 2.8 GB; read in turn,
    2.1 GB (both then, with every value as text). `done(name)` lets a table's rows go once
    validated (`RawTable.without_rows`).

    Every file's header is read and checked up front, in the tables' order, so a missing or
    repeated column is named before any file's rows are read (which broken file is named
    first: docs/decisions.md); a Parquet file is only scanned, so it is read up front too.
    """

    def __init__(
        self, located: Mapping[str, Path | None], held: Mapping[str, RawTable] | None = None
    ) -> None:
        self._located = dict(located)
        self._read: dict[str, RawTable] = dict(held or {})
        self.reading = 0.0  # seconds spent reading rows, whenever it happened
        self._estimates: dict[str, int] = {}
        for name, path in self._located.items():
            if name in self._read:
                continue
            if path is not None and EXPORT_EXTENSIONS.get(path.suffix.lower()) == "csv":
                look_at_header(TABLES[name], path)
                self._estimates[name] = _estimated_rows(path)
            else:
                self._read[name] = self._read_now(name)  # a Parquet file is only scanned

    @classmethod
    def held(cls, tables: Mapping[str, RawTable]) -> Exports:
        """Tables read already (a bucket's): nothing is read, and letting one go drops only
        this mapping's hold on its rows."""
        return cls({name: table.path for name, table in tables.items()}, held=tables)

    def __getitem__(self, name: str) -> RawTable:
        if name not in self._read:
            self._read[name] = self._read_now(name)
        return self._read[name]

    def _read_now(self, name: str) -> RawTable:
        started = time.perf_counter()
        try:
            return read_table(TABLES[name], self._located[name])
        finally:
            self.reading += time.perf_counter() - started

    def __iter__(self) -> Iterator[str]:
        return iter(self._located)

    def __len__(self) -> int:
        return len(self._located)

    def rows(self, name: str) -> int:
        """How many rows the table has, before it is read (estimated for a CSV file not yet
        split): for choosing the order the tables are read in (`validation.in_turn`)."""
        held = self._read.get(name)
        return held.rows if held is not None else self._estimates[name]

    def is_text(self, name: str) -> bool:
        """Whether this mapping splits the table's rows into columns in memory when asked
        for them: a CSV file (read or not yet). Not a table held already (a bucket's), a Parquet
        file, or one run --without."""
        return name in self._estimates

    def done(self, name: str) -> None:
        """The table's rows are not needed again: let them go (its counts stay)."""
        if name in self._read:
            self._read[name] = self._read[name].without_rows()


def look_at_header(table: Table, path: Path) -> None:
    """Refuse a CSV file for its header as `read_table` would, without reading its rows."""
    _header_matched(table, path)


def _header_matched(table: Table, path: Path) -> tuple[list[str], tuple[dict[str, str], list[str]]]:
    """A CSV file's column names as the reader names them, and their match (`_matched`)."""
    written = header_as_written(path)
    header = column_names(written)
    return header, _matched(table, path, header, repeats(written, header))


_SAMPLE = 1 << 16


def _estimated_rows(path: Path) -> int:
    """A CSV file's rows estimated from its size and the length of its first lines."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        sample = handle.read(_SAMPLE)
    lines = sample.count(b"\n")
    return size * lines // len(sample) if lines else 1  # no line break: one long row


def _raw(
    table: Table,
    path: Path | None,
    fmt: str,
    frame: pl.LazyFrame,
    rows: int,
    structural: pl.DataFrame,
    header: tuple[str, ...] = (),
    matched: tuple[dict[str, str], list[str]] | None = None,
) -> RawTable:
    if path is None:
        return RawTable(table, None, fmt, frame, dict(frame.collect_schema()), rows, structural)
    names = list(header) if header else [n for n in frame.collect_schema().names() if n != LINE]
    by_name, unknown = _matched(table, path, names) if matched is None else matched
    at = _positions(frame.collect_schema().names())
    selected = frame.select(
        pl.col(LINE),
        *(
            _column(at, by_name[column.name]).alias(column.name)
            if column.name in by_name
            # Null, not text: an absent optional column is empty whatever its type would be.
            else pl.lit(None, dtype=pl.Null).alias(column.name)
            for column in table.columns
        ),
    )
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
        # The ignored columns the frame holds: all of them, unless the header is wide.
        unknown_frame=frame.select(
            pl.col(LINE), *(_column(at, name).alias(name) for name in unknown if name in at)
        ),
    )


def _matched(
    table: Table, path: Path, names: list[str], repeated: frozenset[str] = frozenset()
) -> tuple[dict[str, str], list[str]]:
    """Match header names after normalising them, and refuse the file if a required column is
    missing or named twice: each contract column's name as written (an absent optional one is
    added as empty), and the other names (as in the file), which the rules ignore but a person
    is told about. `repeated`: the reader's names for a repeated name (`x_duplicated_0`); a
    Parquet file has none."""
    by_name: dict[str, str] = {}
    places: dict[str, int] = {}
    unknown: list[str] = []
    for place, original in enumerate(names, start=1):
        # A repeated header name "x" is read as "x_duplicated_0": the same clash.
        normal = matched_name(original, table.column_names, repeated)
        if normal not in table.column_names:
            unknown.append(original)
            continue
        if normal in by_name:
            # Named as the file writes them: a repeat's name is the reader's, not the file's.
            first, second = (_written(n, repeated) for n in (by_name[normal], original))
            raise InputFileError(
                f"{path.name}: the header names column {normal!r} twice ({first!r} and "
                f"{second!r}, columns {places[normal]} and {place}); keep one"
            )
        by_name[normal] = original
        places[normal] = place
    missing = [c.name for c in table.columns if c.required and c.name not in by_name]
    if missing:
        has = first_of([repr(c) for c in names[:LISTED_NAMES]], LISTED_NAMES, len(names))
        raise InputFileError(
            f"{path.name}: required column {', '.join(missing)} is missing "
            f"(line 1 has {has or 'no columns'}); add it to the export"
        )
    return by_name, unknown


def _written(name: str, repeated: frozenset[str]) -> str:
    """A column's name as the header writes it: `x` for the reader's `x_duplicated_N`."""
    return name.rsplit("_duplicated_", 1)[0] if name in repeated else name


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


def _scan_parquet(path: Path, table: Table) -> tuple[pl.LazyFrame, int]:
    """The file as a lazy scan with 1-based row numbers, and its row count (from metadata);
    timestamps in a zone Polars does not know read as their wall time (`zones`)."""
    try:
        scan = pl.scan_parquet(path, glob=False)
        schema = scan.collect_schema()
        rows = int(scan.select(pl.len()).collect().item())
    except (Exception, pl.exceptions.PanicException) as exc:  # several unrelated types
        raise InputFileError(
            f"{path.name}: not a readable Parquet file ({read_failure(exc)}); re-export it"
        ) from exc
    read = {column.name for column in table.columns}
    scan, schema = make_room_for_line(scan, schema)
    scan = zones.wall_times(scan, schema, path.name, read)
    return scan.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64)), rows


def make_room_for_line(frame: pl.LazyFrame, schema: pl.Schema) -> tuple[pl.LazyFrame, pl.Schema]:
    """A Parquet file's columns named as a CSV header's are (`column_names`), and their new
    schema: its own `_line` must not be taken for the line numbers (it is ignored), nor land
    on a column of its own named `_line (from the file)` (an internal error once)."""
    names = column_names(list(schema))
    renamed = {old: new for old, new in zip(schema, names, strict=True) if old != new}
    return frame.rename(renamed), pl.Schema(zip(names, schema.values(), strict=True))


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
