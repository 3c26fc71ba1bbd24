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

from collections.abc import Collection
from pathlib import Path
from typing import TypeVar

import polars as pl

from followup_cli.core import frames
from followup_cli.core.schema import FILES_OWN_LINE, LINE, normalise_name
from followup_cli.reading import csv_fast_path
from followup_cli.reading.csv_grammar import (
    CLOSES,
    NUL,
    OPENS,
    PARTS,
    RAW,
    field,
    field_count_reason,
    split_fields,
    unquoted,
)
from followup_cli.reading.csv_header import csv_header
from followup_cli.reading.csv_lines import bytes_in, physical_lines
from followup_cli.reading.csv_records import multi_line_records
from followup_cli.reading.row_checks import cut

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def read_csv(
    path: Path, key: str | None = None, words: Collection[str] = ()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a CSV file into columns (text, or categories for `words`) with physical line
    numbers, and the lines that could not be split (line, raw, reason). `key` names the
    table's id column: a line with a value there and the header's number of fields is a row,
    which a quoted value cannot swallow.

    `words` names the columns (normalised names) whose values repeat: dates, amounts, words
    of a vocabulary. Those come as categories, not text (`pl.Categorical`, one mapping per
    file, let go with the file's rows): the same values, each row four bytes instead of a
    16-byte string view (the 1,000,000-customer payments file: 0.35 GB less), and validation
    judges each distinct value once anyway (`whole_column.per_distinct_value`)."""
    # One read of the file for a zero byte and for what sends it to the grammar.
    held = bytes_in(path, (NUL.encode(), *csv_fast_path.NOT_PLAIN))
    holds_nul = NUL.encode() in held
    repeating = dict.fromkeys(words, pl.Categorical(pl.Categories.random()))
    plain = csv_fast_path.plain_fields(path, repeating, held)
    if plain is not None:
        frame, names = plain
        structural = _NO_RAGGED
    else:
        lines = physical_lines(path)  # a file that is not UTF-8 text is named first
        names = csv_header(path)
        frame, structural = _by_grammar(lines.slice(1), names, key)
        frame = frame.with_columns(
            pl.col(field(at)).cast(repeating[normalise_name(name)])
            for at, name in enumerate(names)
            if normalise_name(name) in repeating
        )
    # The values keep their places' names (`field`) until the reader's own columns are gone:
    # a header may name a column `_raw` or `_nul_at` too.
    frame, rejects = _set_aside_zero_bytes(
        path, frame, names, _ragged_rejects(path, structural), holds_nul
    )
    return frame.rename({field(at): name for at, name in enumerate(names)}), rejects


def _by_grammar(
    body: pl.DataFrame, names: list[str], key: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The lines after the header split by the grammar: the rows (line, raw, values) and the
    lines set aside (line, raw, reason)."""
    width = len(names)
    normal = [normalise_name(n) for n in names]
    key_index = normal.index(key) if key is not None and key in normal else None
    split = split_fields(body.filter(pl.col(RAW).str.strip_chars() != ""), width)
    split, runaway = _join_multi_line(body, split, key_index, width)
    frame = _columns(split.filter(pl.col("_ok")), names)
    # The reasons are built with pl.format, which panics over empty chunks (`frames.aligned`;
    # the 100,000-row export with two extra-field rows showed it).
    bad = frames.aligned(split.filter(~pl.col("_ok"))).select(
        LINE, RAW, field_count_reason(pl.col(RAW), width).alias("reason")
    )
    return frame, pl.concat([bad, runaway]).sort(LINE)


def _join_multi_line(
    body: pl.DataFrame, split: pl.DataFrame, key_index: int | None, width: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`split` with the records whose quoted values span lines joined into one each, and the
    opening lines set aside as stray quotes (line, raw, reason)."""
    # Where a quoted value may span lines: a line that, read from its start, ends inside an
    # open quoted value, and a line that, read from inside one, closes it and ends a row.
    edges = body.filter(pl.col(RAW).str.contains('"', literal=True)).select(
        LINE,
        pl.col(RAW).str.contains(OPENS).alias("_opens"),
        pl.col(RAW).str.contains(CLOSES).alias("_closes"),
    )
    openers = edges.filter(pl.col("_opens")).get_column(LINE)
    if not openers.len():
        return split, pl.DataFrame(schema=_RAGGED_SCHEMA)
    rows = split.filter(pl.col("_ok"))
    if key_index is not None:
        key_value = pl.col(PARTS).list.get(key_index, null_on_oob=True)
        rows = rows.filter(key_value.str.strip_chars('" ') != "")
    closers = edges.filter(pl.col("_closes")).get_column(LINE)
    records, runaway = multi_line_records(body, openers, closers, rows.get_column(LINE), width)
    covered = records.select(pl.int_ranges(LINE, pl.col("_end") + 1).alias(LINE)).explode(LINE)
    settled = pl.concat([covered.get_column(LINE), runaway.get_column(LINE)])
    joined = split.filter(~pl.col(LINE).is_in(settled.implode())).merge_sorted(
        split_fields(records.drop("_end"), width), key=LINE
    )
    return joined, runaway


def _columns(rows: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """The rows' fields as columns named by their place (`field`), each value unquoted (line,
    raw, values)."""
    fields = [field(at) for at in range(len(names))]
    if len(names) <= _FEW_COLUMNS:
        # Lazy, so the list is read once for all the fields (common subexpressions).
        values = [unquoted(pl.col(PARTS).list.get(i)).alias(n) for i, n in enumerate(fields)]
        frame = rows.lazy().select(LINE, RAW, *values).collect()
    else:
        # One expression for all the fields: one per field took seconds at 4,000 columns.
        whole = pl.col(PARTS).list.eval(unquoted(pl.element())).list.to_struct(fields)
        frame = rows.select(LINE, RAW, whole).unnest(PARTS)
    return frame


_RAGGED_SCHEMA = {LINE: pl.Int64, RAW: pl.String, "reason": pl.String}


_FEW_COLUMNS = 64  # up to this many, a column per field is made directly (faster, less memory)


_NO_RAGGED = pl.DataFrame(schema=_RAGGED_SCHEMA)


def _set_aside_zero_bytes(
    path: Path, frame: pl.DataFrame, names: list[str], rejects: pl.DataFrame, holds_nul: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows holding a zero byte (NUL) in any value leave `frame` for `rejects`, naming the
    column and the character: NUL is not text (many tools end a string at it), wherever it is
    in the file and whichever path split it. Other control characters are text like any other.

    `frame` is (line, [raw,] values named by place, `field`), `names` the header's names; the
    reject's value is the row as written (`raw`, or the values joined by commas: the fast
    path's files hold no quotes), NUL shown as \\x00."""
    values = [(field(at), name) for at, name in enumerate(names)]
    if not holds_nul:
        return frame.drop(RAW, strict=False), rejects
    # A column read as categories (`read_csv`'s words) is looked at as the text it holds.
    text = [pl.col(place).cast(pl.String) for place, _ in values]
    found = [value.str.find(NUL, literal=True) for value in text]
    row = (
        pl.col(RAW)
        if RAW in frame.columns
        else pl.concat_str([value.fill_null("") for value in text], separator=",")
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
    # The fast path's line column is one chunk, its values many: the rows with a NUL filtered
    # out of a large file keep empty chunks between the others, over which Polars 2.1's
    # pl.format panics (`frames.aligned`; a 100,000-customer payments file with two NULs,
    # found by the fuzz test).
    with_nul = frames.aligned(marked.filter(pl.col("_nul_column").is_not_null()))
    if not with_nul.height:
        return frame.drop(RAW, strict=False), rejects
    set_aside = with_nul.select(
        pl.lit(path.name).alias("file"),
        pl.col(LINE).alias("line"),
        pl.col("_nul_column").alias("column"),
        cut(pl.col("_nul_row")).alias("value"),
        pl.format(
            "column '{}' holds a zero byte (NUL) at character {} of its value; a text export "
            "never does (re-export the file as CSV UTF-8)",
            pl.col("_nul_column"),
            pl.col("_nul_at"),
        ).alias("reason"),
    )
    kept = marked.filter(pl.col("_nul_column").is_null()).select(frame.columns)
    return kept.drop(RAW, strict=False), pl.concat([rejects, set_aside]).sort("line")


def make_room_for_line(frame: FrameT) -> FrameT:
    """A file's own `_line` column must not be taken for the line numbers (it is ignored)."""
    return frame.rename({LINE: FILES_OWN_LINE}, strict=False)


def _ragged_rejects(path: Path, ragged: pl.DataFrame) -> pl.DataFrame:
    """Rows that could not be split into the header's columns: the whole line is the value."""
    return ragged.select(
        pl.lit(path.name).alias("file"),
        pl.col(LINE).alias("line"),
        pl.lit("*").alias("column"),
        cut(pl.col(RAW)).alias("value"),
        pl.col("reason"),
    )
