"""`core.frames`: a column dropped without copying the others, and rows gathered from a frame
of many chunks in one query (issue 23: Polars 2's eager `drop` rechunked a million people's
output three times in a nightly run, and `Series.gather` on many chunks made the rule facts'
picks twice as slow)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from followup_cli.core import frames
from followup_cli.core.schema import LINE
from followup_cli.reading.run import RunResult


def _chunked(parts: int = 5, rows: int = 40) -> pl.DataFrame:
    """A frame of `parts` chunks, as the streaming engine collects one (text, a date, money),
    with a column of one chunk added afterwards, as a row's line is."""
    pieces = [
        pl.DataFrame(
            {
                "id": [f"C-{part}-{i}" for i in range(rows)],
                "status": [["Active", "Delinquent", None][i % 3] for i in range(rows)],
                "on": [dt.date(2024, 7, 1 + i % 28) for i in range(rows)],
                "balance": pl.Series([f"{i}.{part}5" for i in range(rows)]).cast(pl.Decimal(18, 2)),
            }
        )
        for part in range(parts)
    ]
    frame = pl.concat(pieces, rechunk=False)
    frame = frame.with_columns(pl.Series("line", range(2, frame.height + 2)))
    assert [c.n_chunks() for c in frame.get_columns()] == [parts] * 4 + [1]
    return frame


def test_without_keeps_the_other_columns_as_they_are() -> None:
    """The columns kept are the frame's own, chunks and all: no copy is made."""
    frame = _chunked()
    kept = frames.without(frame, "on", "line")
    assert kept.columns == ["id", "status", "balance"]
    assert kept.equals(frame.select("id", "status", "balance"))
    # Not rechunked: every column keeps its chunks, as it would not if copied by `drop`.
    assert [c.n_chunks() for c in kept.get_columns()] == [5, 5, 5]


def test_without_several_a_missing_name_and_none_left() -> None:
    """As `drop`: several names at once, a name not there refused, the rows kept when no
    column is left."""
    frame = _chunked()
    assert frames.without(frame, "id", "balance").columns == ["status", "on", "line"]
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="no such columns"):
        frames.without(frame, "nope")
    assert frames.without(frame, *frame.columns).shape == (200, 0)


def test_gathered_equals_a_gather_per_column_with_null_places() -> None:
    """Each column gathered as a Series gather would, a null place giving nulls."""
    frame = _chunked()
    at = pl.Series("at", [199, 0, None, 41, 41, 120, None, 7], dtype=pl.UInt32)
    got = frames.gathered(frame, [pl.col("id", "status", "on", "balance").gather(at)])
    assert got.columns == ["id", "status", "on", "balance"]
    for name in got.columns:
        expected = frame.rechunk().get_column(name).gather(at)
        assert got.get_column(name).equals(expected, null_equal=True), name
    # A person who is not in a frame (a null place) is nulls in every column.
    assert got.row(2) == (None, None, None, None)
    assert got.row(0) == ("C-4-39", "Active", dt.date(2024, 7, 12), frame.row(199)[3])


def test_gathered_keeps_the_names_given() -> None:
    """The expressions' names are the columns' names, in their order."""
    frame = _chunked(parts=2, rows=3)
    at = pl.Series([2, 5], dtype=pl.UInt32)
    got = frames.gathered(frame, [pl.col("id", "on").gather(at).name.suffix("_prev")])
    assert got.columns == ["id_prev", "on_prev"]
    assert got.get_column("id_prev").to_list() == ["C-0-2", "C-1-2"]


def test_run_output_shares_the_held_rows_columns() -> None:
    """The output a nightly run compares, sorts and stores is the held rows less their line,
    not a copy of them (three copies of 0.15 GB at a million people)."""
    rows = _chunked().rename({"line": LINE})
    result = RunResult(rows.lazy(), rows.height, pl.DataFrame(), ())
    output = result.output
    assert output.equals(rows.drop(LINE))
    # Collecting the held rows keeps their chunks; a copy would have made one of each.
    assert [c.n_chunks() for c in output.get_columns()] == [5, 5, 5, 5]
    assert result.customer_lines.to_list() == list(range(2, 202))


def test_aligned_leaves_a_frame_chunked_alike_and_mends_one_that_is_not() -> None:
    """Rows filtered out of values in three chunks beside a line of one keep an empty chunk,
    over which Polars 2.1's pl.format panics; `aligned` rechunks only such a frame."""
    values = frames.without(_chunked(parts=3, rows=10), "line")
    assert frames.aligned(values) is values  # chunked alike: not copied
    # The line first, as the CSV fast path makes its frame.
    line = pl.Series("line", range(2, 32))
    frame = pl.DataFrame([line, *values.get_columns()])
    picked = frame.filter(pl.col("line").is_in([3, 27]))
    assert picked.get_column("id").chunk_lengths() == [1, 0, 1]
    mended = frames.aligned(picked)
    assert [c.n_chunks() for c in mended.get_columns()] == [1] * 5
    shown = mended.select(pl.format("{} at {}", pl.col("id"), pl.col("line")))
    assert shown.to_series().to_list() == ["C-0-1 at 3", "C-2-5 at 27"]
    assert frames.aligned(pl.DataFrame()).shape == (0, 0)
