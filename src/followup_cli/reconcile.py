"""The whole job: exports in, one labelled row per person out (SPEC 5).

`reconcile` is the pure core: validated tables and an as-of date in, a lazy frame out.
`run` adds what the command needs around it: reading, validating, stage timings and counts,
and reconciles through `reconcile` itself, so the tests and the command run one path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from followup_cli import followup, money
from followup_cli.ledger import LedgerSettings, accounts
from followup_cli.loading import RawTable, read_table
from followup_cli.locate import locate_tables
from followup_cli.schema import CUST, LINE, OUTPUT_COLUMNS, TABLES
from followup_cli.validation import TableCount, Validated, validate


def people_facts(tables: Validated, as_of: dt.date, settings: LedgerSettings) -> pl.LazyFrame:
    """One row per person with every fact the rules read (ledger, agreements, events), in
    cust_idx order."""
    tables.check_as_of(as_of)
    agreements = tables.agreements.lazy()
    ledger = accounts(agreements, tables.payments.lazy(), as_of, settings)
    people = tables.customers.height
    facts = [
        followup.agreement_facts(agreements),
        ledger,
        followup.event_facts(tables.events.lazy(), as_of),
        tables.data_issues.lazy(),
    ]
    return (
        pl.concat(
            [tables.customers, *[_per_person(found, people) for found in pl.collect_all(facts)]],
            how="horizontal",
        )
        .lazy()
        .with_columns(pl.col("has_agreement").fill_null(False))
    )


def _per_person(facts: pl.DataFrame, people: int) -> pl.DataFrame:
    """`facts` (at most one row per cust_idx) as one row per person, in cust_idx order, null
    where a person has none: cust_idx is the row number, so a gather replaces a join and a
    sort."""
    rows = pl.repeat(None, people, dtype=pl.UInt32, eager=True).scatter(
        facts.get_column(CUST), pl.int_range(facts.height, dtype=pl.UInt32, eager=True)
    )
    return facts.drop(CUST).select(pl.all().gather(rows))


# A stage of the run, timed by whoever passes it: `stage("ledger")` wraps the ledger's work.
Stage = Callable[[str], AbstractContextManager[None]]


def reconcile(
    tables: Validated, as_of: dt.date, settings: LedgerSettings, *, stage: Stage | None = None
) -> pl.LazyFrame:
    """The labelled output, one row per person in the customers file's order.

    `tables` must have been validated as of the same day (`Validated.as_of`): rows after
    another day were already left out or kept. With `stage`, the ledger and rule facts are
    computed inside `stage("ledger")` and the returned frame only labels them, so a caller
    that collects it inside its own `"statuses"` stage can time both.
    """
    if stage is None:
        return label(people_facts(tables, as_of, settings))
    # Inside the stage: the rule facts are partly computed while the plan is built.
    with stage("ledger"):
        facts = people_facts(tables, as_of, settings).collect().lazy()
    return label(facts)


# Output columns that are not a fact's column as it is.
_OUTPUT = {
    "balance": money.as_decimal(pl.col("balance_cents")).alias("balance"),
    "past_due": money.as_decimal(pl.col("past_due_cents")).alias("past_due"),
    "data_issues": pl.col("data_issues").fill_null(0),
}


def label(facts: pl.LazyFrame) -> pl.LazyFrame:
    """The output columns (schema.OUTPUT_COLUMNS) from the facts, with the rules' verdicts."""
    return (
        facts.with_columns(followup.decide())
        .sort(CUST)
        .select(_OUTPUT.get(name, pl.col(name)) for name in OUTPUT_COLUMNS)
    )


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
        return self._whole.drop(LINE)

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
) -> tuple[Validated, dict[str, float], dict[str, RawTable]]:
    """`load`, also handing back each table as read (for the summary and the run report)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    located = locate_tables(data_dir, overrides, without)
    raw = {name: read_table(TABLES[name], located[name]) for name in TABLES}
    timings["read"] = time.perf_counter() - started
    started = time.perf_counter()
    validated = validate(raw, as_of)
    timings["validate"] = time.perf_counter() - started
    return validated, timings, raw


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
    validated, timings, raw = read_and_validate(data_dir, overrides, as_of, without)
    stage = stopwatch(timings, step)
    labelled = reconcile(validated, as_of, settings, stage=stage)
    with stage("statuses"):
        output = labelled.collect()
    lines = validated.customers.sort(CUST).get_column(LINE)
    return RunResult.held(
        output,
        lines,
        validated.rejects,
        counts=validated.counts,
        timings=timings,
        inputs=raw,
        newest=newest(validated, as_of),
    )


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


def newest(tables: Validated, as_of: dt.date) -> dict[str, dt.date | None]:
    """The latest payment date and past event date: an export that stopped moving shows here."""
    past = tables.events.select(pl.col("starts_at").dt.date()).filter(pl.col("starts_at") <= as_of)
    paid: dt.date | None = tables.payments.select(pl.col("paid_on").max()).item()
    held: dt.date | None = past.select(pl.col("starts_at").max()).item()
    return {"payments": paid, "events": held}
