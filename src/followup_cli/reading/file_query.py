"""Running a query over an export file: a Parquet file damaged past its footer is only found
when its pages are read, and is then named as the file that cannot be read (SPEC 6)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import polars as pl

from followup_cli.reading.loading import PARQUET_READ_ERRORS, RawTable, cannot_be_read


@contextlib.contextmanager
def naming_the_file(raw: RawTable) -> Iterator[None]:
    """A damaged Parquet file's error, or a panic in Polars' reader (see
    `loading.PARQUET_READ_ERRORS`), raised inside: said of `raw`'s file, not an internal
    error (one pass's queries, the buckets' first pass)."""
    try:
        yield
    except PARQUET_READ_ERRORS as exc:
        if raw.format != "parquet":
            raise
        raise cannot_be_read(raw.file_label, exc) from exc


def collect(query: pl.LazyFrame, raw: RawTable) -> pl.DataFrame:
    """Run a query over `raw`'s file, naming the file when it is damaged."""
    with naming_the_file(raw):
        return query.collect()
