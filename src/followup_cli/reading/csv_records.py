"""Quoted values that span lines: which opening line and closing line make one record
(`multi_line_records`), and why an opening line is set aside when they do not. Vectorised
throughout: the states of the lines holding a quote by regular expressions over whole columns
(the lines without one only counted), the readings by pointer jumping, the choice among openers
by cumulative columns; no Python loop per line or per opener (one took about 5 microseconds and
400 bytes a line: a value of 2,000,000 lines took 5.4 s and 0.95 GB, 2,000,000 one-quote lines
10.5 s)."""

from __future__ import annotations

import polars as pl

from followup_cli.core.schema import LINE
from followup_cli.reading.csv_grammar import FIELD, QUOTED, RAW

# Where reading a line leaves the record it belongs to (the grammar's states at the line's end).
_FIELD_START, _IN_QUOTES, _QUOTE_CLOSED, _UNQUOTED, _BROKEN = range(5)


# A text read from the start of a field: its whole fields, each with the comma after it, then
# the rest. Rust's regular expressions report the match a backtracking engine would, so the
# whole fields are as many as the grammar can take (each is followed by a comma, so none could
# end sooner).
_FIELDS_THEN_REST = rf"(?s)^((?:(?:{FIELD}),)*)(.*)$"
_FIELD_AND_COMMA = rf"(?:{FIELD}),"
_QUOTED_WHOLE = rf"(?s)^{QUOTED}$"
_QUOTED_OPEN = r'(?s)^"(?:[^"]|"")*$'
_ENDS_A_ROW = (_FIELD_START, _QUOTE_CLOSED, _UNQUOTED)  # states in which a closing line ends well


_SWALLOWS, _UNCLOSED, _RUNS_ON, _RECORD, _INSIDE = range(5)  # an opening line's verdict


def multi_line_records(
    body: pl.DataFrame, openers: pl.Series, closers: pl.Series, rows: pl.Series, width: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Records whose quoted values span lines (line, _end, joined text), and the opening lines
    set aside as stray quotes (line, raw, reason). `rows` are the lines that are whole rows on
    their own, in order: a quoted value may not swallow one.

    Each opening line, in order, is one of: set aside because a whole row lies between it and
    its closing line (the first after it), or because it has none; the start of a record, if
    the lines up to the closing line make one (the grammar's fullmatch of the joined lines,
    found line by line: `_makes_record`); inside a record started before it (up to and with the
    record's closing line: it opens nothing); or set aside because its value runs on to the
    closing line without making a row. Never by joining the lines between them for each opener:
    many openers share one far closer, and that cost time growing with the square of the file.
    """
    verdicts = _verdicts(body, openers, closers, rows, width)
    records = verdicts.filter(pl.col("_why") == _RECORD).select(
        LINE, pl.col("_closer").alias("_end")
    )
    stray = verdicts.filter(pl.col("_why") < _RECORD)
    return _joined(body, records), _strays(body, stray)


def _verdicts(
    body: pl.DataFrame, openers: pl.Series, closers: pl.Series, rows: pl.Series, width: int
) -> pl.DataFrame:
    """Each opening line's verdict (line, _why, _closer: its closing line, null when none)."""
    closers = closers.cast(pl.Int64).rename("_closer")
    past_end = pl.Series([None], dtype=pl.Int64)
    k = closers.search_sorted(openers, side="right").cast(pl.Int64)
    opened = pl.DataFrame({LINE: openers.cast(pl.Int64), "_k": k}).with_columns(
        pl.concat([closers, past_end]).gather(k).alias("_closer"),
        # The closing line just before this opener, which it may be (null: none).
        pl.concat([past_end, closers]).gather(k).alias("_closer_before"),
    )
    # Whole rows between the opening line and its closing line (or the end of the file).
    closing = opened.get_column("_closer")
    rows_before_end = rows.search_sorted(closing.fill_null(0)).cast(pl.Int64)
    rows_before = rows.search_sorted(opened.get_column(LINE)).cast(pl.Int64)
    opened = opened.with_columns(
        (
            pl.when(closing.is_null()).then(rows.len()).otherwise(rows_before_end) - rows_before
        ).alias("_swallowed")
    )
    read = opened.filter(pl.col("_closer").is_not_null() & (pl.col("_swallowed") == 0))
    makes = _makes_record(body, read, closers, width)
    read = read.with_columns(makes.alias("_makes"))
    chosen = _chosen(read, closers.len())
    return (
        opened.join(chosen, on="_k", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("_closer_before") == pl.col(LINE))
            .then(pl.col("_closer_before_has_record"))
            .otherwise(False)
            .fill_null(False)
            .alias("_inside_before")
        )
        .select(
            LINE,
            pl.when(pl.col("_inside_before"))
            .then(_INSIDE)
            .when(pl.col("_swallowed") > 0)
            .then(_SWALLOWS)
            .when(pl.col("_closer").is_null())
            .then(_UNCLOSED)
            .when(pl.col("_accepted").is_null() | (pl.col(LINE) < pl.col("_accepted")))
            .then(_RUNS_ON)
            .when(pl.col(LINE) == pl.col("_accepted"))
            .then(_RECORD)
            .otherwise(_INSIDE)
            .cast(pl.Int8)
            .alias("_why"),
            "_closer",
        )
    )


def _chosen(read: pl.DataFrame, closers: int) -> pl.DataFrame:
    """For each closing line (_k), the opener whose record it ends (_accepted, null: none) and
    whether the closing line before it ends a record (_closer_before_has_record).

    Among the openers aiming at one closing line, the first that makes a record starts it; the
    one that is the closing line before (a line may close one value and open the next) opens
    nothing when that line ends a record. Whether it does depends on the closing line before,
    and so on: a run of such lines alternates (`has` below), found by cumulative columns."""
    firsts = read.group_by("_k").agg(
        pl.col(LINE).filter("_makes").min().alias("_first"),
        pl.col(LINE)
        .filter(pl.col("_makes") & (pl.col(LINE) != pl.col("_closer_before")))
        .min()
        .alias("_second"),
        pl.col("_closer_before").first(),
    )
    # One more than the closing lines: the openers after the last one (none to aim at).
    groups = (
        pl.DataFrame({"_k": pl.int_range(closers + 1, eager=True).cast(pl.Int64)})
        .join(firsts, on="_k", how="left", maintain_order="left")
        .with_columns(
            # Whether this closing line's record depends on the one before: its first maker is
            # the closing line before, and no other opener makes a record.
            ((pl.col("_first") == pl.col("_closer_before")) & pl.col("_second").is_null())
            .fill_null(False)
            .alias("_dependent")
        )
    )
    here = pl.int_range(pl.len())
    start = pl.when(~pl.col("_dependent")).then(here).forward_fill()
    base = pl.when(~pl.col("_dependent")).then(pl.col("_first").is_not_null()).forward_fill()
    has = base ^ ((here - start) % 2 == 1)
    groups = groups.with_columns(has.alias("_has"))
    before = pl.col("_has").shift(1, fill_value=False)
    return groups.select(
        "_k",
        pl.when(before & (pl.col("_first") == pl.col("_closer_before")))
        .then(pl.col("_second"))
        .otherwise(pl.col("_first"))
        .alias("_accepted"),
        before.alias("_closer_before_has_record"),
    )


def _makes_record(
    body: pl.DataFrame, read: pl.DataFrame, closers: pl.Series, width: int
) -> pl.Series:
    """For each opener of `read` (line, _closer): whether it and the lines up to its closing
    line make one record. The opening line, read from its start, must end inside a quoted
    value; the lines after it, each read from where the last one left the reading (inside a
    quoted value or an unquoted one), must reach the closing line and end a row there, with
    the header's number of fields in all.

    A line without a quote changes nothing but the count: a reading inside a quoted value
    stays there and passes no separator, one inside unquoted text stays in text and passes
    its commas. So only the lines with a quote are read by the grammar (`_readings`), and the
    commas of the lines between them are summed: a value of millions of blank or plain lines
    costs a count, not a reading each (20,000,000 blank lines after a broken value took 66 s
    read one by one)."""
    first = int(body.item(0, LINE)) if body.height else 0
    raw = body.get_column(RAW)
    # The lines a reading can pass: after the first opener aiming at each closing line, to it.
    spans = read.group_by("_closer").agg(pl.col(LINE).min().alias("_from")).sort("_from")
    lines = (
        spans.select(pl.int_ranges(pl.col("_from") + 1, pl.col("_closer") + 1).alias(LINE))
        .explode(LINE)
        .get_column(LINE)
        .drop_nulls()
    )
    text = pl.DataFrame({LINE: lines, RAW: raw.gather(lines - first)}).with_columns(
        pl.col(RAW).str.contains('"', literal=True).alias("_quoted")
    )
    # The commas an unquoted reading passes on the lines without a quote, summed from the top.
    plain = pl.when(~pl.col("_quoted")).then(pl.col(RAW).str.count_matches(",", literal=True))
    summed = text.select(plain.fill_null(0).cast(pl.Int64).cum_sum()).to_series()
    quoted = text.with_row_index("_at").filter("_quoted")
    # Between one line with a quote and the next (in one span: each ends at a closing line).
    between = summed.gather(quoted.get_column("_at")).diff().shift(-1).fill_null(0)
    rest_ends, rest_commas = _readings(quoted.select(LINE, RAW), between, closers)
    # The reading after the opener: from its next line, inside a quoted value, which reaches
    # the first line with a quote after it passing nothing.
    at = quoted.get_column(LINE).search_sorted(read.get_column(LINE) + 1).cast(pl.Int64)
    after = quoted.height + at
    opener = pl.DataFrame(
        {
            RAW: raw.gather(read.get_column(LINE) - first),
            "_ends": rest_ends.gather(after),
            "_rest": rest_commas.gather(after),
        }
    )
    opener = opener.with_columns(line_end_states(opener, pl.col(RAW)))
    return opener.select(
        (
            (pl.col("_state") == _IN_QUOTES)
            & pl.col("_ends")
            & (pl.col("_commas") + pl.col("_rest") == width - 1)
        ).fill_null(False)
    ).to_series()


def _readings(
    lines: pl.DataFrame, between: pl.Series, closers: pl.Series
) -> tuple[pl.Series, pl.Series]:
    """For each line with a quote (line, raw, in order, each span ending at a closing line)
    and each way of entering it (at its place inside an unquoted value, at the number of lines
    plus its place inside a quoted one): whether the reading from there ends a row at the
    closing line, and the commas between fields it passes up to there. `between` is the
    commas an unquoted reading passes after each line, up to the next line with a quote.

    Each (line, way in) leads to the next such line's way in, or ends the reading (at a
    closing line, or at text after a closing quote); pointer jumping follows every such chain
    at once, doubling the steps each round, so the rounds are the logarithm of the longest."""
    count = lines.height
    sentinel = 2 * count
    lines = lines.with_columns(
        pl.col(LINE).is_in(closers.implode()).alias("_closing"), between.alias("_between")
    )
    closing = pl.col("_closing")
    ways = []
    for before in ("x", '"'):  # inside an unquoted value, then inside a quoted one
        states = line_end_states(lines, pl.concat_str(pl.lit(before), pl.col(RAW)))
        read = states.with_columns(lines.get_column("_closing"), lines.get_column("_between"))
        ended = closing | pl.col("_state").is_in([_BROKEN, _QUOTE_CLOSED])
        inside = pl.col("_state") == _IN_QUOTES
        ways.append(
            read.select(
                pl.when(ended)
                .then(sentinel)
                .otherwise(pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + count * inside)
                .alias("_next"),
                (
                    pl.col("_commas")
                    + pl.when(ended | inside).then(0).otherwise(pl.col("_between"))
                ).alias("_commas"),
                pl.when(ended).then(closing & pl.col("_state").is_in(_ENDS_A_ROW)).alias("_ends"),
            )
        )
    tail = pl.DataFrame(
        {"_next": [sentinel], "_commas": [0], "_ends": [None]},
        schema={"_next": pl.Int64, "_commas": pl.Int64, "_ends": pl.Boolean},
    )
    nodes = pl.concat([*ways, tail])
    step, passed, ends = (nodes.get_column(c) for c in ("_next", "_commas", "_ends"))
    while (step != sentinel).any():
        passed = passed + passed.gather(step)
        ends = ends.fill_null(ends.gather(step))
        step = step.gather(step)
    return ends.fill_null(False), passed


def line_end_states(frame: pl.DataFrame, text: pl.Expr) -> pl.DataFrame:
    """Each text (`text` over `frame`) read from the start of a field by the grammar: the state
    at its end (`_state`) and the commas it passed between fields (`_commas`)."""
    # The parts as columns first: their fields read from the struct in each expression below
    # cost the whole split again each time (0.9 s, not 0.4 s, for 2,000,000 lines).
    parts = frame.select(text.str.extract_groups(_FIELDS_THEN_REST).alias("_parts"))
    whole, rest = pl.col("1"), pl.col("2")
    state = (
        pl.when(rest == "")
        .then(_FIELD_START)
        # Not a quote, not a comma (an empty field and its comma are whole fields): an unquoted
        # value running to the end, as it holds no comma either.
        .when(~rest.str.starts_with('"'))
        .then(pl.when(rest.str.contains(",", literal=True)).then(_BROKEN).otherwise(_UNQUOTED))
        .when(rest.str.contains(_QUOTED_WHOLE))
        .then(_QUOTE_CLOSED)
        .when(rest.str.contains(_QUOTED_OPEN))
        .then(_IN_QUOTES)
        .otherwise(_BROKEN)
    )
    return parts.unnest("_parts").select(
        state.cast(pl.Int8).alias("_state"),
        whole.str.count_matches(_FIELD_AND_COMMA).cast(pl.Int64).alias("_commas"),
    )


def _joined(body: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """Each record's lines joined by line breaks (line: its first, _end: its last, raw)."""
    return (
        records.select(
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


def _strays(body: pl.DataFrame, stray: pl.DataFrame) -> pl.DataFrame:
    """The stray openers (line, raw, reason), their sentences made by Polars."""
    set_aside = stray.join(body.select(LINE, RAW), on=LINE, maintain_order="left")
    return set_aside.select(LINE, RAW, _stray_reason().alias("reason"))


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
