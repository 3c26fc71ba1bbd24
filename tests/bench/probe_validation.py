"""How validating the payments would fare if each table were read once (issue 23, seventh pass).

A probe for deciding a design, not a benchmark of the product: it times validation's work on
the payments of `make bench`'s 1,000,000-customer Parquet exports three ways, each in a child
process of its own (so each peak is its own), best of --runs:

- `now`: what a run does (`validation._check`): two looks at the whole columns, the distinct
  words, then the typed pass;
- `slices`: one read, typed as if every column were proven clean, streamed in slices of
  1,000,000 rows (`sink_batches`), each slice's figures taken before its rows are kept;
- `whole`: the same read collected whole, the ids with it, then the figures.

The two one-read ways leave out work a run does (a verdict column for each check not proven,
the words mapped from their verdicts), so they are lower bounds. Each way keeps the same rows
(checked). The figures of the seventh pass are in docs/performance.md.

    python tests/bench/probe_validation.py [--runs K]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from followup_cli.core.schema import CUST, LINE
from followup_cli.core.tables import ID, KEY
from followup_cli.reading import validation, whole_column
from followup_cli.reading.calendar_bounds import within_calendar
from followup_cli.reading.loading import Exports, RawTable
from followup_cli.reading.locate import locate_tables

AS_OF = dt.date(2024, 7, 31)
DATA = Path(__file__).resolve().parents[2] / "bench-data" / "data" / "parquet-1000000-seed0"
WAYS = ("now", "slices", "whole")
SLICE_ROWS = 1_000_000


def _figures(rows: pl.DataFrame, raw: RawTable) -> dict[str, Any]:
    """The figures one read would take from typed rows that still hold the payment ids: the
    looks' own (`whole_column.summary`, and `in_order` for the payment ids), with the customer
    ids' replaced by how many matched no one."""
    looked = [
        figure
        for column in raw.table.columns
        if column.name != "customer_id"
        for figure in whole_column.summary(column, rows.schema[column.name], typed=True)
    ]
    key = raw.table.key.name
    return rows.select(
        *looked,
        whole_column.in_order(pl.col(key)).alias(f"{key}:in_order"),
        pl.col("_customer_line").null_count().alias("unmatched"),
    ).row(0, named=True)


def _ways(exports: Exports) -> dict[str, Callable[[], pl.DataFrame]]:
    people = validation._customers(exports["customers"], AS_OF)
    raw = exports["payments"]

    def now() -> pl.DataFrame:
        checked = validation._check(
            raw, AS_OF, people.known, None, people.known_case, keep_key=False
        )
        return checked.used()

    def one_read() -> tuple[pl.LazyFrame, pl.Enum]:
        words = raw.frame.select(pl.col("kind").unique()).collect()  # as now: once per word
        cents = pl.col("amount").to_physical().cast(pl.Int64)  # a proven Decimal(18, 2)
        query = (
            within_calendar(raw)
            .select(LINE, "payment_id", "customer_id", "paid_on", cents.alias("amount"), "kind")
            .join(people.known.lazy().drop(KEY), left_on="customer_id", right_on=ID, how="left")
        )
        return query, pl.Enum(sorted(words.get_column("kind").drop_nulls().to_list()))

    def kept(rows: pl.DataFrame, words: pl.Enum) -> pl.DataFrame:
        present = pl.col(CUST).is_not_null() & (pl.col("paid_on") <= AS_OF)
        return rows.filter(present).select("paid_on", "amount", pl.col("kind").cast(words), CUST)

    def slices() -> pl.DataFrame:
        query, words = one_read()
        parts: list[pl.DataFrame] = []

        def take(rows: pl.DataFrame) -> bool:
            _figures(rows, raw)
            parts.append(kept(rows, words))
            return False  # read on

        query.sink_batches(take, chunk_size=SLICE_ROWS)
        return pl.concat(parts)

    def whole() -> pl.DataFrame:
        query, words = one_read()
        rows = query.collect()
        _figures(rows, raw)
        return kept(rows, words)

    return {"now": now, "slices": slices, "whole": whole}


def child(way: str, runs: int) -> None:
    """Time one way in this process; print its best time, rows and peak."""
    ways = _ways(Exports(locate_tables(DATA, {})))
    best, rows = float("inf"), -1
    for _ in range(runs):
        started = time.perf_counter()
        rows = ways[way]().height
        best = min(best, time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{way}\t{best:.3f}\t{rows}\t{peak}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", choices=WAYS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.runs)
        return
    if not DATA.is_dir():
        raise SystemExit(f"probe: no {DATA}; run `make bench` first to generate the exports")
    found = {}
    for way in WAYS:
        command = [sys.executable, __file__, "--child", way, "--runs", str(args.runs)]
        line = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        name, seconds, rows, peak = line.strip().split("\t")
        found[name] = (float(seconds), int(rows), int(peak))
        print(
            f"{name:7s} best of {args.runs}: {seconds} s, {int(rows):,} rows kept, "
            f"peak {int(peak):,} MB",
            flush=True,
        )
    if len({rows for _, rows, _ in found.values()}) != 1:
        raise SystemExit("probe: the ways kept different rows; the comparison is void")


if __name__ == "__main__":
    main()
