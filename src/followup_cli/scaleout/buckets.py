"""Reconciling in customer buckets (SPEC 10): memory bounded by a bucket, not by the exports.

Every rule reads one customer's rows only, so the work splits by customer. A first pass reads
each table once and writes its rows, as read and with their `_line`, into Arrow IPC files by
bucket = hash(customer id) mod N: a customers row by its own id, any other row by the customer
it names, the id hashed as a function of the id as validation matches it (trimmed and
case-folded), so a person and every row naming them share a bucket. Then each bucket is
validated and reconciled on its own (`reconcile_bucket`, also the function the Ray engine runs
as a task); the outputs are merged back into the customers file's order as they are written,
the rejects put in a single pass's order.

Only one check crosses buckets: an agreement, payment or event id repeated under two
customers. The first pass also writes each row's line and the hash of its id into files by
that hash, so one small pass per id bucket finds the lines whose hash repeats; their ids are
then compared exactly, and validation is handed every repeat and its first line
(`validate(..., repeats=...)`). A reference to an unknown customer never crosses:
the id it names hashes to the bucket that customer would be in. A row without a customer id
lands in bucket 0 and is set aside there as in one pass; a row that could not be split into
columns goes with the person validation guesses it names, else bucket 0.

Memory: a bucket's rows, the repeats found, and the slices being merged into the output. CSV
exports are read whole by the CSV reader (a quoted value may span lines), so the first pass
costs the largest CSV file's rows once; Parquet exports are streamed.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import itertools
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import polars as pl
from polars.io.plugins import register_io_source

from followup_cli.core.errors import FollowupError, OutputError, UsageError
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.pipeline import label, people_facts
from followup_cli.core.schema import LINE, TABLES, normalise_id
from followup_cli.core.tables import KEY_HASH, TableCount
from followup_cli.outputs import signals
from followup_cli.reading.loading import PARQUET_READ_ERRORS, RawTable, cannot_be_read, read_table
from followup_cli.reading.locate import locate_tables
from followup_cli.reading.parsing import parse
from followup_cli.reading.run import Progress, RunResult, newest
from followup_cli.reading.run import run as single_pass
from followup_cli.reading.validation import (
    CUST,
    REPEATS_SCHEMA,
    candidate_ids,
    first_lines,
    guessed_people,
    validate,
)

BUCKET = "_bucket"
ID_BUCKET = "_id_bucket"  # the bucket of a row's own id, for finding repeated ids
WORK_PREFIX = ".followup-buckets-"
MAX_BUCKETS = 4096  # each bucket is a file per table, open at once while splitting
# Any fixed seed will do: buckets are assigned once, in the first pass, in one process.
SEED = 20240731
# Rows split at a time in the first pass, which bound its memory (under 0.5 GB at 10 columns).
CHUNK_ROWS = 1_000_000
WRITERS = 2  # files of the first pass written at once
SLICES_AT_ONCE = 2  # slices of the first pass hashed, split and written at once
# The buckets' outputs are cut by customers-file line into ranges this long, merged one range
# at a time into the output file (about 150 MB of output rows at most).
OUTPUT_LINES = 500_000
RANGE = "_range"

# `auto`: the single pass's peak memory is about this many times the exports' size on disk
# (`make bench`, `followup generate` data: 1.4 GB for 45 MB of Parquet at 1M people, 10 GB for
# 450 MB at 10M; 3.1 GB for 610 MB of CSV at 1M), and a bucket may use this share of the
# memory available, the rest being the first pass's slices, a range of the output being
# merged, and whoever else uses the machine.
PEAK_PER_INPUT_BYTE = {"csv": 5.0, "parquet": 30.0}
BUCKET_SHARE_OF_MEMORY = 0.25


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
    # The buckets with rows (see `_occupied`); the others are never run.
    occupied: tuple[int, ...] = ()

    @property
    def to_run(self) -> tuple[int, ...]:
        """The buckets an engine runs, in order: the occupied ones (all, when not known)."""
        return self.occupied or tuple(range(self.buckets))

    def folder(self, table: str) -> Path:
        return self.work / table

    def bucket_label(self, table: str) -> str:
        """The name a bucket gives the table's file: its file name, or, when two tables are read
        from files of the same name (`x/a.csv`, `y/a.csv`), that name with the table's, so the
        rejects of the two can be put back in one pass's order (`_rejects`), which then writes
        the file name alone again."""
        label = self.tables[table].file_label
        alike = sum(shape.file_label == label for shape in self.tables.values())
        return label if alike == 1 else f"{label} ({table} table)"

    @property
    def outputs(self) -> Path:
        """Where the buckets' outputs go: `r{range}-b{bucket}.arrow`, the rows of one
        bucket whose customers-file line lies in one range of OUTPUT_LINES lines."""
        return self.work / "output"

    def bucket_bytes(self, bucket: int) -> int:
        """The bucket's size on disk, all tables: what a task asks memory for (Ray)."""
        return sum(
            f.stat().st_size for name in self.tables for f in _bucket_files(self, name, bucket)
        )


@dataclass(frozen=True)
class BucketResult:
    """What one bucket hands back; its output rows are in `Plan.outputs`."""

    bucket: int
    rejects: pl.DataFrame
    counts: tuple[TableCount, ...]
    newest: dict[str, dt.date | None]
    people: int


class Engine(Protocol):
    """Runs every bucket of a plan, reporting each one done; results in any order."""

    def run(self, plan: Plan, done: Callable[[BucketResult], None]) -> list[BucketResult]: ...


class LocalEngine:
    """The buckets one after another, in this process."""

    def run(self, plan: Plan, done: Callable[[BucketResult], None]) -> list[BucketResult]:
        results = []
        for bucket in plan.to_run:
            results.append(reconcile_bucket(plan, bucket))
            done(results[-1])
        return results


@dataclass(frozen=True)
class Scale:
    """How a run is split (SPEC 10): `buckets` None is one pass, or a number, or "auto"."""

    buckets: str | None = None
    engine: str = "local"
    ray_address: str | None = None

    @property
    def one_pass(self) -> bool:
        """Nothing asked of buckets or Ray: `reconcile.run` as it is."""
        return self.buckets is None and self.engine == "local" and not self.ray_address


def parse_buckets(value: str | None) -> int | str | None:
    """--buckets: a whole number from 1 to MAX_BUCKETS, or `auto`; None leaves it unset."""
    if value is None:
        return None
    word = value.strip().lower()
    if word == "auto":
        return "auto"
    if not word.isdigit() or not 1 <= int(word) <= MAX_BUCKETS:
        raise UsageError(
            f"--buckets: {value!r} is not a number of buckets; expected 1 to {MAX_BUCKETS:,} "
            f"or auto (e.g. --buckets 16)"
        )
    return int(word)


@contextlib.contextmanager
def run(
    data_dir: Path,
    overrides: Mapping[str, Path | None],
    as_of: dt.date,
    settings: LedgerSettings,
    scale: Scale,
    progress: Progress | None = None,
    without: Collection[str] = (),
    beside: Path | None = None,
) -> Iterator[RunResult]:
    """`reconcile.run`, split by `scale`: one pass, or buckets on the local or Ray engine.

    A bucketed result's rows are read from the work folder as they are used, so the folder
    stays until the caller's `with` block ends (and goes however it ends). `beside` is the
    output file: the work folder goes in its folder (else in $TMPDIR).
    """
    chosen = parse_buckets(scale.buckets)
    if scale.engine not in ("local", "ray"):
        raise UsageError(f"--engine: {scale.engine!r} is not an engine; expected local or ray")
    if scale.ray_address and scale.engine != "ray":
        raise UsageError("--ray-address needs --engine ray")
    if scale.engine == "local" and chosen is None:
        yield single_pass(data_dir, overrides, as_of, settings, progress, without)
        return
    located = locate_tables(data_dir, overrides, without)
    with contextlib.ExitStack() as kept:
        with _engine(scale) as (engine, parallelism):
            if chosen is None or chosen == "auto":
                chosen = max(auto_buckets(located), parallelism)
            if chosen == 1 and scale.buckets is not None and scale.buckets.strip() == "auto":
                result = single_pass(data_dir, overrides, as_of, settings, progress, without)
            else:
                assert isinstance(chosen, int)
                work = kept.enter_context(work_folder(beside))
                result = run_buckets(located, as_of, settings, chosen, work, engine, progress)
        yield result


@contextlib.contextmanager
def _engine(scale: Scale) -> Iterator[tuple[Engine, int]]:
    """The engine and how many buckets it can run at once (1 here; Ray: its CPUs)."""
    if scale.engine == "local":
        yield LocalEngine(), 1
        return
    # ray_engine imports this module, and Ray is an optional extra imported only when asked.
    from followup_cli.scaleout import ray_engine  # noqa: PLC0415

    with ray_engine.session(scale.ray_address) as engine:
        yield engine, engine.parallelism


def auto_buckets(located: Mapping[str, Path | None]) -> int:
    """`--buckets auto`: enough buckets that one needs at most BUCKET_SHARE_OF_MEMORY of the
    memory available, from the exports' size on disk; 1 (one pass) when that already fits.

        N = ceil(sum(size of each file x PEAK_PER_INPUT_BYTE[its format])
                 / (BUCKET_SHARE_OF_MEMORY x memory available))
    """
    need = sum(
        path.stat().st_size * PEAK_PER_INPUT_BYTE.get(path.suffix.lower().lstrip("."), 30.0)
        for path in located.values()
        if path is not None
    )
    budget = BUCKET_SHARE_OF_MEMORY * memory_available()
    return max(1, min(MAX_BUCKETS, math.ceil(need / budget)))


def memory_available() -> int:
    """Bytes this run may use: MemAvailable from /proc/meminfo (physical memory where there is
    none), and no more than the control group's limit when one is set."""
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            available = min(available, int(limit) - used)
    return max(available, 256 * 1024 * 1024)


@contextlib.contextmanager
def work_folder(beside: Path | None) -> Iterator[Path]:
    """A fresh work folder beside the output file (or in $TMPDIR), removed however the run
    ends: at the end, on an error, and on a signal (registered with `signals`)."""
    parent = Path(tempfile.gettempdir())
    if beside is not None and beside.parent.is_dir() and not _is_device(beside):
        # Absolute: a Ray worker writes its output rows there from a folder of its own.
        parent = beside.parent.absolute()
    with signals.deferred():
        try:
            work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=parent))
        except OSError as exc:
            raise OutputError(
                f"--buckets: cannot make a work folder in {parent} ({exc.strerror or exc}); "
                f"nothing was written"
            ) from exc
        signals.track(work)
    try:
        yield work
    finally:
        with signals.deferred():
            shutil.rmtree(work, ignore_errors=True)
            signals.forget(work)


def _is_device(path: Path) -> bool:
    return path.exists() and not path.is_file()


def run_buckets(
    located: Mapping[str, Path | None],
    as_of: dt.date,
    settings: LedgerSettings,
    buckets: int,
    work: Path,
    engine: Engine | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Split the tables into `buckets` in `work`, reconcile each bucket on `engine`, and put
    the results together as one pass would have them."""
    step = progress or (lambda _stage: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    step(f"splitting into {buckets} buckets")
    finished = 0
    to_run = buckets

    def done(_result: BucketResult) -> None:
        nonlocal finished
        finished += 1
        step(f"bucket {finished}/{to_run}")

    try:
        plan, inputs = split(located, as_of, settings, buckets, work)
        to_run = len(plan.to_run)  # the empty buckets are skipped
        timings["split"] = time.perf_counter() - started
        started = time.perf_counter()
        step(f"bucket 0/{to_run}")
        results = sorted((engine or LocalEngine()).run(plan, done), key=lambda r: r.bucket)
    except OSError as exc:  # the work folder's disk full, say; reading errors say their file
        reason = exc.strerror or str(exc)
        raise OutputError(
            f"the work folder {work} cannot be written ({reason}); --buckets needs free space "
            f"there of about 5 times the Parquet exports' size (it is beside the output file, "
            f"or in $TMPDIR when writing to standard output); nothing was written"
        ) from exc
    timings["buckets"] = time.perf_counter() - started
    started = time.perf_counter()
    step("putting the buckets together")
    result = RunResult(
        rows=_in_line_order(plan.outputs),
        people=sum(r.people for r in results),
        rejects=_rejects(plan, results),
        counts=_counts(plan, results),
        timings=timings,
        inputs=inputs,
        newest=_newest(results),
        unordered=pl.scan_ipc(sorted(plan.outputs.glob("*.arrow"))),
    )
    timings["assemble"] = time.perf_counter() - started
    return result


def split(
    located: Mapping[str, Path | None],
    as_of: dt.date,
    settings: LedgerSettings,
    buckets: int,
    work: Path,
) -> tuple[Plan, dict[str, RawTable]]:
    """The first pass: every table's rows into bucket files, the repeated ids found; and each
    table as read without its rows (for the summary and the run report)."""
    shapes: dict[str, TableShape] = {}
    inputs: dict[str, RawTable] = {}
    repeats: dict[str, pl.DataFrame] = {}
    for name, table in TABLES.items():
        raw = read_table(table, located[name])
        shapes[name] = _shape(raw)
        with _naming_the_file(raw):
            person = _id_hashes(raw, "customer_id")
            ids = None if name == "customers" else _id_hashes(raw, table.key.name)
            _sink(raw.frame, person, buckets, work / name, ids)
            _split_structural(raw, buckets, work / name)
            if ids is not None:
                repeats[name] = _repeated_ids(raw, _ids_folder(work / name))
        # The rows are on disk now; keep what the summary and the report read, and let a CSV
        # file's rows go before the next file is read.
        inputs[name] = RawTable(
            raw.table,
            raw.path,
            raw.format,
            pl.LazyFrame(schema=raw.schema),
            raw.schema,
            raw.rows,
            raw.structural_rejects,
            raw.header,
            raw.unknown_columns,
        )
        del raw
    return Plan(work, buckets, as_of, settings, shapes, repeats, _occupied(work, buckets)), inputs


@contextlib.contextmanager
def _naming_the_file(raw: RawTable) -> Iterator[None]:
    """A Parquet file damaged past its footer is only found when its pages are read, here in
    the first pass: it is named as one pass names it (`validation._collect`), not reported as
    an internal error."""
    try:
        yield
    except PARQUET_READ_ERRORS as exc:  # a panic in Polars' reader too
        if raw.format != "parquet":
            raise
        raise cannot_be_read(raw.file_label, exc) from exc


def _occupied(work: Path, buckets: int) -> tuple[int, ...]:
    """The buckets that hold a row of any table, or a row that could not be split: the only
    ones worth reconciling (an empty bucket adds nothing to the output, the rejects or the
    counts; 4,096 buckets of 18 people took ten minutes when every one was run). Bucket 0
    always, so that a run of empty tables still has a bucket that says what it read."""
    found = {0}
    for folder in work.iterdir():
        if folder.is_dir() and folder.name in TABLES:
            for path in folder.iterdir():
                number = path.stem.split("-")[0].removeprefix("b")
                if path.name.startswith("structural-"):
                    number = path.stem.removeprefix("structural-")
                if number.isdigit() and int(number) < buckets:
                    found.add(int(number))
    return tuple(sorted(found))


def _shape(raw: RawTable) -> TableShape:
    return TableShape(
        name=raw.table.name,
        path=raw.path,
        format=raw.format,
        schema=dict(raw.schema),
        header=raw.header,
        unknown_columns=raw.unknown_columns,
        structural_schema=dict(raw.structural_rejects.schema),
        file_label=raw.file_label,
    )


def _normalised(raw: RawTable, column: str) -> pl.Expr:
    """A column's value as validation matches it: parsed (trimmed) and case-folded."""
    spec = raw.table.column(column)
    # An id column: the as-of day (for implausible dates) does not matter here.
    parsed = parse(spec, raw.schema[column], raw.file_label, raw.format == "parquet", None)
    return parsed.value.str.to_lowercase()


# Rows of ids are hashed in the form `normalise_id(id).upper()`: a function of the id as
# validation matches it, so ids it takes as equal share a hash, and, for a slice whose ids are
# all trimmed ASCII without a lower-case letter (`C-123`, `12345`: most exports), the id as it
# is, hashed without making a folded copy first (five times faster on 10,000,000 ids).
_NOT_PLAIN_UPPER = r"^\s|\s$|[^\x00-\x7F]|[a-z]"

# What hashes one column of a slice of rows: u64, null where the row names no id.
Hasher = Callable[[pl.DataFrame], pl.Series]


def _id_hashes(raw: RawTable, column: str) -> Hasher:
    """The hasher of `column` of `raw`'s rows (see _NOT_PLAIN_UPPER)."""
    if raw.schema[column] != pl.String:  # Parquet numbers, categories: through the parser
        parsed = _normalised(raw, column)

        def from_parsed(rows: pl.DataFrame) -> pl.Series:
            return _text_hashes(rows.select(parsed.alias(column)).get_column(column))

        return from_parsed

    def from_text(rows: pl.DataFrame) -> pl.Series:
        return _text_hashes(rows.get_column(column))

    return from_text


def _text_hashes(text: pl.Series) -> pl.Series:
    """Ids as text hashed as `normalise_id(id).upper()`, null for a missing or empty id (one
    no row can be matched by)."""
    if text.str.contains(_NOT_PLAIN_UPPER).any():
        text = normalise_id(text).str.to_uppercase()
    present = text.is_not_null() & (text.str.len_bytes() > 0)
    return text.hash(SEED).zip_with(present, pl.Series([None], dtype=pl.UInt64))


def bucket_of(customer_id: str, buckets: int) -> int:
    """The bucket of the person with this id, as the first pass places them."""
    return int(_bucket_numbers(_text_hashes(pl.Series([customer_id])), buckets).item())


def _bucket_numbers(hashes: pl.Series, buckets: int) -> pl.Series:
    """The bucket of each hash; a row that names no id goes to bucket 0."""
    return (hashes % buckets).fill_null(0).cast(pl.UInt32).alias(BUCKET)


def _sink(
    frame: pl.LazyFrame,
    person: Hasher,
    buckets: int,
    folder: Path,
    ids: Hasher | None = None,
) -> None:
    """Write `frame`'s rows as files by the bucket of the customer they name (`person`
    hashes it), `folder/b{bucket}-{chunk}.arrow`, and, when `ids` (the hasher of the rows' own
    ids) is given, in the same pass each row's line and id hash by a bucket of that hash into
    `_ids_folder(folder)`, where repeated ids are looked for.

    About CHUNK_ROWS rows at a time, split in memory: Polars' partitioned sink
    (`pl.PartitionBy`) holds every partition's rows until the end (10,000,000 payments in 64
    buckets peaked at 830 MB, growing with the file), and a scan per bucket was 8 times slower
    on Parquet (each one hashes every row again). Arrow IPC files with LZ4: written once and
    read once, they take 0.6 of the time Parquet with LZ4 took to write, read as fast, and take
    about as much disk (see the README for the work folder's size).
    """
    folder.mkdir(parents=True, exist_ok=True)
    ids_folder = _ids_folder(folder)
    if ids is not None:
        ids_folder.mkdir(parents=True, exist_ok=True)
    # One streaming pass: a slice of a scan at an offset reads the rows before it again (row
    # numbers are counted from the start), which made the first pass quadratic. A sink that
    # calls back rather than collect_batches, which reads ahead of the writing: at 1,000,000
    # customers the first pass peaked at 0.9 GB with that, 0.7 GB with this.
    chunks = itertools.count()

    def write(rows_now: pl.DataFrame, name: str) -> None:
        if ids is not None:
            hashes = ids(rows_now)
            found = pl.DataFrame(
                [
                    rows_now.get_column(LINE),
                    hashes.alias(KEY_HASH),
                    _bucket_numbers(hashes, buckets).alias(ID_BUCKET),
                ]
            ).filter(pl.col(KEY_HASH).is_not_null())
            _write_parts(found, ID_BUCKET, ids_folder, name)
        _write_parts(
            rows_now.with_columns(_bucket_numbers(person(rows_now), buckets)), BUCKET, folder, name
        )

    # Two slices are hashed, split and written at once, by threads of their own, while the
    # engine reads the next: one slice's work leaves a core idle much of the time.
    pending: collections.deque[Future[None]] = collections.deque()
    with ThreadPoolExecutor(SLICES_AT_ONCE) as workers:

        def hand_over(rows_now: pl.DataFrame) -> None:
            # Named here, in the order read: a bucket's files are read back in name order.
            pending.append(workers.submit(write, rows_now, f"{next(chunks):05d}.arrow"))
            while len(pending) > SLICES_AT_ONCE:
                pending.popleft().result()

        frame.sink_batches(hand_over, chunk_size=CHUNK_ROWS)
        while pending:
            pending.popleft().result()


def _ids_folder(folder: Path) -> Path:
    """Where the first pass writes a table's id hashes, beside its rows' `folder`."""
    return folder.with_name(f"{folder.name}-ids")


def _write_parts(rows: pl.DataFrame, by: str, folder: Path, name: str) -> None:
    """`rows` split by the column `by`, each part to `folder/b{part}-{name}`, two at a time
    (compressing one file is one core's work; 1.2 times faster on two cores)."""
    parts = rows.partition_by(by, as_dict=True, include_key=False)
    with ThreadPoolExecutor(WRITERS) as pool:
        written = [
            pool.submit(piece.write_ipc, folder / f"b{int(number):05d}-{name}", compression="lz4")
            for (number,), piece in parts.items()
        ]
    for each in written:
        each.result()  # an error writing any part is raised here


def _files(folder: Path, bucket: int) -> list[Path]:
    return sorted(folder.glob(f"b{bucket:05d}-*.arrow"))


def _bucket_files(plan: Plan, table: str, bucket: int) -> list[Path]:
    return _files(plan.folder(table), bucket)


def _split_structural(raw: RawTable, buckets: int, folder: Path) -> None:
    """Rows that could not be split go with the person validation guesses they name, where it
    counts them in that person's data_issues; the rest to bucket 0."""
    rows = raw.structural_rejects
    if rows.height == 0:
        return
    guessed = guessed_people(raw)
    bucket = _bucket_numbers(_text_hashes(guessed.get_column("person")), buckets)
    placed = rows.join(
        guessed.select(pl.col(LINE).alias("line")).with_columns(bucket),
        on="line",
        how="left",
    ).with_columns(pl.col(BUCKET).fill_null(0))
    for (bucket,), part in placed.partition_by(BUCKET, as_dict=True).items():
        part.drop(BUCKET).write_parquet(folder / f"structural-{int(bucket):05d}.parquet")


def _repeated_ids(raw: RawTable, folder: Path) -> pl.DataFrame:
    """Every line whose id an earlier line of the table has, with that first line.

    Equal ids have equal hashes, so they share an id bucket: each id bucket (all its slices)
    is read on its own for lines whose hash another line has. Those are only candidates;
    their ids are read again from the file and compared as validation compares them, so a
    hash collision never sets a row aside. The files go once read.
    """
    by_bucket: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("b*-*.arrow")):  # listed once: a glob per bucket was slow
        by_bucket.setdefault(path.name.split("-")[0], []).append(path)

    def candidates(files: list[Path]) -> pl.DataFrame:
        found = pl.scan_ipc(files).collect()
        for path in files:
            path.unlink()
        # Sorted, a repeated hash sits beside itself: six times faster than is_duplicated.
        ordered = found.get_column(KEY_HASH).sort()
        repeated = ordered.filter(ordered == ordered.shift(1)).unique()
        return found.filter(pl.col(KEY_HASH).is_in(repeated.implode())).select(LINE)

    empty = pl.DataFrame(schema={LINE: pl.Int64})
    lines = pl.concat([empty, *(candidates(files) for files in by_bucket.values())])
    if lines.height == 0:
        return pl.DataFrame(schema=REPEATS_SCHEMA)
    return first_lines(candidate_ids(raw, lines.lazy()).collect())


def reconcile_bucket(plan: Plan, bucket: int) -> BucketResult:
    """Validate and reconcile one bucket (the same code as one pass, on the bucket's rows);
    the output rows, with their customers-file line, go to `plan.outputs` by range of lines."""
    raw = {name: _bucket_table(plan, shape, bucket) for name, shape in plan.tables.items()}
    try:
        validated = validate(raw, plan.as_of, repeats=plan.repeats)
        facts = people_facts(validated, plan.as_of, plan.settings).collect()
        output = label(facts.lazy()).collect()
    except FollowupError as exc:  # said of the file as one pass says it (see `bucket_label`)
        message = str(exc)
        for name, shape in plan.tables.items():
            message = message.replace(plan.bucket_label(name), shape.file_label)
        if message == str(exc):
            raise
        try:
            said = type(exc)(message)
        except TypeError:  # an error class that takes more than a message: as it is
            raise exc from None
        raise said from exc
    del facts
    lines = validated.customers.sort(CUST).get_column(LINE)
    plan.outputs.mkdir(parents=True, exist_ok=True)
    ranges = output.with_columns(lines, (lines // OUTPUT_LINES).alias(RANGE))
    if output.height == 0:  # still one file, which says what the output's columns are
        output.with_columns(lines).write_ipc(plan.outputs / f"r{0:06d}-b{bucket:05d}.arrow")
    for (number,), part in ranges.partition_by(RANGE, as_dict=True, include_key=False).items():
        part.write_ipc(plan.outputs / f"r{int(number):06d}-b{bucket:05d}.arrow", compression="lz4")
    return BucketResult(
        bucket=bucket,
        rejects=validated.rejects,
        counts=validated.counts,
        newest=newest(validated, plan.as_of),
        people=output.height,
    )


def _bucket_table(plan: Plan, shape: TableShape, bucket: int) -> RawTable:
    """One table's rows of one bucket, read back as `loading.read_table` read the file."""
    files = _bucket_files(plan, shape.name, bucket)
    schema = pl.Schema(shape.schema)
    if files:
        # Read once into memory: validation reads a table three times (its figures, its
        # distinct words, its rows), and decompressing the files once each time cost more
        # (10M people in 16 buckets: 3.4 -> 3.2 s a bucket, for 0.7 GB more at the peak).
        scan = pl.scan_ipc(files).collect().lazy()
        frame = scan.select(pl.col(name).cast(t) for name, t in schema.items())
        rows = int(scan.select(pl.len()).collect().item())
    else:
        frame, rows = pl.LazyFrame(schema=schema), 0
    structural_file = plan.folder(shape.name) / f"structural-{bucket:05d}.parquet"
    bucket_label = plan.bucket_label(shape.name)
    if structural_file.is_file():
        structural = pl.read_parquet(structural_file)
    else:
        structural = pl.DataFrame(schema=pl.Schema(shape.structural_schema))
    if bucket_label == shape.file_label:
        return RawTable(
            TABLES[shape.name],
            shape.path,
            shape.format,
            frame,
            dict(schema),
            rows,
            structural,
            shape.header,
            shape.unknown_columns,
        )
    if "file" in structural.columns:
        structural = structural.with_columns(pl.lit(bucket_label, dtype=pl.String).alias("file"))
    return _Relabelled(
        TABLES[shape.name],
        shape.path,
        shape.format,
        frame,
        dict(schema),
        rows,
        structural,
        shape.header,
        shape.unknown_columns,
        label=bucket_label,
    )


@dataclass
class _Relabelled(RawTable):
    """A bucket's table whose file goes by another name than its file's (`Plan.bucket_label`)."""

    label: str = ""

    @property
    def file_label(self) -> str:
        return self.label


def _in_line_order(folder: Path) -> pl.LazyFrame:
    """The buckets' outputs in the customers file's order, one range of OUTPUT_LINES lines at
    a time (the rows of that range from every bucket, sorted by line), read as they are
    consumed: writing the output file holds one range, never every person. Polars' own
    merge of the buckets' sorted files (`merge_sorted`) read them whole: 3.2 GB at 10,000,000
    people, against 1 GB for the buckets themselves."""
    by_range: dict[int, list[Path]] = {}
    for path in sorted(folder.glob("r*-b*.arrow")):
        by_range.setdefault(int(path.name[1:7]), []).append(path)
    ranges = sorted(by_range)
    schema = pl.read_ipc_schema(by_range[ranges[0]][0])

    def read(
        columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _batch: int | None
    ) -> Iterator[pl.DataFrame]:
        left = n_rows
        for number in ranges:
            rows = pl.scan_ipc(by_range[number]).collect().sort(LINE)
            if predicate is not None:
                rows = rows.filter(predicate)
            if columns is not None:
                rows = rows.select(columns)
            if left is not None:
                rows = rows.head(left)
                left -= rows.height
            yield rows
            if left == 0:
                return

    return register_io_source(read, schema=schema, explain_name="bucket outputs by line")


def _rejects(plan: Plan, results: Sequence[BucketResult]) -> pl.DataFrame:
    """The buckets' rejects in one pass's order: table by table, line by line, and within a
    line as validation put them (a line lies in one bucket only)."""
    order = {plan.bucket_label(name): rank for rank, name in enumerate(plan.tables)}
    named = {plan.bucket_label(name): shape.file_label for name, shape in plan.tables.items()}
    everything = pl.concat([r.rejects for r in results])
    rank = pl.col("file").replace_strict(order, return_dtype=pl.Int64)
    in_order = everything.sort(rank, pl.col("line"), maintain_order=True)
    if all(bucket == label for bucket, label in named.items()):
        return in_order
    return in_order.with_columns(pl.col("file").replace_strict(named, return_dtype=pl.String))


def _counts(plan: Plan, results: Sequence[BucketResult]) -> tuple[TableCount, ...]:
    totals: dict[str, TableCount] = {}
    for result in results:
        for c in result.counts:
            t = totals.get(c.table)
            totals[c.table] = (
                dataclasses.replace(c, file=plan.tables[c.table].file_label)
                if t is None
                else TableCount(
                    c.table,
                    t.file,
                    t.read + c.read,
                    t.used + c.used,
                    t.rejected + c.rejected,
                    t.left_out + c.left_out,
                )
            )
    return tuple(totals.values())


def _newest(results: Sequence[BucketResult]) -> dict[str, dt.date | None]:
    newest_by: dict[str, dt.date | None] = {}
    for result in results:
        for name, day in result.newest.items():
            held = newest_by.get(name)
            newest_by[name] = day if held is None or (day is not None and day > held) else held
    return newest_by
