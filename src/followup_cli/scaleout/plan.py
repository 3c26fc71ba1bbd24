"""What every bucket of a run shares (SPEC 10): the plan the first pass makes, what a bucket
hands back, and what an engine that runs the buckets looks like."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from followup_cli.core.ledger import LedgerSettings
from followup_cli.reading.run import Tally


@dataclass(frozen=True)
class TableShape:
    """One table as read, without its rows: what a bucket needs to read its part the same way."""

    name: str
    path: Path | None
    format: str
    schema: Mapping[str, pl.DataType]
    header: tuple[str, ...]
    unknown_columns: tuple[str, ...]
    structural_schema: Mapping[str, pl.DataType]
    file_label: str


@dataclass(frozen=True)
class Plan:
    """Everything a bucket needs, picklable for Ray: the work folder, the tables' shapes, the
    repeated ids found across buckets, and the rules' settings."""

    work: Path
    buckets: int
    as_of: dt.date
    settings: LedgerSettings
    tables: Mapping[str, TableShape]
    repeats: Mapping[str, pl.DataFrame]
    # The buckets with rows (see `first_pass.occupied`); the others are never run.
    occupied: tuple[int, ...] = ()

    @property
    def to_run(self) -> tuple[int, ...]:
        """The buckets an engine runs, in order: the occupied ones (all, when not known)."""
        return self.occupied or tuple(range(self.buckets))

    def folder(self, table: str) -> Path:
        return self.work / table

    @property
    def outputs(self) -> Path:
        """Where the buckets' outputs go: `r{range}-b{bucket}.arrow`, the rows of one
        bucket whose customers-file line lies in one range of `one_bucket.OUTPUT_LINES`
        lines."""
        return self.work / "output"

    def bucket_files(self, table: str, bucket: int) -> list[Path]:
        """One table's row files of one bucket, in the order the first pass wrote them."""
        return bucket_files(self.folder(table), bucket)

    def bucket_bytes(self, bucket: int) -> int:
        """The bucket's size on disk, all tables: what a task asks memory for (Ray)."""
        return sum(
            f.stat().st_size for name in self.tables for f in self.bucket_files(name, bucket)
        )


def bucket_files(folder: Path, bucket: int) -> list[Path]:
    return sorted(folder.glob(f"b{bucket:05d}-*.arrow"))


@dataclass(frozen=True)
class BucketResult:
    """What one bucket hands back; its output rows are in `Plan.outputs`. The rejects are
    unsorted, with their order's columns (`validation.in_reject_order` sorts them once, for
    every bucket together)."""

    bucket: int
    rejects: pl.DataFrame
    tally: Tally
    people: int
    # The bucket's own seconds in each of the one pass's stages (read, validate, ledger,
    # statuses): how the buckets' wall time is shared among them (`buckets.run_buckets`).
    timings: Mapping[str, float] = field(default_factory=dict)


class Engine(Protocol):
    """Runs every bucket of a plan, reporting each one done; results in any order."""

    def run(self, plan: Plan, done: Callable[[BucketResult], None]) -> list[BucketResult]: ...
