"""Quoted values spanning lines, decided by whole-column work (`reading.csv_records`), held to
the verdicts of the reader's earlier Python loop (`tests/csv_records_oracle.py`) on any lines
of quotes, commas, letters and blanks: which openers start a record, where it ends, and why
each other opener is set aside.

The loop took about 5 microseconds and 400 bytes a line: a quoted value of 2,000,000 lines
took 6 s and 0.95 GB, 2,000,000 one-quote lines 12 s and 1.2 GB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followup_cli.reading import csv_records
from followup_cli.reading.csv_grammar import CLOSES, OPENS, RAW, split_fields
from followup_cli.reading.csv_lines import physical_lines
from tests import csv_records_oracle as oracle
from tests.child import in_child
from tests.conftest import HEADERS


def _both(lines: list[str], width: int, key_index: int | None = 0) -> tuple[Any, Any]:
    """The new reader's and the oracle's (records, strays) for these lines after a header,
    given the openers, closers and whole rows as `csv_reader` finds them."""
    body = pl.DataFrame({RAW: lines}).with_row_index("_line", offset=2)
    body = body.with_columns(pl.col("_line").cast(pl.Int64))
    edges = body.filter(pl.col(RAW).str.contains('"', literal=True)).select(
        "_line",
        pl.col(RAW).str.contains(OPENS).alias("_opens"),
        pl.col(RAW).str.contains(CLOSES).alias("_closes"),
    )
    openers = edges.filter("_opens").get_column("_line")
    closers = edges.filter("_closes").get_column("_line")
    split = split_fields(body.filter(pl.col(RAW).str.strip_chars() != ""), width)
    rows = split.filter("_ok")
    if key_index is not None:
        key = pl.col("_parts").list.get(key_index, null_on_oob=True)
        rows = rows.filter(key.str.strip_chars('" ') != "")
    row_lines = rows.get_column("_line")
    new = csv_records.multi_line_records(body, openers, closers, row_lines, width)
    old = oracle.multi_line_records(body, openers, closers, row_lines, width)
    return new, old


def _same(new: tuple[pl.DataFrame, pl.DataFrame], old: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    for mine, theirs in zip(new, old, strict=True):
        assert mine.columns == theirs.columns
        assert mine.sort("_line").rows() == theirs.sort("_line").rows()


_PIECES = st.sampled_from(['"', '""', ",", "x", "y,", ',"', '",', " ", ""])
_LINE = st.lists(_PIECES, max_size=6).map("".join)


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(_LINE, min_size=1, max_size=14), width=st.integers(1, 4))
def test_the_records_and_strays_are_the_earlier_readers(lines: list[str], width: int) -> None:
    _same(*_both(lines, width))


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(_LINE, min_size=1, max_size=10), width=st.integers(1, 3))
def test_the_same_without_a_key_column(lines: list[str], width: int) -> None:
    _same(*_both(lines, width, key_index=None))


@pytest.mark.parametrize(
    "lines",
    [
        # A line that closes one value and opens the next (`x,"`), in runs, where whether it
        # opens anything depends on whether the record before it ends there.
        ['a,"', 'x,"', 'x,"', 'x,"', "z", 'b"'],
        ['a,"', 'x,"', "z", 'x,"', 'y,"', "w", 'q"'],
        ['"', '"', '"', '"', '"'],
        ['x,"', 'x,"', 'x,"'],
        # 20,000 openers aiming at one far closer (`x",y,"z` runs on validly to `w"`).
        ['x",y,"z'] * 2_000 + ['w"'],
        ['"x'] * 500 + ['y"'],
    ],
    ids=["closing-opening-run", "two-runs", "one-quote-lines", "no-closer", "far-closer", "ragged"],
)
@pytest.mark.parametrize("width", [1, 2, 3, 5])
def test_chosen_shapes_agree_with_the_earlier_reader(lines: list[str], width: int) -> None:
    _same(*_both(lines, width))


_PY_PIECES = st.sampled_from(['"', '""', ",", "a", "é", '"a', 'a"', ',"', " "])


@settings(max_examples=500, deadline=None)
@given(texts=st.lists(st.lists(_PY_PIECES, max_size=8).map("".join), min_size=1, max_size=20))
def test_a_line_s_end_state_is_the_grammar_s(texts: list[str]) -> None:
    """The whole-column reading of a line (state at its end, commas passed) is the earlier
    Python reading's, for text read from a field's start, inside a quoted value, and after
    unquoted text."""
    for before in ("", '"', "x"):
        framed = [before + text for text in texts]
        got = csv_records.line_end_states(pl.DataFrame({"t": framed}), pl.col("t")).rows()
        assert got == [oracle._line_end_state(text) for text in framed]


# Reads a file in a child process, with its peak memory and what the reader decided.
_PEAK_IN_CHILD = """
import sys
from pathlib import Path
from followup_cli.reading.csv_reader import read_csv
frame, rejects = read_csv(Path(sys.argv[1]), "payment_id")
longest = frame.get_column("kind").str.len_chars().max()
result = {"rows": frame.height, "rejects": rejects.height, "longest": longest}
"""


def test_a_value_of_a_million_lines_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """One quoted value over 1,000,000 lines (2 MB): one row, its value whole. The Python
    loop's remembered readings took about 400 bytes a line."""
    path = tmp_path / "payments.csv"
    path.write_text(
        HEADERS["payments"] + '\nP-1,C-1,2024-03-01,4.00,"start\n' + "a\n" * 1_000_000 + 'end"\n'
    )
    result = in_child(_PEAK_IN_CHILD, str(path))
    assert (result["rows"], result["rejects"]) == (1, 0)
    assert result["longest"] == len("start\n") + 2 * 1_000_000 + len("end")
    # The loop's run peaked at 513 MB here, the whole-column reading at 321 MB.
    assert result["peak_mb"] < 430, result["peak_mb"]


def test_physical_lines_and_the_reader_agree_on_a_file(tmp_path: Path) -> None:
    """End to end through the reader: a value over three lines between two rows is one row."""
    path = tmp_path / "payments.csv"
    path.write_text(
        HEADERS["payments"] + "\nP-1,C-1,2024-03-01,4.00,recurring\n"
        'P-2,C-1,2024-03-02,4.00,"one\ntwo\nthree"\nP-3,C-1,2024-03-03,4.00,recurring\n'
    )
    lines = physical_lines(path)
    assert lines.height == 6
    from followup_cli.reading.csv_reader import read_csv

    frame, rejects = read_csv(path, "payment_id")
    assert frame.select("_line", "kind").rows() == [
        (2, "recurring"),
        (3, "one\ntwo\nthree"),
        (6, "recurring"),
    ]
    assert rejects.is_empty()


def test_lines_without_a_quote_are_counted_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken value then 200,000 blank lines before its closing line: the earlier loop
    stopped at the break; the first whole-column reading read every line of the span twice
    and jumped over them all (20,000,000 blank lines: 66 s, against 2.5 s). Only the lines
    with a quote are read now, and the verdicts are the loop's."""
    read = lines_read(monkeypatch)
    lines = ['P1,a,b,"', 'x"y', *[""] * 200_000, "plain, text", 'end"', "P2,a,b,c"]
    _same(*_both(lines, 4))
    assert read == [2]


def lines_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many lines each reading of the grammar (`csv_records._readings`) is given, from now
    on in this test: work, not time."""
    read: list[int] = []
    real = csv_records._readings

    def counted(
        lines: pl.DataFrame, between: pl.Series, closers: pl.Series
    ) -> tuple[pl.Series, pl.Series]:
        read.append(lines.height)
        return real(lines, between, closers)

    monkeypatch.setattr(csv_records, "_readings", counted)
    return read
