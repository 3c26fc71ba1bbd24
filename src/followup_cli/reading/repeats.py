"""Repeated ids (SPEC 2): a row whose agreement, payment, event or customer id an earlier line
of its table has is set aside, naming that first line. Ids are hashed once (`id_hashes`),
equal hashes are only candidates, and the candidates' ids are read again from the file and
compared as matched (`normalise_id`), so a hash collision never sets a row aside. Usually
the whole-column figures prove there is none to find (`whole_column.ids_distinct`: the ids
listed in order, all in one case) and no row is hashed. One pass finds them in
`validation`; --buckets finds the candidates across buckets in its first pass and hands
validation the result."""

from __future__ import annotations

import polars as pl

from followup_cli.core.schema import LINE, normalise_id
from followup_cli.core.tables import KEY, KEY_HASH
from followup_cli.reading.file_query import collect
from followup_cli.reading.loading import RawTable

FIRST_LINE = "_first_line"
# A table's repeated ids: each later line holding an id (LINE) and the first line with it.
REPEATS_SCHEMA = {LINE: pl.Int64, FIRST_LINE: pl.Int64}


def repeated_hashes(hashes: pl.Series) -> pl.Series:
    """The hashes (nulls aside) that more than one row has."""
    hashes = hashes.drop_nulls()
    if hashes.n_unique() == hashes.len():  # the usual case, told by one cheap count
        return hashes.clear()
    # Sorted, a repeated hash sits beside itself: six times faster than is_duplicated.
    ordered = hashes.sort()
    return ordered.filter(ordered == ordered.shift(1)).unique()


def candidates(rows: pl.DataFrame) -> pl.DataFrame:
    """LINE of the `rows` (LINE, KEY_HASH) whose hash another row has."""
    repeated = repeated_hashes(rows.get_column(KEY_HASH))
    return rows.filter(pl.col(KEY_HASH).is_in(repeated.implode())).select(LINE)


def confirmed(raw: RawTable, lines: pl.DataFrame) -> pl.DataFrame:
    """The candidate `lines` of `raw` whose id an earlier line has (REPEATS_SCHEMA): their ids
    read again from the file and compared as matched. An id blank after trimming is missing,
    not a repeat: that row is refused as missing."""
    if lines.height == 0:
        return pl.DataFrame(schema=REPEATS_SCHEMA)
    key = raw.table.key.name
    query = raw.frame.join(lines.lazy(), on=LINE, how="semi").select(
        LINE, normalise_id(pl.col(key).cast(pl.String)).alias(KEY)
    )
    return (
        collect(query, raw)
        .filter(pl.col(KEY).str.len_bytes() > 0)
        .with_columns(pl.col(LINE).min().over(KEY).alias(FIRST_LINE))
        .filter(pl.col(LINE) != pl.col(FIRST_LINE))
        .select(LINE, FIRST_LINE)
        .sort(LINE)
    )
