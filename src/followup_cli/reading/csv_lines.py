"""A CSV export as physical lines of UTF-8 text, header = line 1: the encoding checked, every
line break (a lone carriage return too) ending a line, no quoting."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from followup_cli.core.errors import InputFileError
from followup_cli.core.schema import LINE
from followup_cli.reading.csv_grammar import RAW

BOM = b"\xef\xbb\xbf"


_SCAN_BYTES = 1 << 20  # read at a time by `bytes_in`


def bytes_in(path: Path, wanted: Iterable[bytes]) -> frozenset[bytes]:
    """Which of the single bytes `wanted` the file holds, read a megabyte at a time (and no
    further once all are found).

    Not through a memory map: the pages of a mapped file count in the process's resident
    memory while they are looked at, and each file was looked at just before its rows were
    read, when the file before it had been let go but not yet given back: looking at the
    1,000,000-customer payments file added 0.43 GB to the run's peak."""
    looked_for = set(wanted)
    found: set[bytes] = set()
    buffer = bytearray(_SCAN_BYTES)
    try:
        with path.open("rb", buffering=0) as handle:
            # The file as it was when opened, as a map of it would be: not what is appended.
            left = os.fstat(handle.fileno()).st_size
            while looked_for and left > 0 and (size := handle.readinto(buffer)):
                size = min(size, left)
                left -= size
                chunk = buffer if size == _SCAN_BYTES else memoryview(buffer)[:size].tobytes()
                seen = {byte for byte in looked_for if chunk.find(byte) != -1}
                found |= seen
                looked_for -= seen
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    return frozenset(found)


def physical_lines(path: Path) -> pl.DataFrame:
    """The file's lines (line, raw), header = line 1, with no quoting: every line break ends a
    line. A carriage return alone (old Mac endings, or a stray one mid-file) is a line break too,
    so it cannot merge the rows around it into one."""
    check_encoding(path)
    separator = _absent_byte(path)
    if separator is None:
        raw = _lines_in_memory(path)
    else:
        try:
            frame = pl.read_csv(
                path,
                glob=False,  # the file named, even with [ ] * ? in its name
                has_header=False,
                separator=separator,
                quote_char=None,
                schema={RAW: pl.String},
                truncate_ragged_lines=False,
                empty_string_is_null=False,
                raise_if_empty=False,
                encoding="utf8",
            )
        except pl.exceptions.PolarsError as exc:
            if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
                raise InputFileError(not_utf8_message(path)) from exc
            raise InputFileError(f"{path.name}: cannot be read ({_first_line(exc)})") from exc
        except OSError as exc:
            raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc
        # polars drops a byte order mark at the start of the file, and the CR of a CRLF ending.
        raw = frame.get_column(RAW).fill_null("")
    if raw.str.contains("\r", literal=True).any():
        raw = raw.str.split("\r").explode()
    return (
        pl.DataFrame({RAW: raw})
        .with_row_index(LINE, offset=1)
        .with_columns(pl.col(LINE).cast(pl.Int64))
    )


def _lines_in_memory(path: Path) -> pl.Series:
    """The file's lines as Polars' reader gives them (no byte order mark, the CR of a CRLF
    ending dropped, no line after a final line break), for a file that holds every byte the
    reader could split nothing with: control characters are text like any other."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    try:
        text = data.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(not_utf8_message(path)) from exc
    del data
    lines = pl.Series(RAW, [text]).str.split("\n").explode()
    if text.endswith("\n") or not text:
        lines = lines.slice(0, lines.len() - 1)
    return lines.str.strip_suffix("\r")


# Bytes that never occur in a text export, tried in turn as the "separator" that splits nothing.
_NEVER_IN_TEXT = (b"\x1f", b"\x1e", b"\x1d", b"\x1c", b"\x01", b"\x02", b"\x03", b"\x04")


def _absent_byte(path: Path) -> str | None:
    """A byte the file does not hold, so that reading it as one-column CSV cuts no line; None
    when it holds them all."""
    held = bytes_in(path, _NEVER_IN_TEXT)
    return next((byte.decode() for byte in _NEVER_IN_TEXT if byte not in held), None)


def check_encoding(path: Path) -> None:
    """UTF-16 text of an ASCII export is valid UTF-8 with a zero byte after every letter; it
    would be read as garbage columns, so it is recognised and named."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    with_bom = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    zeros = head.count(b"\x00")
    if with_bom or (len(head) >= 2 and zeros * 4 >= len(head)):
        how = "it starts with a UTF-16 byte order mark" if with_bom else "every other byte is 0"
        raise InputFileError(
            f"{path.name}: the file is UTF-16, not UTF-8 ({how}); re-export it as UTF-8 "
            f"(in a spreadsheet: 'CSV UTF-8')"
        )


def not_utf8_message(path: Path) -> str:
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
