"""Splitting a CSV export into text columns, each row with its physical line (SPEC 2 and 6)."""

from __future__ import annotations

import csv
import mmap
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import polars as pl

from followup_cli.errors import InputFileError
from followup_cli.schema import FILES_OWN_LINE, LINE

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def read_csv(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a CSV file into text columns with physical line numbers.

    Polars does the splitting. It fills a row that is short of fields with empty values without
    saying so, so the file is also read as raw lines and the fields of each line are counted:
    a row whose count differs from the header's is set aside, never silently padded. A quoted
    value that spans lines breaks the one-line-one-row match; such a file (rare) is split by
    Python's csv module instead, which also tracks where each row starts.
    """
    lines = _physical_lines(path)
    if lines is None:
        return _read_csv_slowly(path)
    _check_header_line(
        path,
        lines.item(0, "raw") if lines.height else None,
        lambda: bool(lines.select(pl.col("raw").str.strip_chars().eq("").all()).item()),
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
    frame = make_room_for_line(frame)
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
    structural = counted.filter(ragged).select(
        LINE, "raw", _field_count_reason(pl.col("fields"), width).alias("reason")
    )
    return frame.filter(~ragged), _ragged_rejects(path, structural)


def _physical_lines(path: Path) -> pl.DataFrame | None:
    """The file's lines as one text column (no quoting: every newline ends a line).

    None when polars cannot split the file this way (a line holds the 0x1F byte used as the
    "no separator" here: polars would cut the line there); the caller then reads it slowly.
    """
    if _holds_byte(path, UNIT_SEPARATOR):
        return None
    try:
        frame = pl.read_csv(
            path,
            has_header=False,
            separator=UNIT_SEPARATOR.decode(),
            quote_char=None,
            schema={"raw": pl.String},
            truncate_ragged_lines=False,
            empty_string_is_null=False,
            raise_if_empty=False,
            encoding="utf8",
        )
    except pl.exceptions.PolarsError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            raise InputFileError(_not_utf8_message(path)) from exc
        return None
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    # polars drops a byte order mark at the start of the file itself, as it does for the rows.
    return frame.with_columns(pl.col("raw").fill_null(""))


UNIT_SEPARATOR = b"\x1f"


def _holds_byte(path: Path, byte: bytes) -> bool:
    """Whether the file holds `byte` anywhere, searched in place (no copy of a large file)."""
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return False
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return view.find(byte) != -1
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc


def _check_header_line(path: Path, first: str | None, all_blank: Callable[[], bool]) -> None:
    """Line 1 must be the header: a file without one cannot say which value is which."""
    if first is None or (_is_blank(first) and all_blank()):
        raise InputFileError(
            f"{path.name}: the file is empty; line 1 must be a header row naming the columns"
        )
    if _is_blank(first):
        raise InputFileError(
            f"{path.name}: line 1 is blank; it must be the header row naming the columns "
            f"(remove the blank lines at the top)"
        )
    if "\r" in first.rstrip("\r"):
        raise InputFileError(
            f"{path.name}: line 1 holds carriage returns (old Mac line endings); re-export it "
            f"with standard (LF or CRLF) line endings"
        )


# A quoted value may span lines, but one that runs on for this many lines is a stray quote
# swallowing the rows after it; the reader gives up on it there, so each stray quote costs at
# most this many lines of re-reading. (A value this long is rejected anyway: MAX_TEXT.)
MAX_RECORD_LINES = 1000


class _LineFeed:
    """Physical lines handed to csv.reader one at a time, so the reader's position is known
    (where each row starts) and can be moved back after a stray quote."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.position = 0
        self.stop = len(lines)

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self.position >= self.stop:
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1] + "\n"

    def read_from(self, start: int) -> None:
        self.position = start
        self.stop = min(len(self.lines), start + MAX_RECORD_LINES)


def _read_csv_slowly(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Python's csv module for files polars cannot split line by line; not the main path.

    A row that a quote carries over several lines but whose field count is still wrong is not
    one row: a stray double quote opened a value that swallowed the rows after it. Only that
    row's first line is set aside, and reading starts again on the next line, so one stray
    quote never hides the rest of the file.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError as exc:
        raise InputFileError(_not_utf8_message(path)) from exc
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    _check_header_line(
        path, lines[0] if lines else None, lambda: all(_is_blank(line) for line in lines)
    )
    csv.field_size_limit(sys.maxsize)
    feed = _LineFeed(lines)
    reader = csv.reader(feed, strict=False)
    feed.read_from(0)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InputFileError(
            f"{path.name}: line 1 (the header) cannot be split into column names "
            f"({_csv_problem(exc)}); fix the header row"
        ) from exc
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in header]
    line_numbers: list[int] = []
    ragged: list[tuple[int, str, str]] = []
    # The line whose quote ended a runaway value (unbalanced on its own) goes with the line
    # that opened it.
    closer, opened = -1, 0
    start = feed.position
    while start < len(lines):
        if _is_blank(lines[start]):
            start += 1
            continue
        if start == closer:
            ragged.append((start + 1, lines[start], _closing_quote_reason(opened)))
            start += 1
            continue
        feed.read_from(start)
        try:
            record = next(reader)
        except csv.Error as exc:
            ragged.append((start + 1, lines[start], _csv_problem(exc)))
            start += 1
            continue
        end = feed.position  # one past the record's last line
        if len(record) == width:
            line_numbers.append(start + 1)
            for values, value in zip(columns, record, strict=True):
                values.append(value if value != "" else None)
            start = end
        elif end - start > 1:
            ragged.append((start + 1, lines[start], _runaway_quote_reason(end)))
            if lines[end - 1].count('"') % 2 == 1:
                closer, opened = end - 1, start + 1
            start += 1
        else:
            ragged.append((start + 1, lines[start], _field_count_text(len(record), width)))
            start += 1
    names = _unique_names([FILES_OWN_LINE if n == LINE else n for n in header])
    frame = pl.DataFrame(
        {LINE: line_numbers, **dict(zip(names, columns, strict=True))},
        schema={LINE: pl.Int64, **{n: pl.String for n in names}},
    )
    structural = pl.DataFrame(
        {
            LINE: [r[0] for r in ragged],
            "raw": [r[1] for r in ragged],
            "reason": [r[2] for r in ragged],
        },
        schema={LINE: pl.Int64, "raw": pl.String, "reason": pl.String},
    )
    return frame, _ragged_rejects(path, structural)


# Blank as polars' strip_chars() sees it (Unicode White_Space), so both readers skip the same
# lines: Python's own str.strip() would also remove the control characters 0x1C-0x1F.
_BLANK = re.compile(r"[^\S\x1c-\x1f]*")


def _is_blank(line: str) -> bool:
    return _BLANK.fullmatch(line) is not None


def make_room_for_line(frame: FrameT) -> FrameT:
    """A file's own `_line` column must not be taken for the line numbers (it is ignored)."""
    return frame.rename({LINE: FILES_OWN_LINE}, strict=False)


def _field_count_text(fields: int, width: int) -> str:
    return (
        f"row has {fields} field{'' if fields == 1 else 's'} but the header has {width}; check "
        f"for a missing or extra comma (a value with a comma must be in double quotes)"
    )


def _field_count_reason(fields: pl.Expr, width: int) -> pl.Expr:
    """The same sentence as `_field_count_text`, for a column of field counts."""
    return pl.format(
        "row has {} {} but the header has {}; check for a missing or extra comma "
        "(a value with a comma must be in double quotes)",
        fields,
        pl.when(fields == 1).then(pl.lit("field")).otherwise(pl.lit("fields")),
        pl.lit(width),
    )


def _runaway_quote_reason(runs_to: int) -> str:
    return (
        f"a double quote on this line opens a value that runs on to line {runs_to} without "
        f'making a whole row; check this line\'s quotes (a quote inside a value is written "")'
    )


def _closing_quote_reason(opened: int) -> str:
    return (
        f"this line closes the quoted value opened on line {opened}, which was set aside; "
        f"check the quotes on both lines"
    )


def _csv_problem(exc: csv.Error) -> str:
    if "new-line" in str(exc):
        return (
            "a carriage return (CR) character inside a value that is not in double quotes; "
            "remove it or put the value in double quotes"
        )
    return f"cannot be split into fields ({exc})"


def _unique_names(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for name in header:
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}_duplicated_{count - 1}")
    return names


def _ragged_rejects(path: Path, ragged: pl.DataFrame) -> pl.DataFrame:
    """Rows that could not be split into the header's columns: the whole line is the value."""
    return ragged.select(
        pl.lit(path.name).alias("file"),
        pl.col(LINE).alias("line"),
        pl.lit("*").alias("column"),
        pl.col("raw").str.slice(0, 200).alias("value"),
        pl.col("reason"),
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
