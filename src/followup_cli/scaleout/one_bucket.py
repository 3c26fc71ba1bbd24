"""One bucket reconciled (SPEC 10): its rows read back as one pass reads the files, validated
and reconciled by the same code as one pass, and its output rows written by range of lines."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from followup_cli.core.schema import TABLES
from followup_cli.reading.loading import RawTable
from followup_cli.reading.run import Tally, customer_lines, reconciled, stopwatch
from followup_cli.reading.validation import validate
from followup_cli.scaleout.plan import BucketResult, Plan, TableShape

RANGE = "_range"
# The buckets' outputs are cut by customers-file line into ranges this long, merged one range
# at a time into the output file (about 150 MB of output rows at most).
OUTPUT_LINES = 500_000


def reconcile_bucket(plan: Plan, bucket: int) -> BucketResult:
    """Validate and reconcile one bucket (the same code as one pass, on the bucket's rows);
    the output rows, with their customers-file line, go to `plan.outputs` by range of lines.
    Also the function the Ray engine runs as a task."""
    timings: dict[str, float] = {}
    stage = stopwatch(timings)
    with stage("read"):
        raw = {name: _bucket_table(plan, shape, bucket) for name, shape in plan.tables.items()}
    with stage("validate"):
        validated = validate(
            raw, plan.as_of, repeats=plan.repeats, ordered=False, payment_ids=False
        )
    del raw  # the bucket's rows as read, in memory: not needed past validation
    tally, rejects = Tally.of(validated, plan.as_of), validated.rejects
    lines, tables = customer_lines(validated), validated.hand_over()
    del validated  # so each table goes once its facts are computed (`Handed`)
    output = reconciled(tables, plan.as_of, plan.settings, stage)
    plan.outputs.mkdir(parents=True, exist_ok=True)
    ranges = output.with_columns(lines, (lines // OUTPUT_LINES).alias(RANGE))
    if output.height == 0:  # still one file, which says what the output's columns are
        output.with_columns(lines).write_ipc(plan.outputs / f"r{0:06d}-b{bucket:05d}.arrow")
    for (number,), part in ranges.partition_by(RANGE, as_dict=True, include_key=False).items():
        part.write_ipc(plan.outputs / f"r{int(number):06d}-b{bucket:05d}.arrow", compression="lz4")
    return BucketResult(
        bucket=bucket,
        rejects=rejects,
        tally=tally,
        people=output.height,
        timings=timings,
    )


def _bucket_table(plan: Plan, shape: TableShape, bucket: int) -> RawTable:
    """One table's rows of one bucket, read back as `loading.read_table` read the file."""
    files = plan.bucket_files(shape.name, bucket)
    schema = pl.Schema(shape.schema)
    if files:
        # Read once into memory: validation reads a table three times (its figures, its
        # distinct words, its rows), and decompressing the files once each time cost more
        # (10M people in 16 buckets: 3.4 -> 3.2 s a bucket, for 0.7 GB more at the peak).
        scan = pl.scan_ipc(files, glob=False).collect().lazy()
        frame = scan.select(pl.col(name).cast(t) for name, t in schema.items())
        rows = int(scan.select(pl.len()).collect().item())
    else:
        frame, rows = pl.LazyFrame(schema=schema), 0
    structural_file = plan.folder(shape.name) / f"structural-{bucket:05d}.parquet"
    if structural_file.is_file():
        structural = pl.read_parquet(structural_file, glob=False)
    else:
        structural = pl.DataFrame(schema=pl.Schema(shape.structural_schema))
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


class LocalEngine:
    """The buckets one after another, in this process."""

    def run(self, plan: Plan, done: Callable[[BucketResult], None]) -> list[BucketResult]:
        results = []
        for bucket in plan.to_run:
            results.append(reconcile_bucket(plan, bucket))
            done(results[-1])
        return results
