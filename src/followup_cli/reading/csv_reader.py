"""Splitting a CSV export into text columns, each row with its physical line (SPEC 2 and 6).

One grammar decides the fields of every row, written once (`_FIELD`): a value is either wholly
in double quotes (a quote inside written "") or unquoted and free of commas; a quote inside an
unquoted value is an ordinary character. The file is read as physical lines by Polars, with no
quoting, and each line is split by that grammar with vectorised string expressions: at a comma
when the line holds no quote (the common, fast case), else by the grammar's regular expression.
A line that does not make exactly the header's number of fields is set aside whole; nothing is
padded, truncated or merged into a neighbour.

A quoted value may span lines. A line that, read from its start, ends inside a quoted value it
opened (a quote at the start of a field, never closed) opens such a value, and the next line
that, read from inside one, closes it and ends the row closes it. The pair is one record only if
the lines between them are not rows in their own right and the joined text makes a whole
record; otherwise the opening quote is a stray one: that line alone is set aside and reading
goes on with the next line, so a stray quote never swallows the rows after it. A quote inside
an unquoted value (`size 5" mat`) opens nothing, whatever the number of quotes on the line.

Reading costs what the file's size implies: no pattern grows with the number of columns, and
whether lines make one record is read a line at a time, each line a bounded number of times.
A zero byte (NUL) is not text: its row is rejected naming the column, wherever it is in the
file and whichever way the file is split; other control characters are text like any other.
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import polars as pl

from followup_cli.core.errors import InputFileError
from followup_cli.core.schema import FILES_OWN_LINE, LINE, normalise_name

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

# A field: wholly quoted, or unquoted (not starting with a quote, no comma), or empty.
_QUOTED = r'"(?:[^"]|"")*"'
_FIELD = rf'{_QUOTED}|[^",][^,]*|'
# A line that ends inside a quoted value it opened: whole fields, then a quote never closed.
_OPENS = rf'^(?:(?:{_FIELD}),)*"(?:[^"]|"")*$'
# A line read from inside a quoted value that closes it and then ends the row.
_CLOSES = rf'^(?:[^"]|"")*"(?:,(?:{_FIELD}))*$'
# A line the grammar splits into fields, however many: the same patterns serve every width
# (a pattern of one group per column exceeds the regex engine's size limit at 4,000 columns).
_SPLITS = rf"^(?:{_FIELD})(?:,(?:{_FIELD}))*$"
# With a comma put before the line, each field is its separator and its text.
_COMMA_AND_FIELD = rf',(?:{_QUOTED}|[^",][^,]*)?'
RAW = "_raw"
PARTS = "_parts"  # a line's fields as written, in a list


def read_csv(path: Path, key: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a CSV file into text columns with physical line numbers, and the lines that could
    not be split (line, raw, reason). `key` names the table's id column: a line with a value
    there and the header's number of fields is a row, which a quoted value cannot swallow."""
    # Looked for before any frame is made: the mapped file's pages then add to no frame's.
    holds_nul = _holds_zero_byte(path)
    plain = _plain_rows(path)
    if plain is not None:
        return _set_aside_zero_bytes(path, plain, _ragged_rejects(path, _NO_RAGGED), holds_nul)
    lines = _physical_lines(path)
    first = lines.item(0, RAW) if lines.height else None
    _check_header_line(
        path, first, lambda: bool(lines.select(pl.col(RAW).str.strip_chars().eq("").all()).item())
    )
    header = _header_fields(path, first or "")
    width = len(header)
    names = _unique_names([FILES_OWN_LINE if n == LINE else n for n in header])
    normal = [normalise_name(n) for n in header]
    key_index = normal.index(key) if key is not None and key in normal else None
    # Positional names while splitting: a header name may be anything, `*` or `^a$` included,
    # which pl.col() would read as a wildcard or a pattern.
    fields = [f"_field_{i}" for i in range(width)]

    body = lines.slice(1)
    split = _split(body.filter(pl.col(RAW).str.strip_chars() != ""), width)
    # Where a quoted value may span lines: a line that, read from its start, ends inside an
    # open quoted value, and a line that, read from inside one, closes it and ends a row.
    edges = body.filter(pl.col(RAW).str.contains('"', literal=True)).select(
        LINE,
        pl.col(RAW).str.contains(_OPENS).alias("_opens"),
        pl.col(RAW).str.contains(_CLOSES).alias("_closes"),
    )
    openers = edges.filter(pl.col("_opens")).get_column(LINE)
    runaway = pl.DataFrame(schema={LINE: pl.Int64, RAW: pl.String, "reason": pl.String})
    if openers.len():
        rows = split.filter(pl.col("_ok"))
        if key_index is not None:
            key_value = pl.col(PARTS).list.get(key_index, null_on_oob=True)
            rows = rows.filter(key_value.str.strip_chars('" ') != "")
        closers = edges.filter(pl.col("_closes")).get_column(LINE)
        records, runaway = _multi_line_records(body, openers, closers, rows.get_column(LINE), width)
        covered = records.select(pl.int_ranges(LINE, pl.col("_end") + 1).alias(LINE)).explode(LINE)
        settled = pl.concat([covered.get_column(LINE), runaway.get_column(LINE)])
        split = split.filter(~pl.col(LINE).is_in(settled.implode())).merge_sorted(
            _split(records.drop("_end"), width), key=LINE
        )
    rows = split.filter(pl.col("_ok"))
    if width <= _FEW_COLUMNS:
        # Lazy, so the list is read once for all the fields (common subexpressions).
        values = [_unquoted(pl.col(PARTS).list.get(i)).alias(n) for i, n in enumerate(fields)]
        frame = rows.lazy().select(LINE, RAW, *values).collect()
    else:
        # One expression for all the fields: one per field took seconds at 4,000 columns.
        whole = pl.col(PARTS).list.eval(_unquoted(pl.element())).list.to_struct(fields)
        frame = rows.select(LINE, RAW, whole).unnest(PARTS)
    frame = frame.rename(dict(zip(fields, names, strict=True)))
    # One chunk first: over a column of many chunks (a filter of a large file), Polars 2.1
    # panics in pl.format when one argument went through str.replace_all ("assertion failed:
    # i < self.len()"); the 100,000-row export with two extra-field rows showed it.
    bad = (
        split.filter(~pl.col("_ok"))
        .rechunk()
        .select(LINE, RAW, _field_count_reason(pl.col(RAW), width).alias("reason"))
    )
    structural = pl.concat([bad, runaway]).sort(LINE)
    return _set_aside_zero_bytes(path, frame, _ragged_rejects(path, structural), holds_nul)


_RAGGED_SCHEMA = {LINE: pl.Int64, RAW: pl.String, "reason": pl.String}
_FEW_COLUMNS = 64  # up to this many, a column per field is made directly (faster, less memory)


def _unquoted(value: pl.Expr) -> pl.Expr:
    """A field's value: a quoted one without its quotes and with "" read as ", empty as null."""
    return (
        pl.when(value.str.starts_with('"'))
        .then(value.str.slice(1, value.str.len_chars() - 2).str.replace_all('""', '"'))
        .otherwise(value)
        .replace("", None)
    )


_NO_RAGGED = pl.DataFrame(schema=_RAGGED_SCHEMA)
_NUL = "\x00"


def _set_aside_zero_bytes(
    path: Path, frame: pl.DataFrame, rejects: pl.DataFrame, holds_nul: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows holding a zero byte (NUL) in any value leave `frame` for `rejects`, naming the
    column and the character: NUL is not text (many tools end a string at it), wherever it is
    in the file and whichever path split it. Other control characters are text like any other.

    `frame` is (line, [raw,] values); the reject's value is the row as written (`raw`, or the
    values joined by commas: the fast path's files hold no quotes), NUL shown as \\x00."""
    values = [(i, c) for i, c in enumerate(frame.columns) if c not in (LINE, RAW)]
    if not holds_nul:
        return frame.drop(RAW, strict=False), rejects
    found = [pl.nth(i).str.find(_NUL, literal=True) for i, _ in values]
    row = (
        pl.col(RAW)
        if RAW in frame.columns
        else pl.concat_str([pl.nth(i).fill_null("") for i, _ in values], separator=",")
    )
    marked = frame.with_columns(
        pl.coalesce(
            [
                pl.when(f.is_not_null()).then(pl.lit(c))
                for f, (_, c) in zip(found, values, strict=True)
            ]
        ).alias("_nul_column"),
        (pl.coalesce(found) + 1).alias("_nul_at"),
        row.alias("_nul_row"),
    )
    with_nul = marked.filter(pl.col("_nul_column").is_not_null())
    if not with_nul.height:
        return frame.drop(RAW, strict=False), rejects
    set_aside = with_nul.select(
        pl.lit(path.name).alias("file"),
        pl.col(LINE).alias("line"),
        pl.col("_nul_column").alias("column"),
        _shown(pl.col("_nul_row")).alias("value"),
        pl.format(
            "column '{}' holds a zero byte (NUL) at character {} of its value; a text export "
            "never does (re-export the file as CSV UTF-8)",
            pl.col("_nul_column"),
            pl.col("_nul_at"),
        ).alias("reason"),
    )
    kept = marked.filter(pl.col("_nul_column").is_null()).select(frame.columns)
    return kept.drop(RAW, strict=False), pl.concat([rejects, set_aside]).sort("line")


def _holds_zero_byte(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return False
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return view.find(b"\x00") != -1
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc


def _shown(text: pl.Expr) -> pl.Expr:
    """A value for the rejects file: cut to 200 characters, a zero byte written \\x00."""
    return text.str.replace_all(_NUL, "\\x00", literal=True).str.slice(0, 200)


_BOM = b"\xef\xbb\xbf"


def _plain_rows(path: Path) -> pl.DataFrame | None:
    """The file split by Polars' own multi-threaded reader, when that is provably the grammar's
    split: no double quote and no carriage return anywhere (so every line break ends a row and
    every comma separates), and every line after the header has exactly the header's number
    of fields. None means "use the grammar" (`read_csv`'s general path).

    The reader refuses a line with too many fields; a line with too few (or a blank one)
    would be padded, so the file's size is checked instead: it must be exactly the header,
    the values' bytes, one comma between each two fields and a line break after each row.
    """
    _check_encoding(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return None
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                if view.find(b'"') != -1 or view.find(b"\r") != -1:
                    return None
                header_end = view.find(b"\n")
                ends_with_break = view[size - 1 : size] == b"\n"
                first_line = view[: max(header_end, 0)]
                # Polars makes a column name for every field of the first row before it
                # compares them with the schema: 20 MB of commas took 8 GB and 12 s.
                row_end = view.find(b"\n", header_end + 1) if header_end != -1 else -1
                first_row_commas = (
                    view[header_end + 1 : row_end].count(b",") if row_end != -1 else None
                )
    except OSError:
        return None  # the general path names the problem
    try:
        first = first_line.removeprefix(_BOM).decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Polars forgives one extra, empty field on a last line without a line break; the
    # grammar does not.
    if header_end == -1 or not ends_with_break or _is_blank(first):
        return None
    header = _header_fields(path, first)
    # One field: a blank line is a row of one empty field with the right number of commas
    # (none), which the grammar skips instead.
    if len(header) < 2 or first_row_commas not in (None, len(header) - 1):
        return None
    fields = [f"_field_{i}" for i in range(len(header))]
    try:
        frame = pl.read_csv(
            path,
            has_header=False,
            skip_rows=1,
            quote_char=None,
            schema=dict.fromkeys(fields, pl.String),
            truncate_ragged_lines=False,
            raise_if_empty=False,
            encoding="utf8",
        )
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError):
        # A panic too: this is only the fast path, and the grammar's path names the problem.
        return None
    rows = frame.height
    values = frame.select(pl.sum_horizontal(pl.all().str.len_bytes().sum())).item() if rows else 0
    if header_end + 1 + values + rows * len(header) != size:
        return None
    names = _unique_names([FILES_OWN_LINE if n == LINE else n for n in header])
    return (
        frame.with_row_index(LINE, offset=2)
        .with_columns(pl.col(LINE).cast(pl.Int64))
        .rename(dict(zip(fields, names, strict=True)))
    )


def _split(lines: pl.DataFrame, width: int) -> pl.DataFrame:
    """Each line's (or joined record's) fields by the grammar as one list (`_parts`, as
    written), and `_ok`: whether it makes exactly the header's number of fields. A line with no
    quote splits at every comma (fast); one with quotes by the grammar's regular expressions.

    One list, not a column per field: a select of one expression per column took seconds at
    4,000 columns, and a pattern of one group per column exceeded the regex size limit."""
    has_quote = pl.col(RAW).str.contains('"', literal=True)
    commas = pl.col(RAW).str.count_matches(",", literal=True)
    # A line the grammar splits: each field is a comma (one put before the line) and its text.
    grammar = (
        pl.when(pl.col(RAW).str.contains(_SPLITS))
        .then(pl.concat_str(pl.lit(","), pl.col(RAW)).str.extract_all(_COMMA_AND_FIELD))
        .list.eval(pl.element().str.slice(1))
    )
    ok = (pl.col(PARTS).list.len() == width).fill_null(False).alias("_ok")
    no_parts = pl.lit(None, dtype=pl.List(pl.String)).alias(PARTS)
    # A line is split into a list only when the list is bounded by the header's width: a line
    # of 20 million commas made a list of 20 million empty fields. A line with more commas
    # than that is a row only if most are inside quoted values: those are counted first.
    few_commas = commas <= 4 * width
    plain = lines.filter(~has_quote)
    plain = (
        plain.filter(commas == width - 1)
        .with_columns(pl.col(RAW).str.split(",").alias(PARTS))
        .merge_sorted(plain.filter(commas != width - 1).with_columns(no_parts), key=LINE)
    )
    quoted = lines.filter(has_quote)
    many = quoted.filter(~few_commas).with_columns(
        (pl.col(RAW).str.contains(_SPLITS) & (_separators(pl.col(RAW)) == width - 1)).alias("_ok")
    )
    quoted = quoted.filter(few_commas).with_columns(grammar.alias(PARTS))
    if many.height:
        quoted = quoted.merge_sorted(
            many.filter("_ok").select(LINE, RAW, grammar.alias(PARTS)), key=LINE
        ).merge_sorted(many.filter(~pl.col("_ok")).select(LINE, RAW, no_parts), key=LINE)
    # Both parts are in line order already: merging them costs a pass, a sort would cost more.
    return plain.merge_sorted(quoted, key=LINE).with_columns(ok)


def _separators(raw: pl.Expr) -> pl.Expr:
    """The commas between a line's fields: those outside its quoted values (each at the start
    of a field). Exact for a line the grammar splits."""
    return (
        raw.str.replace_all(r'(^|,)"(?:[^"]|"")*"', "${1}")
        .str.count_matches(",", literal=True)
        .cast(pl.Int64)
    )


def _multi_line_records(
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
    spans = pl.DataFrame({LINE: starts, "_end": ends}, schema={LINE: pl.Int64, "_end": pl.Int64})
    records = (
        spans.select(
            pl.col(LINE).alias("_start"),
            "_end",
            pl.int_ranges(LINE, pl.col("_end") + 1).alias(LINE),
        )
        .explode(LINE)
        .join(body.select(LINE, RAW), on=LINE)
        .sort(LINE)
        .group_by("_start", "_end", maintain_order=True)
        .agg(pl.col(RAW).str.join("\n"))
        .select(pl.col("_start").alias(LINE), "_end", RAW)
    )
    set_aside = pl.DataFrame(
        {
            LINE: pl.Series(stray, dtype=pl.Int64),
            "_why": pl.Series(why, dtype=pl.Int8),
            "_closer": pl.Series(stray_closer, dtype=pl.Int64).replace(0, None),
        }
    ).join(body.select(LINE, RAW), on=LINE, maintain_order="left")
    return records, set_aside.select(LINE, RAW, _stray_reason().alias("reason"))


# Where reading a line leaves the record it belongs to (the grammar's states at the line's end).
_FIELD_START, _IN_QUOTES, _QUOTE_CLOSED, _UNQUOTED, _BROKEN = range(5)
# The grammar for Python's engine, with possessive repeats: the same language (a field's end is
# never in doubt), but no backtracking state kept per character, which took about 100 bytes of
# memory for each character of a long line (a 10 MB quoted value: 1.1 GB).
_QUOTED_PY = r'"[^"]*+(?:""[^"]*+)*+"'
_FIELD_PY = re.compile(rf'{_QUOTED_PY}|[^",][^,]*+|')
_WHOLE_FIELDS = re.compile(rf"(?:(?:{_FIELD_PY.pattern}),)*+")
_FIELD_AND_COMMA = re.compile(rf"(?:{_FIELD_PY.pattern}),")
_QUOTED_WHOLE = re.compile(_QUOTED_PY)
_QUOTED_OPEN = re.compile(r'"[^"]*+(?:""[^"]*+)*+')
_LINES_FETCHED = 256  # lines taken from the frame at a time while reading records


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


def _physical_lines(path: Path) -> pl.DataFrame:
    """The file's lines (line, raw), header = line 1, with no quoting: every line break ends a
    line. A carriage return alone (old Mac endings, or a stray one mid-file) is a line break too,
    so it cannot merge the rows around it into one."""
    _check_encoding(path)
    separator = _absent_byte(path)
    if separator is None:
        raw = _lines_in_memory(path)
    else:
        try:
            frame = pl.read_csv(
                path,
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
                raise InputFileError(_not_utf8_message(path)) from exc
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
        text = data.removeprefix(_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(_not_utf8_message(path)) from exc
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
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return _NEVER_IN_TEXT[0].decode()
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                for byte in _NEVER_IN_TEXT:
                    if view.find(byte) == -1:
                        return byte.decode()
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    return None


def _check_encoding(path: Path) -> None:
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


def _header_fields(path: Path, line: str) -> list[str]:
    """The header's column names, split by the same grammar as the rows."""
    names: list[str] = []
    position = 0
    while True:
        match = _FIELD_PY.match(line, position)
        value = match.group() if match else ""
        position += len(value)
        if value.startswith('"'):
            value = value[1:-1].replace('""', '"')
        if _NUL in value:
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


# Blank as polars' strip_chars() sees it (Unicode White_Space): Python's own str.strip() would
# also remove the control characters 0x1C-0x1F.
_BLANK = re.compile(r"[^\S\x1c-\x1f]*")


def _is_blank(line: str) -> bool:
    return _BLANK.fullmatch(line) is not None


def make_room_for_line(frame: FrameT) -> FrameT:
    """A file's own `_line` column must not be taken for the line numbers (it is ignored)."""
    return frame.rename({LINE: FILES_OWN_LINE}, strict=False)


def _field_count_reason(raw: pl.Expr, width: int) -> pl.Expr:
    """Why a line is not a row: how many fields the grammar finds, or where its quotes break it."""
    # Quoted values removed (each at the start of a field), the commas left separate fields.
    fields = _separators(raw) + 1
    splits = raw.str.contains("^" + f"(?:{_FIELD})(?:,(?:{_FIELD}))*" + "$")
    count = pl.format(
        "row has {} {} but the header has {}; check for a missing or extra comma "
        "(a value with a comma must be in double quotes)",
        fields,
        pl.when(fields == 1).then(pl.lit("field")).otherwise(pl.lit("fields")),
        pl.lit(width),
    )
    return (
        pl.when(~splits)
        .then(
            pl.lit(
                "a double quote closes a value but more text follows it before the next comma; "
                'put the whole value in double quotes and write a quote inside it as ""'
            )
        )
        .when(raw.str.contains('"', literal=True) & (fields != width))
        .then(
            pl.format(
                "{} (a double quote inside a value that does not start with one is an "
                "ordinary character, so commas after it still separate)",
                count,
            )
        )
        .otherwise(count)
    )


_SWALLOWS, _UNCLOSED, _RUNS_ON = range(3)  # why an opening line is set aside alone


def _set_aside(
    lines: array[int], whys: array[int], closers: array[int], line: int, why: int, closer: int
) -> None:
    lines.append(line)
    whys.append(why)
    closers.append(closer)


def _numbers(series: pl.Series) -> array[int]:
    """Whole numbers for a Python loop: 8 bytes each, read back as plain ints."""
    return array("q", series.cast(pl.Int64).to_list())


def _stray_reason() -> pl.Expr:
    """The sentence for each stray opener (`_why`, `_closer`), the same as the functions below."""
    closer = pl.col("_closer").cast(pl.String)
    upto = pl.when(pl.col("_closer").is_null()).then(pl.lit("the end of the file"))
    return (
        pl.when(pl.col("_why") == _UNCLOSED)
        .then(pl.lit(_unclosed_reason()))
        .when(pl.col("_why") == _SWALLOWS)
        .then(pl.format(_swallowing_reason("{}"), upto.otherwise(pl.format("line {}", closer))))
        .otherwise(pl.format(_runaway_reason("{}"), closer))
    )


def _unclosed_reason() -> str:
    return (
        "a double quote on this line opens a value that is never closed; check this line's "
        'quotes (a quote inside a value is written "")'
    )


def _swallowing_reason(closer: int | str | None) -> str:
    upto = (
        closer if isinstance(closer, str) else f"line {closer}" if closer else "the end of the file"
    )
    return (
        f"a double quote on this line opens a value that would swallow the whole rows after it "
        f"(up to {upto}); only this line is set aside; check its quotes (a quote inside a "
        f'value is written "")'
    )


def _runaway_reason(closer: int | str) -> str:
    return (
        f"a double quote on this line opens a value that runs on to line {closer} without "
        f'making a whole row; check this line\'s quotes (a quote inside a value is written "")'
    )


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
        _shown(pl.col(RAW)).alias("value"),
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
