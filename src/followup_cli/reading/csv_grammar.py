"""The CSV grammar, written once (SPEC 2): what a field is, as Polars patterns for whole
columns of lines and as Python patterns for one line at a time, and the split of lines into
fields by it."""

from __future__ import annotations

import re

import polars as pl

from followup_cli.core.schema import LINE

# A field: wholly quoted, or unquoted (not starting with a quote, no comma), or empty.
QUOTED = r'"(?:[^"]|"")*"'


FIELD = rf'{QUOTED}|[^",][^,]*|'


# A line that ends inside a quoted value it opened: whole fields, then a quote never closed.
OPENS = rf'^(?:(?:{FIELD}),)*"(?:[^"]|"")*$'


# A line read from inside a quoted value that closes it and then ends the row.
CLOSES = rf'^(?:[^"]|"")*"(?:,(?:{FIELD}))*$'


# A line the grammar splits into fields, however many: the same patterns serve every width
# (a pattern of one group per column exceeds the regex engine's size limit at 4,000 columns).
SPLITS = rf"^(?:{FIELD})(?:,(?:{FIELD}))*$"


# With a comma put before the line, each field is its separator and its text.
_COMMA_AND_FIELD = rf',(?:{QUOTED}|[^",][^,]*)?'


RAW = "_raw"


PARTS = "_parts"  # a line's fields as written, in a list


def field(at: int) -> str:
    """The name of the value at place `at` of a row while a file is split: its header name
    only once the reader's own columns (`_line`, `_raw`, ...) are gone, since a header name
    may be anything (one of those, or `*` or `^a$`, which pl.col() reads as a pattern)."""
    return f"_field_{at}"


def unquoted(value: pl.Expr) -> pl.Expr:
    """A field's value: a quoted one without its quotes and with "" read as ", empty as null."""
    return (
        pl.when(value.str.starts_with('"'))
        .then(value.str.slice(1, value.str.len_chars() - 2).str.replace_all('""', '"'))
        .otherwise(value)
        .replace("", None)
    )


def split_fields(lines: pl.DataFrame, width: int) -> pl.DataFrame:
    """Each line's (or joined record's) fields by the grammar as one list (`_parts`, as
    written), and `_ok`: whether it makes exactly the header's number of fields. A line with no
    quote splits at every comma (fast); one with quotes by the grammar's regular expressions.

    One list, not a column per field: a select of one expression per column took seconds at
    4,000 columns, and a pattern of one group per column exceeded the regex size limit."""
    has_quote = pl.col(RAW).str.contains('"', literal=True)
    commas = pl.col(RAW).str.count_matches(",", literal=True)
    # A line the grammar splits: each field is a comma (one put before the line) and its text.
    grammar = (
        pl.when(pl.col(RAW).str.contains(SPLITS))
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
        (pl.col(RAW).str.contains(SPLITS) & (_separators(pl.col(RAW)) == width - 1)).alias("_ok")
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


def field_count_reason(raw: pl.Expr, width: int) -> pl.Expr:
    """Why a line is not a row: how many fields the grammar finds, or where its quotes break it."""
    # Quoted values removed (each at the start of a field), the commas left separate fields.
    fields = _separators(raw) + 1
    splits = raw.str.contains("^" + f"(?:{FIELD})(?:,(?:{FIELD}))*" + "$")
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


# The grammar for Python's engine, with possessive repeats: the same language (a field's end is
# never in doubt), but no backtracking state kept per character, which took about 100 bytes of
# memory for each character of a long line (a 10 MB quoted value: 1.1 GB).
QUOTED_PY = r'"[^"]*+(?:""[^"]*+)*+"'


FIELD_PY = re.compile(rf'{QUOTED_PY}|[^",][^,]*+|')

# A zero byte is not text: a value holding one is rejected, wherever it is in the file.
NUL = "\x00"


def nul_character(value: pl.Expr) -> pl.Expr:
    """Where (1-based, in characters) a value holding a zero byte holds its first: Polars'
    `str.find` counts bytes, so `Zoë` before the NUL put it at character 5, not 4."""
    return value.str.split(NUL).list.first().str.len_chars() + 1
