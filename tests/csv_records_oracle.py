"""The test oracle for `reading.csv_records`: the reader's earlier form, which decides which
opening line and closing line make one record with a Python loop per opener and per line. It
was the reader until the loop's cost (about 5 microseconds and 400 bytes a line) was replaced by
whole-column work; the tests hold the two to the same verdicts. Not on the main path."""

from __future__ import annotations

import bisect
import re
from array import array

import polars as pl

from followup_cli.core.schema import LINE
from followup_cli.reading import csv_records
from followup_cli.reading.csv_grammar import FIELD_PY, QUOTED_PY, RAW

# Where reading a line leaves the record it belongs to (the grammar's states at the line's end).
_FIELD_START, _IN_QUOTES, _QUOTE_CLOSED, _UNQUOTED, _BROKEN = range(5)


_WHOLE_FIELDS = re.compile(rf"(?:(?:{FIELD_PY.pattern}),)*+")


_FIELD_AND_COMMA = re.compile(rf"(?:{FIELD_PY.pattern}),")


_QUOTED_WHOLE = re.compile(QUOTED_PY)


_QUOTED_OPEN = re.compile(r'"[^"]*+(?:""[^"]*+)*+')


_LINES_FETCHED = 256  # lines taken from the frame at a time while reading records


def multi_line_records(
    body: pl.DataFrame, openers: pl.Series, closers: pl.Series, rows: pl.Series, width: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Records whose quoted values span lines (line, _end, joined text), and the opening lines
    set aside as stray quotes (line, raw, reason). `rows` are the lines that are whole rows on
    their own, in order: a quoted value may not swallow one.

    The walk is over the lines that open a quoted value only, not over the rows: an export
    without values spanning lines never comes here. Whether an opening line and its closing
    line make one record is read line by line (`_RecordReading`), never by joining the lines
    between them: many openers share one far closer, and joining for each cost time growing
    with the square of the file (100,000 lines took minutes).
    """
    starts_at = _numbers(openers)
    ends_at = _numbers(closers)
    # For each opening line: the first closing line after it, and the whole rows before each.
    next_closer = _numbers(closers.search_sorted(openers, side="right"))
    rows_before_opener = _numbers(rows.search_sorted(openers))
    rows_before_closer = _numbers(rows.search_sorted(closers))
    reading = _RecordReading(body, ends_at, width)
    starts: list[int] = []
    ends: list[int] = []
    # Stray openers as numbers (line, why, closing line or 0), in arrays of 8 bytes a number;
    # their sentences are made by Polars at the end: a million one-quote lines made a million
    # Python strings, and lists of Python numbers took 36 bytes a number.
    stray, why, stray_closer = array("q"), array("b"), array("q")
    i, aimed_at = 0, -1
    while i < len(starts_at):
        opener, k = starts_at[i], next_closer[i]
        closer = ends_at[k] if k < len(ends_at) else None
        # Whole rows between the opening line and its closing line (or the end of the file).
        swallowed = (rows_before_closer[k] if closer else rows.len()) - rows_before_opener[i]
        i += 1
        if k != aimed_at:  # no later reading goes back before this opener
            reading.forget_before(opener)
            aimed_at = k
        if swallowed:
            _set_aside(stray, why, stray_closer, opener, _SWALLOWS, closer or 0)
        elif closer is None:
            _set_aside(stray, why, stray_closer, opener, _UNCLOSED, 0)
        elif reading.makes_record(opener):
            starts.append(opener)
            ends.append(closer)
            while i < len(starts_at) and starts_at[i] <= closer:
                i += 1  # lines inside the record open nothing
        else:
            _set_aside(stray, why, stray_closer, opener, _RUNS_ON, closer)
    return _joined(body, starts, ends), _strays(body, stray, why, stray_closer)


def _joined(body: pl.DataFrame, starts: list[int], ends: list[int]) -> pl.DataFrame:
    """Each record's lines joined by line breaks (line: its first, _end: its last, raw), as the
    reader joins them once it has decided."""
    spans = pl.DataFrame({LINE: starts, "_end": ends}, schema={LINE: pl.Int64, "_end": pl.Int64})
    return csv_records._joined(body, spans)


def _strays(
    body: pl.DataFrame, lines: array[int], whys: array[int], closers: array[int]
) -> pl.DataFrame:
    """The stray openers (line, raw, reason), their sentences made by Polars."""
    set_aside = pl.DataFrame(
        {
            LINE: pl.Series(lines, dtype=pl.Int64),
            "_why": pl.Series(whys, dtype=pl.Int8),
            "_closer": pl.Series(closers, dtype=pl.Int64).replace(0, None),
        }
    ).join(body.select(LINE, RAW), on=LINE, maintain_order="left")
    return set_aside.select(LINE, RAW, _stray_reason().alias("reason"))


def _line_end_state(text: str) -> tuple[int, int]:
    """Read `text` from the start of a field by the grammar: the state at its end and the
    commas it passed between fields. Each character is looked at a bounded number of times."""
    end = _WHOLE_FIELDS.match(text)
    assert end is not None  # zero fields match anything
    commas = _FIELD_AND_COMMA.subn("", text[: end.end()])[1] if end.end() else 0
    rest = text[end.end() :]
    if not rest:
        return _FIELD_START, commas
    if rest[0] != '"':
        # Not a quote, not a comma (an empty field and its comma are whole fields): an unquoted
        # value running to the end, as it holds no comma either.
        return (_UNQUOTED if "," not in rest else _BROKEN), commas
    if _QUOTED_WHOLE.fullmatch(rest):
        return _QUOTE_CLOSED, commas
    return (_IN_QUOTES if _QUOTED_OPEN.fullmatch(rest) else _BROKEN), commas


class _RecordReading:
    """Whether an opening line and the first closing line after it make one record: the
    grammar's fullmatch of the joined lines, read a line at a time.

    At a line break the reading is inside a quoted value or inside an unquoted one (a line
    break is an ordinary character); what follows depends on that and on the line only, never
    on where the record started, except for the number of fields so far. And every opening
    line between two closing lines aims at the same closing line. So the rest of a reading
    from (line, inside quotes or not) is remembered: whether it ends the record well at the
    closing line, and the commas it passes. Each line is read at most twice, whatever the
    number of openers sharing a far closer (the earlier join took time growing with the
    square of the file).
    """

    def __init__(self, body: pl.DataFrame, closers: array[int], width: int) -> None:
        self._raw = body.get_column(RAW)
        self._first = int(body.item(0, LINE)) if body.height else 0
        self._closers = closers
        self._width = width
        self._fetched: dict[int, list[str]] = {}
        self._rest: dict[tuple[int, bool], tuple[bool, int]] = {}

    def forget_before(self, line: int) -> None:
        """Readings start at `line` or later from now on: what was read before is let go."""
        self._rest.clear()
        first_chunk = (line - self._first) // _LINES_FETCHED
        for chunk in [c for c in self._fetched if c < first_chunk]:
            del self._fetched[chunk]

    def makes_record(self, opener: int) -> bool:
        state, commas = _line_end_state(self._line(opener))
        if state != _IN_QUOTES:
            return False
        ends_well, more = self._rest_from(opener + 1, in_quotes=True)
        return ends_well and commas + more == self._width - 1

    def _rest_from(self, line: int, in_quotes: bool) -> tuple[bool, int]:
        """From the start of `line`, inside a quoted value or an unquoted one: whether the
        record ends well at the closing line, and the commas between fields up to there."""
        path: list[tuple[tuple[int, bool], int]] = []
        ends_well, commas = False, 0
        while True:
            known = self._rest.get((line, in_quotes))
            if known is not None:
                ends_well, commas = known
                break
            # Read as if the value's first character came before the line: a quote, or text.
            state, passed = _line_end_state(('"' if in_quotes else "x") + self._line(line))
            path.append(((line, in_quotes), passed))
            if line == self._closers[bisect.bisect_left(self._closers, line)]:
                ends_well = state in (_FIELD_START, _QUOTE_CLOSED, _UNQUOTED)
                break
            if state in (_BROKEN, _QUOTE_CLOSED):  # text after a closing quote: not a record
                break
            in_quotes = state == _IN_QUOTES  # else the line break starts or continues text
            line += 1
        for where, passed in reversed(path):
            commas += passed
            self._rest[where] = (ends_well, commas)
        return ends_well, commas

    def _line(self, line: int) -> str:
        index = line - self._first
        chunk, offset = divmod(index, _LINES_FETCHED)
        lines = self._fetched.get(chunk)
        if lines is None:
            lines = self._raw.slice(chunk * _LINES_FETCHED, _LINES_FETCHED).to_list()
            self._fetched[chunk] = lines
        return str(lines[offset])


# Why an opening line is set aside alone, and the sentences: the reader's own, so that the
# two are compared on their decisions (the records, and which opener is set aside for what).
_SWALLOWS, _UNCLOSED, _RUNS_ON = csv_records._SWALLOWS, csv_records._UNCLOSED, csv_records._RUNS_ON
_stray_reason = csv_records._stray_reason


def _set_aside(
    lines: array[int], whys: array[int], closers: array[int], line: int, why: int, closer: int
) -> None:
    lines.append(line)
    whys.append(why)
    closers.append(closer)


def _numbers(series: pl.Series) -> array[int]:
    """Whole numbers for a Python loop: 8 bytes each, read back as plain ints."""
    return array("q", series.cast(pl.Int64).to_list())
