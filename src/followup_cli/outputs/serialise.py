"""A frame's bytes in each output format (SPEC 5 and 9): CSV, Parquet, JSON Lines or a workbook,
always the same bytes for the same rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import BinaryIO

import polars as pl

from followup_cli.outputs.workbook import Sheets, write_workbook
from followup_cli.outputs.writing import Fill, write_together

UNDATED = dt.date(1980, 1, 1)  # a workbook's creation date when no as-of date is given

PARQUET_ROW_GROUP_ROWS = 262_144


def _serialise(
    frame: pl.DataFrame | pl.LazyFrame,
    fmt: str,
    sink: BinaryIO,
    bom: bool = False,
    sheets: Sheets | None = None,
) -> None:
    """`frame` as `fmt` into `sink`. Rows not in memory (a LazyFrame) stream through Polars'
    sinks, which write the same bytes as its writers (checked in the tests)."""
    if fmt == "xlsx":
        rows = frame if isinstance(frame, pl.DataFrame) else frame.collect()
        write_workbook(sink, rows, sheets or Sheets(as_of=UNDATED))
        return
    lazy = frame.lazy()
    if fmt == "csv":
        lazy.sink_csv(sink, date_format="%Y-%m-%d", include_bom=bom)
    elif fmt == "parquet":
        # Row groups of a fixed size, not one per chunk of the frame: Polars cuts pages at the
        # frame's chunk boundaries, which the streaming engine draws differently run to run and
        # --buckets differently again (two runs at 1M people gave files of 10,012,569 and
        # 10,010,525 bytes with the same rows).
        lazy.sink_parquet(sink, statistics=False, row_group_size=PARQUET_ROW_GROUP_ROWS)
    else:
        # JSON has no exact decimal: money goes as text ("-4.00") so no reader turns it into
        # a binary float.
        schema = lazy.collect_schema()
        money = [c for c, t in schema.items() if isinstance(t, pl.Decimal)]
        lazy.with_columns(pl.col(money).cast(pl.String)).sink_ndjson(sink)


def frame_writer(
    frame: pl.DataFrame | pl.LazyFrame,
    fmt: str,
    *,
    bom: bool = False,
    sheets: Sheets | None = None,
) -> Fill:
    """What writes `frame` as `fmt` into an open file: one member of a set for write_together.

    `bom` starts a CSV with a UTF-8 BOM; `sheets` is what a workbook holds beside the lists.
    """
    return lambda sink: _serialise(frame, fmt, sink, bom, sheets)


def write_frame(
    frame: pl.DataFrame,
    path: Path | None,
    fmt: str,
    *,
    bom: bool = False,
    sheets: Sheets | None = None,
) -> None:
    """Write `frame` to `path` atomically, or to standard output when path is None."""
    write_together([(path, frame_writer(frame, fmt, bom=bom, sheets=sheets))])
