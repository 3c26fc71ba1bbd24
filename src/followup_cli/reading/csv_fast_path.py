"""The fast path: a CSV export with no quote and no carriage return, split by Polars' own
multi-threaded reader when that is provably the grammar's split."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.core.errors import InputFileError
from followup_cli.core.schema import LINE, normalise_name
from followup_cli.reading.csv_grammar import field
from followup_cli.reading.csv_header import csv_header
from followup_cli.reading.csv_lines import bytes_in, check_encoding

# Bytes that send a file to the grammar: a quote (quoted values) or a carriage return.
NOT_PLAIN = (b'"', b"\r")


def plain_fields(
    path: Path,
    words: Mapping[str, pl.DataType] | None = None,
    held: frozenset[bytes] | None = None,
    widest: int | None = None,
) -> tuple[pl.DataFrame, list[str]] | None:
    """The file split by Polars' own multi-threaded reader, when that is provably the grammar's
    split: no double quote and no carriage return anywhere (so every line break ends a row and
    every comma separates), and every line after the header has exactly the header's number
    of fields: the rows (line, then the values named by their place, `field`) and the header's
    names. None means "use the grammar" (`read_csv`'s general path).

    The reader refuses a line with too many fields; a line with too few (or a blank one)
    would be padded, so the file's size is checked instead: it must be exactly the header,
    the values' bytes, one comma between each two fields and a line break after each row.

    `words` gives the columns (by normalised name) read straight into another type than text,
    a categorical one (`csv_reader.read_csv`): the same values, four bytes a row. `held` says
    which of NOT_PLAIN the file holds when the caller has looked already (one read of the file
    for every byte it looks for, `csv_lines.bytes_in`). A header of more than `widest`
    columns is left to the grammar, which need not make a column of every field.
    """
    check_encoding(path)
    layout = _layout(path, bytes_in(path, NOT_PLAIN) if held is None else held)
    if layout is None:
        return None
    if widest is not None and layout.header_commas + 1 > widest:
        return None  # known before the header is split: the file holds no quote
    try:
        names = csv_header(path)
    except InputFileError:
        return None  # the general path names the problem, after any of the file's text
    # One field: a blank line is a row of one empty field with the right number of commas
    # (none), which the grammar skips instead.
    if len(names) < 2 or layout.first_row_commas not in (None, len(names) - 1):
        return None
    fields = [field(at) for at in range(len(names))]
    given = words or {}
    schema = {
        place: given.get(normalise_name(name), pl.String)
        for place, name in zip(fields, names, strict=True)
    }
    try:
        frame = pl.read_csv(
            path,
            glob=False,  # the file named, even with [ ] * ? in its name
            has_header=False,
            skip_rows=1,
            quote_char=None,
            schema=schema,
            truncate_ragged_lines=False,
            raise_if_empty=False,
            encoding="utf8",
        )
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError):
        # A panic too: this is only the fast path, and the grammar's path names the problem.
        return None
    rows = frame.height
    values = frame.select(pl.sum_horizontal(_bytes(frame.schema))).item() if rows else 0
    if layout.header_end + 1 + values + rows * len(names) != layout.size:
        return None
    return frame.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64)), names


def _bytes(schema: pl.Schema) -> list[pl.Expr]:
    """Each column's values' bytes, summed as 64-bit numbers: a column's lengths are 32-bit,
    whose own sum wraps past 4 GiB (and the file would take the slow path for no reason)."""
    return [
        (pl.col(name).str if dtype == pl.String else pl.col(name).cat)
        .len_bytes()
        .cast(pl.UInt64)
        .sum()
        for name, dtype in schema.items()
    ]


@dataclass(frozen=True)
class _Layout:
    size: int
    header_end: int  # the first line break's offset
    header_commas: int
    first_row_commas: int | None  # None: no line break after the first row


def _layout(path: Path, held: frozenset[bytes]) -> _Layout | None:
    """Where the file's first lines end, when it may take the fast path: not empty, no quote
    and no carriage return, line 1 ended by a line break and the last line too (Polars
    forgives one extra, empty field on a last line without a line break; the grammar does not).
    """
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0 or any(byte in held for byte in NOT_PLAIN):
                return None
            header = handle.readline()
            handle.seek(size - 1)
            if not header.endswith(b"\n") or handle.read(1) != b"\n":
                return None
            # Polars makes a column name for every field of the first row before it
            # compares them with the schema: 20 MB of commas took 8 GB and 12 s.
            handle.seek(len(header))
            row = handle.readline()
            commas = row.count(b",") if row.endswith(b"\n") else None
    except OSError:
        return None  # the general path names the problem
    return _Layout(size, len(header) - 1, header.count(b","), commas)
