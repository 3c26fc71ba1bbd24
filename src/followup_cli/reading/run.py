"""One pass over the exports (SPEC 5): read, validate, reconcile through the core's
`reconcile`, with stage timings and counts, so the tests and the command run one path."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from followup_cli.core import frames, pipeline
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.pipeline import Stage
from followup_cli.core.schema import CUST, LINE, TABLES
from followup_cli.core.tables import Handed, TableCount, Validated
from followup_cli.reading.loading import Exports, RawTable
from followup_cli.reading.locate import locate_tables
from followup_cli.reading.validation import validate


@dataclass
class RunResult:
    """A run's results. `rows` is the output, one row per person in the customers file's
    order, with each row's line in the customers file (LINE) as its last column: in memory
    after one pass; after a bucketed run (SPEC 10) read from the buckets' files as it is
    consumed, so that a file written from it streams and never holds every person at once.
    `unordered` is the same rows in any order, for sums and counts."""

    rows: pl.LazyFrame
    people: int
    rejects: pl.DataFrame
    counts: tuple[TableCount, ...]
    timings: dict[str, float] = field(default_factory=dict)
    # Each table as read (path, format, unknown columns; path None: run --without it).
    inputs: Mapping[str, RawTable] = field(default_factory=dict)
    # The newest payment and past event on or before the as-of date (health checks, SPEC 8).
    newest: dict[str, dt.date | None] = field(default_factory=dict)
    unordered: pl.LazyFrame | None = None
    buckets: int = 1  # the customer buckets it ran in (SPEC 10); 1: one pass

    @classmethod
    def held(
        cls, output: pl.DataFrame, lines: pl.Series, rejects: pl.DataFrame, **rest: Any
    ) -> RunResult:
        """A result whose output is in memory already (one pass)."""
        rows = output.with_columns(lines.alias(LINE)).lazy()
        return cls(rows, output.height, rejects, **rest)

    @functools.cached_property
    def _whole(self) -> pl.DataFrame:
        return self.rows.collect()

    @property
    def output(self) -> pl.DataFrame:
        """The whole output in memory, for what needs every row at once (a sort, a workbook,
        a comparison): after a bucketed run, collected on first use."""
        return frames.without(self._whole, LINE)

    @property
    def customer_lines(self) -> pl.Series:
        """Each output row's line in the customers file (row i of output is line lines[i])."""
        return self._whole.get_column(LINE)

    @property
    def streamed(self) -> pl.LazyFrame:
        """The output columns, in order, without collecting them (see `rows`)."""
        return self.rows.drop(LINE)

    @property
    def any_order(self) -> pl.LazyFrame:
        """The output rows with LINE, in whatever order is cheapest to read."""
        return self.rows if self.unordered is None else self.unordered


Progress = Callable[[str], None]


def load(
    data_dir: Path,
    overrides: Mapping[str, Path | None],
    as_of: dt.date,
    without: Collection[str] = (),
) -> tuple[Validated, dict[str, float]]:
    """Read and validate every table; the two stages' wall times in seconds."""
    validated, timings, _raw = read_and_validate(data_dir, overrides, as_of, without)
    return validated, timings


def read_and_validate(
    data_dir: Path,
    overrides: Mapping[str, Path | None],
    as_of: dt.date,
    without: Collection[str] = (),
    *,
    payment_ids: bool = True,
) -> tuple[Validated, dict[str, float], dict[str, RawTable]]:
    """`load`, also handing back each table as read (for the summary and the run report);
    `payment_ids` as `validation.validate`'s."""
    started = time.perf_counter()
    exports = Exports(locate_tables(data_dir, overrides, without))
    looked, read_before = time.perf_counter() - started, exports.reading
    started = time.perf_counter()
    validated = validate(exports, as_of, payment_ids=payment_ids)
    # A CSV file is split when validation comes to it; that time is still the read stage's.
    split = exports.reading - read_before
    timings = {"read": looked + split, "validate": time.perf_counter() - started - split}
    return validated, timings, {name: exports[name] for name in TABLES}


def run(
    data_dir: Path,
    overrides: Mapping[str, Path | None],
    as_of: dt.date,
    settings: LedgerSettings,
    progress: Progress | None = None,
    without: Collection[str] = (),
) -> RunResult:
    """Read, validate and reconcile, reporting each stage's name to `progress` as it starts."""
    step = progress or (lambda _stage: None)
    step("read")
    # The payments' own ids are left out of the tables: the rules never read them.
    validated, timings, raw = read_and_validate(
        data_dir, overrides, as_of, without, payment_ids=False
    )
    tally, rejects, lines = Tally.of(validated, as_of), validated.rejects, customer_lines(validated)
    tables = validated.hand_over()
    del validated  # so each table goes once its facts are computed (`Handed`)
    output = reconciled(tables, as_of, settings, stopwatch(timings, step))
    return RunResult.held(
        output,
        lines,
        rejects,
        counts=tally.counts,
        timings=timings,
        inputs=raw,
        newest=tally.newest,
    )


def reconciled(
    tables: Handed, as_of: dt.date, settings: LedgerSettings, stage: Stage
) -> pl.DataFrame:
    """The labelled output of validated tables, in cust_idx order: the one composition of
    the core's pipeline, for one pass and for each bucket (SPEC 10)."""
    return pipeline.reconcile(tables, as_of, settings, stage=stage).collect()


def customer_lines(tables: Validated) -> pl.Series:
    """Each person's line in the customers file, in cust_idx order (the output's order)."""
    return tables.customers.select(pl.col(LINE).sort_by(CUST)).to_series()


@dataclass(frozen=True)
class Tally:
    """What validation counted of a run, or of a part of it (a bucket): how every row of each
    file was used, and the newest payment and past event on or before the as-of date (the
    stale-export check, SPEC 8). The parts of one run add up to the run's."""

    counts: tuple[TableCount, ...]
    newest: dict[str, dt.date | None]

    @classmethod
    def of(cls, tables: Validated, as_of: dt.date) -> Tally:
        events = tables.events.select(pl.col("starts_at").dt.date())
        past = events.filter(pl.col("starts_at") <= as_of)
        paid: dt.date | None = tables.payments.select(pl.col("paid_on").max()).item()
        held: dt.date | None = past.select(pl.col("starts_at").max()).item()
        return cls(tables.counts, {"payments": paid, "events": held})

    def __add__(self, other: Tally) -> Tally:
        counts = {count.table: count for count in self.counts}
        for count in other.counts:
            counts[count.table] = counts[count.table] + count if count.table in counts else count
        days = dict(self.newest)
        for name, day in other.newest.items():
            held = days.get(name)
            days[name] = day if held is None or (day is not None and day > held) else held
        return Tally(tuple(counts.values()), days)


def stopwatch(timings: dict[str, float], progress: Progress | None = None) -> Stage:
    """A `Stage` that records each stage's wall time in `timings` and names it to `progress`."""

    @contextlib.contextmanager
    def stage(name: str) -> Iterator[None]:
        if progress is not None:
            progress(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            timings[name] = time.perf_counter() - started

    return stage
