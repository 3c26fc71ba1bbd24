"""Reconciling in customer buckets (SPEC 10): memory bounded by a bucket, not by the exports.

Every rule reads one customer's rows only, so the work splits by customer. A first pass
(`first_pass`) reads each table once and writes its rows into bucket files by the customer
they name; then each bucket is validated and reconciled on its own (`one_bucket`, the same
code as one pass, also the function the Ray engine runs as a task); the outputs are merged
back into the customers file's order as they are written, the rejects put in a single pass's
order (`merging`). The work folder (`work_folder`) goes however the run ends.

Memory: a bucket's rows, the repeats found, and the slices being merged into the output. CSV
exports are read whole by the CSV reader (a quoted value may span lines), so the first pass
costs the largest CSV file's rows once; Parquet exports are streamed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.core.errors import OutputError, UsageError
from followup_cli.core.ledger import LedgerSettings
from followup_cli.reading.locate import locate_tables
from followup_cli.reading.run import Progress, RunResult
from followup_cli.reading.run import run as single_pass
from followup_cli.scaleout import merging
from followup_cli.scaleout.first_pass import split
from followup_cli.scaleout.one_bucket import LocalEngine
from followup_cli.scaleout.plan import BucketResult, Engine
from followup_cli.scaleout.work_folder import work_folder

MAX_BUCKETS = 4096  # each bucket is a file per table, open at once while splitting

# `auto`: the single pass's peak memory is about this many times the exports' size on disk
# (`make bench`, `followup generate` data: 1.4 GB for 45 MB of Parquet at 1M people, 10 GB for
# 450 MB at 10M; 3.1 GB for 610 MB of CSV at 1M), and a bucket may use this share of the
# memory available, the rest being the first pass's slices, a range of the output being
# merged, and whoever else uses the machine.
PEAK_PER_INPUT_BYTE = {"csv": 5.0, "parquet": 30.0}
BUCKET_SHARE_OF_MEMORY = 0.25

# The stages a bucketed run reports are the one pass's, so an alert on a stage holds however
# the run is split (SPEC 8): the first pass, which reads each table once into the bucket files,
# is `read`; the buckets' wall time is shared among `read`, `validate`, `ledger` and
# `statuses` as the buckets' own seconds in them are; putting the buckets together is
# `statuses`. Ray's start-up (or joining a cluster) is `ray_start`.
STAGES = ("read", "validate", "ledger", "statuses")
RAY_START = "ray_start"


@dataclass(frozen=True)
class Scale:
    """How a run is split (SPEC 10): `buckets` None is one pass, or a number, or "auto"."""

    buckets: str | None = None
    engine: str = "local"
    ray_address: str | None = None

    @property
    def one_pass(self) -> bool:
        """Nothing asked of buckets or Ray: `reading.run.run` as it is (see `one_pass`)."""
        return one_pass(self)


def one_pass(scale: Scale, measured: int | None = None) -> bool:
    """The one decision whether a run is one pass rather than buckets: when nothing asks for
    buckets or Ray, or when `--buckets auto`, once the exports are `measured` (the number of
    buckets they came to), needs only one. `--buckets 1`, or Ray's own number of buckets when
    --buckets is not given, still runs buckets (on Ray: tasks on the cluster)."""
    if scale.buckets is None:
        return scale.engine == "local" and not scale.ray_address
    return measured == 1 and parse_buckets(scale.buckets) == "auto"


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
    """`reading.run.run`, split by `scale`: one pass, or buckets on the local or Ray engine.

    A bucketed result's rows are read from the work folder as they are used, so the folder
    stays until the caller's `with` block ends (and goes however it ends). `beside` is the
    output file: the work folder goes in its folder when it is a regular file (else in the
    system's temporary folder, see `work_folder.work_parent`).
    """
    chosen = parse_buckets(scale.buckets)
    if scale.engine not in ("local", "ray"):
        raise UsageError(f"--engine: {scale.engine!r} is not an engine; expected local or ray")
    if scale.ray_address and scale.engine != "ray":
        raise UsageError("--ray-address needs --engine ray")
    if one_pass(scale):
        yield single_pass(data_dir, overrides, as_of, settings, progress, without)
        return
    located = locate_tables(data_dir, overrides, without)
    started: dict[str, float] = {}
    with contextlib.ExitStack() as kept:
        with _engine(scale, started) as (engine, parallelism):
            if chosen is None or chosen == "auto":
                chosen = max(auto_buckets(located), parallelism)
            assert isinstance(chosen, int)
            if one_pass(scale, chosen):
                result = single_pass(data_dir, overrides, as_of, settings, progress, without)
            else:
                work = kept.enter_context(work_folder(beside))
                result = run_buckets(located, as_of, settings, chosen, work, engine, progress)
        result.timings = {**started, **result.timings}
        yield result


@contextlib.contextmanager
def _engine(scale: Scale, timings: dict[str, float]) -> Iterator[tuple[Engine, int]]:
    """The engine and how many buckets it can run at once (1 here; Ray: its CPUs); Ray's
    start-up goes in `timings` as a stage of its own."""
    if scale.engine == "local":
        yield LocalEngine(), 1
        return
    # ray_engine imports this module, and Ray is an optional extra imported only when asked.
    from followup_cli.scaleout import ray_engine  # noqa: PLC0415

    started = time.perf_counter()
    with ray_engine.session(scale.ray_address) as engine:
        timings[RAY_START] = time.perf_counter() - started
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
    timings = dict.fromkeys(STAGES, 0.0)
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
        timings["read"] = time.perf_counter() - started
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
    _share(timings, time.perf_counter() - started, results)
    started = time.perf_counter()
    step("putting the buckets together")
    tally = merging.tally(results)
    result = RunResult(
        rows=merging.in_line_order(plan.outputs),
        people=sum(r.people for r in results),
        rejects=merging.rejects(results),
        counts=tally.counts,
        timings=timings,
        inputs=inputs,
        newest=tally.newest,
        unordered=pl.scan_ipc(sorted(plan.outputs.glob("*.arrow")), glob=False),
        buckets=buckets,
    )
    timings["statuses"] += time.perf_counter() - started
    return result


def _share(timings: dict[str, float], wall: float, results: list[BucketResult]) -> None:
    """Add the buckets' `wall` time to the one pass's stages, in the shares the buckets spent
    in each (on Ray they overlap, so their own seconds add up to more than the wall time)."""
    spent = {name: sum(r.timings.get(name, 0.0) for r in results) for name in STAGES}
    total = sum(spent.values())
    for name in STAGES:
        timings[name] += wall * spent[name] / total if total > 0 else 0.0
    if total <= 0:
        timings["validate"] += wall
