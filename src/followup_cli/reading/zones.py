"""Parquet timestamps in a time zone Polars does not know (SPEC 2: unknown columns are ignored).

pandas writes a fixed offset of its own (`+05:30`, `-03:30`, `+05:45`), which Polars' time zone
database lacks (it knows `+01:00` and the IANA names). Reading the schema of a file holding one,
in any column, made Polars panic ("unable to parse time zone"), so a gym in India could not run
at all. `POLARS_IGNORE_TIMEZONE_PARSE_ERROR` lets Polars read such a schema; every operation on
the column itself still fails or panics, so `wall_times` replaces it, before anything reads it,
with the wall time it stands for (what `replace_time_zone(None)` gives for a zone Polars knows):
its instant plus the offset. A zone that is no offset and not known is refused in a column the
run reads, and read as UTC wall time in any other (ignored, or only carried).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from functools import cache

import polars as pl

from followup_cli.core.errors import InputFileError
from followup_cli.core.schema import matched_name

# Read by Polars each time it parses a zone: set for the whole process, once this is imported.
os.environ.setdefault("POLARS_IGNORE_TIMEZONE_PARSE_ERROR", "1")

_OFFSET = re.compile(r"([+-])([01][0-9]|2[0-3]):?([0-5][0-9])")
_PER_MINUTE = {"ns": 60 * 10**9, "us": 60 * 10**6, "ms": 60 * 10**3}


def wall_times(
    frame: pl.LazyFrame, schema: pl.Schema, file: str, read: Collection[str]
) -> pl.LazyFrame:
    """`frame` with each timestamp column in a zone Polars does not know replaced by its wall
    time (see the module); `read` names the columns the run reads, where an unknown zone that
    is no offset is refused (InputFileError naming `file` and the column)."""
    replaced = []
    for at, (name, dtype) in enumerate(schema.items()):
        if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
            continue
        zone = dtype.time_zone
        if known(zone):
            continue
        unit = dtype.time_unit or "us"
        offset = _OFFSET.fullmatch(zone)
        # A Parquet file cannot repeat a column name: none of its names is a repeat.
        if offset is None and matched_name(name, read, ()) in read:
            raise InputFileError(
                f"{file}: column {name} is stored in the time zone {zone!r}, which is neither "
                f"a zone name nor an offset such as +05:30; re-export it in UTC or without a "
                f"time zone"
            )
        minutes = 0
        if offset is not None:
            sign, hours, mins = offset.groups()
            minutes = (1 if sign == "+" else -1) * (int(hours) * 60 + int(mins))
        shift = pl.lit(minutes * _PER_MINUTE[unit], dtype=pl.Int64)
        # By place: a column named `*` or `^a$` is not a pattern here.
        wall = (pl.nth(at).to_physical() + shift).cast(pl.Datetime(unit))
        replaced.append(wall.alias(name))
    return frame.with_columns(replaced) if replaced else frame


@cache
def known(zone: str) -> bool:
    """Whether Polars' own time zone database has `zone`."""
    try:
        pl.select(pl.lit(0, dtype=pl.Int64).cast(pl.Datetime("us", zone))).item()
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return False
    return True
