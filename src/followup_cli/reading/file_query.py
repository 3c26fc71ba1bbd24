"""Running a query over an export file: a Parquet file damaged past its footer is only found
when its pages are read, and is then named as the file that cannot be read (SPEC 6)."""

from __future__ import annotations

import polars as pl

from followup_cli.reading.loading import PARQUET_READ_ERRORS, RawTable, cannot_be_read


def collect(query: pl.LazyFrame, raw: RawTable) -> pl.DataFrame:
    """Run a query over `raw`'s file; a damaged Parquet file's error, or a panic in Polars'
    reader (see `loading.PARQUET_READ_ERRORS`), is said of the file."""
    try:
        return query.collect()
    except PARQUET_READ_ERRORS as exc:
        if raw.format != "parquet":
            raise
        raise cannot_be_read(raw.file_label, exc) from exc
