"""Line 1 of a CSV export, the header: split by the grammar into the column names, as every
reader of a customers file's header names them (the run, and --carry before it)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from followup_cli.core.errors import InputFileError
from followup_cli.core.schema import FILES_OWN_LINE, LINE
from followup_cli.reading.csv_grammar import FIELD_PY, NUL
from followup_cli.reading.csv_lines import BOM, check_encoding, not_utf8_message


def header_fields(path: Path, line: str) -> list[str]:
    """The header's column names, split by the same grammar as the rows."""
    if '"' not in line and NUL not in line:
        return line.split(",")  # the grammar's split of a line without quotes, in one call
    names: list[str] = []
    position = 0
    while True:
        match = FIELD_PY.match(line, position)
        value = match.group() if match else ""
        position += len(value)
        if value.startswith('"'):
            value = value[1:-1].replace('""', '"')
        if NUL in value:
            raise InputFileError(
                f"{path.name}: line 1 (the header) holds a zero byte (NUL) in column "
                f"{len(names) + 1}; it is not a text export (re-export it as CSV UTF-8)"
            )
        names.append(value)
        if position == len(line):
            return names
        if line[position] != ",":
            raise InputFileError(
                f"{path.name}: line 1 (the header) cannot be split into column names (a double "
                f"quote at character {position + 1} does not close a quoted name); fix the header"
            )
        position += 1


def check_header_line(path: Path, first: str | None, all_blank: Callable[[], bool]) -> None:
    """Line 1 must be the header: a file without one cannot say which value is which."""
    if first is None or (is_blank(first) and all_blank()):
        raise InputFileError(
            f"{path.name}: the file is empty; line 1 must be a header row naming the columns"
        )
    if is_blank(first):
        raise InputFileError(
            f"{path.name}: line 1 is blank; it must be the header row naming the columns "
            f"(remove the blank lines at the top)"
        )


# Blank as polars' strip_chars() sees it (Unicode White_Space): Python's own str.strip() would
# also remove the control characters 0x1C-0x1F.
_BLANK = re.compile(r"[^\S\x1c-\x1f]*")


def is_blank(line: str) -> bool:
    return _BLANK.fullmatch(line) is not None


def unique_names(header: list[str]) -> list[str]:
    """Each name once: a repeated `x` becomes `x_duplicated_0`, `_1`, ... (Polars' own names),
    skipping any such name the header has already (`a,a,a_duplicated_0` stopped the run with
    an internal error: two columns named `a_duplicated_0`)."""
    written = set(header)
    seen: dict[str, int] = {}
    names = []
    for name in header:
        count = seen.get(name, 0)
        if count == 0:
            seen[name] = 1
            names.append(name)
            continue
        suffix = count - 1
        while f"{name}_duplicated_{suffix}" in written:
            suffix += 1
        seen[name] = suffix + 2
        written.add(f"{name}_duplicated_{suffix}")
        names.append(f"{name}_duplicated_{suffix}")
    return names


def column_names(header: list[str]) -> list[str]:
    """The frame's column names for a header's names: a file's own `_line` column renamed (it
    is ignored; `_line` is the line number), a repeated name given a `_duplicated_N` suffix."""
    return unique_names([FILES_OWN_LINE if n == LINE else n for n in header])


_CHUNK = 1 << 16


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV export, as the reader names its frame's columns
    (`column_names` of `header_as_written`)."""
    return column_names(header_as_written(path))


def header_as_written(path: Path) -> list[str]:
    """The header's names as the file writes them: line 1 (to the first line break, a lone
    carriage return included) without a byte order mark, split by the grammar. A file the
    reader would refuse for its header (UTF-16, not UTF-8, empty, a blank line 1, a quote that
    does not close) is refused here with the reader's sentence."""
    check_encoding(path)
    first = _first_line(path)
    check_header_line(path, first, lambda: _all_blank(path))
    assert first is not None  # check_header_line refuses a file without a line 1
    return header_fields(path, first)


def repeats(written: list[str], names: list[str]) -> frozenset[str]:
    """The names `column_names` made for a repeated name (`x_duplicated_N`), among `names`
    made of `written`: it never makes a name the header writes, so they are those it lacks
    (with the name it gives a file's own `_line`)."""
    return frozenset(names) - frozenset(written)


def _first_line(path: Path) -> str | None:
    """Line 1 as text, None for an empty file; read a chunk at a time up to its end."""
    data = bytearray()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i != -1]
                data += chunk[: min(ends)] if ends else chunk
                if ends:
                    break
            else:
                if not data:
                    return None
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    try:
        return bytes(data).removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(not_utf8_message(path)) from exc


def _all_blank(path: Path) -> bool:
    """Whether every line is blank: only asked of a file whose line 1 is blank."""
    try:
        text = path.read_bytes().removeprefix(BOM).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False  # line 1 is blank either way, which is the sentence then
    return all(is_blank(line) for line in re.split(r"\r\n|\r|\n", text))
