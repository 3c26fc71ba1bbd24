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
whether lines make one record is decided over whole columns (`csv_records`), each line read a
bounded number of times. A
header of more than WIDE columns keeps only the columns its caller needs: every field is still
split, counted and checked for a zero byte, but a column the run ignores is not made a column
(a frame column costs kilobytes whatever it holds: 200,000 of them, a 1.7 MB file, took 1.6 GB).
A zero byte (NUL) is not text: its row is rejected naming the column, wherever it is in the
file and whichever way the file is split; other control characters are text like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

import polars as pl

from followup_cli.core import frames
from followup_cli.core.schema import LINE, normalise_name
from followup_cli.reading import csv_fast_path
from followup_cli.reading.csv_grammar import (
    CLOSES,
    NUL,
    OPENS,
    PARTS,
    RAW,
    field,
    field_count_reason,
    nul_character,
    split_fields,
    unquoted,
)
from followup_cli.reading.csv_header import csv_header
from followup_cli.reading.csv_lines import bytes_in, physical_lines
from followup_cli.reading.csv_records import multi_line_records
from followup_cli.reading.row_checks import cut

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def read_csv(
    path: Path,
    key: str | None = None,
    words: Collection[str] = (),
    needed: Callable[[str], bool] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a CSV file into columns (text, or categories for `words`) with physical line
    numbers, and the lines that could not be split (line, raw, reason). `key` names the
    table's id column: a line with a value there and the header's number of fields is a row,
    which a quoted value cannot swallow.

    `words` names the columns (normalised names) whose values repeat: dates, amounts, words
    of a vocabulary. Those come as categories, not text (`pl.Categorical`, one mapping per
    file, let go with the file's rows): the same values, each row four bytes instead of a
    16-byte string view (the 1,000,000-customer payments file: 0.35 GB less), and validation
    judges each distinct value once anyway (`whole_column.per_distinct_value`).

    `needed` says which columns (by header name, as `csv_header` gives them) the caller reads.
    A header of more than WIDE columns keeps only those (each line is still split, its fields
    counted and checked for a zero byte); a narrower one keeps every column, and None keeps
    every column whatever the width."""
    # One read of the file for a zero byte and for what sends it to the grammar.
    held = bytes_in(path, (NUL.encode(), *csv_fast_path.NOT_PLAIN))
    holds_nul = NUL.encode() in held
    repeating = dict.fromkeys(words, pl.Categorical(pl.Categories.random()))
    widest = None if needed is None else WIDE
    plain = csv_fast_path.plain_fields(path, repeating, held, widest)
    if plain is not None:
        frame, names = plain
        frame, rejects = _set_aside_zero_bytes(path, frame, names, holds_nul)
    else:
        lines = physical_lines(path)  # a file that is not UTF-8 text is named first
        names = csv_header(path)
        kept = list(range(len(names)))
        if needed is not None and len(names) > WIDE:
            kept = [at for at, name in enumerate(names) if needed(name)]
        frame, rejects = _by_grammar(path, lines.slice(1), names, key, kept, holds_nul)
        frame = frame.with_columns(
            pl.col(field(at)).cast(repeating[normalise_name(names[at])])
            for at in kept
            if normalise_name(names[at]) in repeating
        )
    # The values keep their places' names (`field`) until the reader's own columns are gone:
    # a header may name a column `_raw` or `_nul_at` too.
    present = set(frame.columns)
    renamed = {field(at): name for at, name in enumerate(names) if field(at) in present}
    return frame.drop(RAW, strict=False).rename(renamed), rejects


# Wider than this, a header's columns the caller does not need are not made columns (`read_csv`).
# The fast path makes a Series per column (about 40 microseconds and several kilobytes each),
# so it serves only headers up to this width then.
WIDE = 1_000


def _by_grammar(
    path: Path,
    body: pl.DataFrame,
    names: list[str],
    key: str | None,
    kept: list[int],
    holds_nul: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The lines after the header split by the grammar: the rows (line, the values at the
    places `kept`, named by place) and the rejects, lines set aside and rows holding a zero
    byte in any field, kept or not."""
    width = len(names)
    key_index = next((at for at, n in enumerate(names) if normalise_name(n) == key), None)
    split = split_fields(body.filter(pl.col(RAW).str.strip_chars() != ""), width)
    split, runaway = _join_multi_line(body, split, key_index, width)
    rows = split.filter(pl.col("_ok"))
    frame = _columns(rows, kept)
    if holds_nul:
        # Only the rows holding one are looked at again, and dropped from the few columns
        # kept: a filter of every row's list of fields copied them all (a 2,005-column file
        # with one NUL: 1.9 GB, against 0.9 GB without it).
        with_nul = _zero_bytes_in_fields(
            rows.filter(pl.col(RAW).str.contains(NUL, literal=True)), names
        )
        frame = frame.filter(~pl.col(LINE).is_in(with_nul.get_column(LINE).implode()))
    # The reasons are built with pl.format, which panics over empty chunks (`frames.aligned`;
    # the 100,000-row export with two extra-field rows showed it).
    bad = frames.aligned(split.filter(~pl.col("_ok"))).select(
        LINE, RAW, field_count_reason(pl.col(RAW), width).alias("reason")
    )
    rejects = _ragged_rejects(path, pl.concat([bad, runaway]))
    if holds_nul:
        rejects = pl.concat([rejects, _zero_byte_rejects(path, with_nul)])
    return frame, rejects.sort("line")


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


def _columns(rows: pl.DataFrame, kept: list[int]) -> pl.DataFrame:
    """The fields at the places `kept` of the rows' lists as columns named by their place
    (`field`), each value unquoted (line, values)."""
    fields = [field(at) for at in kept]
    if len(kept) <= _FEW_COLUMNS:
        # Lazy, so the list is read once for all the fields (common subexpressions).
        values = [unquoted(pl.col(PARTS).list.get(at)).alias(field(at)) for at in kept]
        return rows.lazy().select(LINE, *values).collect()
    # One expression for all the fields: one per field took seconds at 4,000 columns.
    parts = pl.col(PARTS).list
    chosen = parts.head(len(kept)) if kept == list(range(len(kept))) else parts.gather(kept)
    whole = chosen.list.eval(unquoted(pl.element())).list.to_struct(fields)
    return rows.select(LINE, whole).unnest(PARTS)


_RAGGED_SCHEMA = {LINE: pl.Int64, RAW: pl.String, "reason": pl.String}


_FEW_COLUMNS = 64  # up to this many, a column per field is made directly (faster, less memory)


_NO_REJECTS = pl.DataFrame(
    schema={
        "file": pl.String,
        "line": pl.Int64,
        "column": pl.String,
        "value": pl.String,
        "reason": pl.String,
    }
)


def _set_aside_zero_bytes(
    path: Path, frame: pl.DataFrame, names: list[str], holds_nul: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The fast path's rows without those holding a zero byte (NUL) in any value, and those
    as rejects. `frame` is (line, values named by place, `field`), `names` the header's names;
    the fast path's files hold no quotes, so a row as written is its values joined by commas.
    """
    if not holds_nul:
        return frame, _NO_REJECTS
    values = [(field(at), name) for at, name in enumerate(names)]
    # A column read as categories (`read_csv`'s words) is looked at as the text it holds.
    text = [pl.col(place).cast(pl.String) for place, _ in values]
    holds = [value.str.contains(NUL, literal=True) for value in text]
    marked = frame.with_columns(
        pl.coalesce(
            [pl.when(h).then(pl.lit(c)) for h, (_, c) in zip(holds, values, strict=True)]
        ).alias("_nul_column")
    )
    kept = marked.filter(pl.col("_nul_column").is_null()).select(frame.columns)
    with_nul = marked.filter(pl.col("_nul_column").is_not_null()).with_columns(
        pl.coalesce(
            [pl.when(h).then(nul_character(v)) for h, v in zip(holds, text, strict=True)]
        ).alias("_nul_at"),
        pl.concat_str([value.fill_null("") for value in text], separator=",").alias(RAW),
    )
    return kept, _zero_byte_rejects(path, with_nul).sort("line")


def _zero_bytes_in_fields(rows: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """The grammar's rows holding a zero byte (NUL) (line, raw, their fields as written in a
    list) with the first such value's column and character (`_nul_column`, `_nul_at`). A list
    per row, so a column the run ignores is looked at too without being made a column."""
    values = pl.col(PARTS).list.eval(unquoted(pl.element()))
    found = values.list.eval(pl.element().str.contains(NUL, literal=True).arg_true().first())
    marked = rows.with_columns(
        values.alias(PARTS), found.list.first().cast(pl.UInt32).alias("_nul_place")
    )
    columns = pl.DataFrame(
        {"_nul_place": range(len(names)), "_nul_column": names},
        schema={"_nul_place": pl.UInt32, "_nul_column": pl.String},
    )
    return marked.join(columns, on="_nul_place", how="left", maintain_order="left").with_columns(
        nul_character(pl.col(PARTS).list.get(pl.col("_nul_place"))).alias("_nul_at")
    )


def _zero_byte_rejects(path: Path, with_nul: pl.DataFrame) -> pl.DataFrame:
    """Rejects rows for the rows holding a zero byte (NUL): (line, raw, `_nul_column`,
    `_nul_at`), the row as written shown with NUL as \\x00. NUL is not text (many tools end a
    string at it), wherever it is in the file and whichever path split it; other control
    characters are text like any other."""
    # The fast path's line column is one chunk, its values many: the rows with a NUL filtered
    # out of a large file keep empty chunks between the others, over which Polars 2.1's
    # pl.format panics (`frames.aligned`; a 100,000-customer payments file with two NULs,
    # found by the fuzz test).
    return frames.aligned(with_nul).select(
        pl.lit(path.name).alias("file"),
        pl.col(LINE).alias("line"),
        pl.col("_nul_column").alias("column"),
        cut(pl.col(RAW)).alias("value"),
        pl.format(
            "column '{}' holds a zero byte (NUL) at character {} of its value; a text export "
            "never does (re-export the file as CSV UTF-8)",
            pl.col("_nul_column"),
            pl.col("_nul_at"),
        ).alias("reason"),
    )


def _ragged_rejects(path: Path, ragged: pl.DataFrame) -> pl.DataFrame:
    """Rows that could not be split into the header's columns: the whole line is the value."""
    return ragged.select(
        pl.lit(path.name).alias("file"),
        pl.col(LINE).alias("line"),
        pl.lit("*").alias("column"),
        cut(pl.col(RAW)).alias("value"),
        pl.col("reason"),
    )
