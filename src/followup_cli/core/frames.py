"""Whole frames as Polars 2's eager API makes them dearer or less safe than they need be.

A frame collected by the streaming engine comes in many chunks, and a column added to it
afterwards (a row's line, a Series computed apart) in others. On a frame whose columns are
chunked differently an eager `DataFrame.drop` rechunks every column it keeps, a copy (20 ms
and 0.15 GB for a million people's output, made three times by a nightly run); taking the
columns as they are copies nothing. And the rule facts' picks, each value gathered from a
column of a million rows through an eager select, took 0.03 s a part where one in-memory
query takes 0.017 s (docs/performance.md, round five's third pass). Rows filtered out of a
frame chunked differently keep empty chunks, over which Polars 2.1's `pl.format` panics
(`aligned`): every rejects reason built from such rows goes through it.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
import polars.selectors as cs


def without(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    """`frame` less the columns `names` (each must be there, as for `drop`), the others
    shared, not copied; as many rows as `frame`, even with no column left."""
    missing = sorted(set(names) - set(frame.columns))
    if missing:
        raise pl.exceptions.ColumnNotFoundError(f"no such columns: {missing}")
    kept = [column for column in frame.get_columns() if column.name not in names]
    return pl.DataFrame(kept) if kept else frame.drop(*names)  # nothing left to copy


def aligned(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` safe for Polars 2.1's text functions: as it is when it has no columns, or when
    its columns are chunked alike and either hold one chunk (an empty frame's one chunk
    included) or no empty chunk; else rechunked. An eager filter of a frame whose columns are
    chunked differently (a line column of one chunk beside values in many) leaves empty
    chunks between the others, over which `pl.format` panics ("assertion failed: i <
    self.len()"); a frame collected by the streaming engine is chunked alike and is not
    copied."""
    lengths = [column.chunk_lengths() for column in frame.get_columns()]
    alike = all(chunks == lengths[0] for chunks in lengths)
    if not lengths or (alike and (len(lengths[0]) == 1 or 0 not in lengths[0])):
        return frame
    return frame.rechunk()


def gathered(frame: pl.DataFrame, columns: Iterable[pl.Expr]) -> pl.DataFrame:
    """`columns`, expressions over `frame` that each gather rows from it (`pl.col(c).gather(at)`,
    a null index giving a null), computed together in one in-memory query."""
    return frame.lazy().select(*columns).collect(engine="in-memory")


def free_name(name: str, taken: Iterable[str]) -> str:
    """`name`, or `name_1`, `name_2`, ... if taken: an inner column beside columns a person
    names (a carried `_split_value` was once joined over by the split's own)."""
    used = set(taken)
    free, suffix = name, 0
    while free in used:
        suffix += 1
        free = f"{name}_{suffix}"
    return free


def column(*names: str) -> pl.Expr:
    """The columns named `names`, exactly: `pl.col` reads `*` as every column and `^...$` as a
    pattern, and a carried column, a list or a header may be named so (`--carry '*'` stopped the
    run with an internal error)."""
    return cs.by_name(*names).as_expr()
