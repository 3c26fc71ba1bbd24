"""The nightly job as one library call (issue 19): `run_job(request)` does everything
`followup reconcile` does, from the checks made before any work to the snapshot in the
history, and gives back a `JobOutcome`. It imports neither Typer nor Rich, prints nothing,
and never raises a FollowupError: a bad option or a bad export is an outcome with the exit code
and the one sentence the command prints (SPEC 6), after the run report and metrics are written
when asked (SPEC 8). A signal (`signals.Interrupted`, KeyboardInterrupt) still propagates, and
so does a bug, once recorded as a failed run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from followup_cli.core.errors import (
    EXIT_NOTHING_RECONCILED,
    EXIT_OK,
    EXIT_REJECTED_ROWS,
    BadRowError,
    FollowupError,
    InputFileError,
)
from followup_cli.job import backfill, split
from followup_cli.job.deliver import (
    Delivery,
    RefusedRecord,
    deliver,
)
from followup_cli.job.outcome import JobOutcome, Said, Transition
from followup_cli.job.plan import Plan, read_plan
from followup_cli.job.previous import EarlierOutput, previous_run
from followup_cli.job.records import write_record
from followup_cli.job.request import JobRequest
from followup_cli.nightly import changes as change_log
from followup_cli.nightly import health
from followup_cli.nightly import history as snapshots
from followup_cli.nightly import report as run_report
from followup_cli.nightly import trends as night_trends
from followup_cli.nightly.reject_limits import check_usable
from followup_cli.outputs import signals
from followup_cli.outputs.destinations import output_format
from followup_cli.outputs.lists import carry as carry_columns
from followup_cli.outputs.lists import (
    keep_lists,
    sort_rows,
)
from followup_cli.outputs.summary import Summary, describe_rejects, summarise
from followup_cli.outputs.workbook import Sheets, no_lists
from followup_cli.reading import fingerprint
from followup_cli.reading.run import RunResult, run
from followup_cli.scaleout import buckets

Progress = Callable[[str], None]


def run_job(request: JobRequest, progress: Progress | None = None) -> JobOutcome:
    """Run the nightly job `request` describes; `progress` is told each stage's name as it
    starts (reading, validating, writing, ...)."""
    record = run_report.RunRecord(arguments=request.arguments())
    said = Said()
    try:
        stale = _reconcile(record, request, progress or _unseen, said)
    except RefusedRecord as exc:
        # Refused before any work: nothing is written, not even this run's report.
        record.finish(exc.exit_code, str(exc))
        return _outcome(record, said)
    except FollowupError as exc:
        record.finish(exc.exit_code, str(exc))
        _write_failed(record, request, said)
        return _outcome(record, said)
    except (signals.Interrupted, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise  # an interrupted run writes nothing at all (SPEC 6)
    except BaseException as exc:
        # A bug, or a panic in a native library (pyo3's PanicException): a failed run to
        # report, then raised for the caller, with what could not be written as its notes.
        record.finish(EXIT_NOTHING_RECONCILED, f"internal error ({type(exc).__name__}: {exc})")
        _write_failed(record, request, said)
        for line in said.problems:
            exc.add_note(line)
        raise
    # The summary's time is the run's, as the report and the metrics have it (SPEC 8): from
    # the start to the output set in place, every stage included (Ray's start-up too).
    if record.summary is not None and record.ended is not None:
        elapsed = (record.ended - record.started).total_seconds()
        record.summary = dataclasses.replace(
            record.summary, timings=tuple(record.stages.items()), elapsed=elapsed
        )
    # Exit 0 or 1: the output set is in place, so the records cannot change the exit code.
    write_record(record, request.records.report, request.records.metrics, said, delivered=True)
    return _outcome(record, said, stale)


def _unseen(_stage: str) -> None:
    """No one watches the stages."""


def _write_failed(record: run_report.RunRecord, request: JobRequest, said: Said) -> None:
    try:
        write_record(record, request.records.report, request.records.metrics, said)
    except FollowupError as unwritten:
        # The run's own failure is the one to report; this one is said in passing.
        said.problems.append(str(unwritten))


def _outcome(record: run_report.RunRecord, said: Said, stale: Path | None = None) -> JobOutcome:
    late = signals.noted_late()
    transitions: tuple[Transition, ...] | None = None
    if record.transitions is not None:
        transitions = tuple(record.transitions.select("field", "from", "to", "people").iter_rows())
    assert record.exit_code is not None, "the run has ended"
    return JobOutcome(
        exit_code=record.exit_code,
        error=record.error,
        summary=record.summary if record.succeeded else None,
        warnings=tuple(record.warnings),
        transitions=transitions,
        previous_as_of=record.previous_as_of,
        report=run_report.document(record),
        removed_stale_rejects=stale,
        problems=tuple(said.problems),
        record_warnings=tuple(said.record_warnings),
        late_signal=signals.describe_late(late) if late is not None else None,
    )


def _reconcile(
    record: run_report.RunRecord, request: JobRequest, step: Progress, said: Said
) -> Path | None:
    """The run, up to the snapshot in the history; an earlier run's rejects file it removed."""
    plan = read_plan(record, request)
    history = request.records.history
    with contextlib.ExitStack() as kept:
        kept.enter_context(snapshots.locked(history))  # SPEC 8: one run at a time
        later = backfill.later_night(request, plan.as_of)
        if later is not None:  # a backfill never replaces a later night's lists (SPEC 8)
            comparing = history is not None or request.records.previous is not None
            plan = backfill.beside_later_night(plan, request, comparing)
        before, previous_report = previous_run(
            record, history, request.records.previous, plan.as_of
        )
        # What needs every output row at once holds them (a sort, carried columns, a workbook,
        # a comparison); otherwise the output streams into its file, which after a bucketed
        # run (SPEC 10) means no more than a bucket's rows in memory.
        whole = (
            bool(plan.carried) or plan.order is not None or plan.fmt == "xlsx" or before is not None
        ) or plan.split is not None
        result = _read(record, request, plan, step, kept)
        # A carried value no output can hold is emptied or cut, said as a warning.
        rows, listed = _rows(plan, result, whole, lambda said: record.warn(health.OTHER, said))
        _verify(record, request, plan, result)
        changed = _compare(record, plan, before, result)
        record.warn(health.STALE_EXPORT, health.stale_exports(result.newest, plan.as_of))
        record.warn(health.SHRUNK_TABLE, health.shrunk_tables(result.counts, previous_report))
        step("writing")
        stale = _write(record, request, plan, result, (rows, listed), changed)
        if later is not None:
            backfill.say(record, later, health.BACKFILL, backfill.way_out(request))
        record.summary = _summary(plan, result, listed, record.outputs)
        record.finish(EXIT_REJECTED_ROWS if result.rejects.height else EXIT_OK)
        if history is not None:
            _store(record, history, result.output if whole else result.streamed, said, plan)
    late = signals.noted_late()
    if late is not None:
        # For the run report; the line for the person comes from the command's guard.
        record.warn(health.LATE_SIGNAL, [signals.describe_late(late)])
    return plan.rejects if stale else None


def _read(
    record: run_report.RunRecord,
    request: JobRequest,
    plan: Plan,
    step: Progress,
    kept: contextlib.ExitStack,
) -> RunResult:
    """Fingerprint the inputs, then read, validate and reconcile them: in one pass, or in
    buckets whose work folder stays until `kept` ends."""
    i = request.inputs
    step("fingerprinting inputs")
    started = time.perf_counter()
    record.fingerprints = fingerprint.take_all(list(plan.inputs))
    record.stages["fingerprint"] = time.perf_counter() - started
    if request.scale.one_pass:
        result = run(i.data, i.overrides(), plan.as_of, plan.settings, step, i.without)
    else:
        # The bucketed output is read from the work folder until the job's block ends.
        result = kept.enter_context(
            buckets.run(
                i.data,
                i.overrides(),
                plan.as_of,
                plan.settings,
                request.scale,
                step,
                i.without,
                plan.destination,
            )
        )
    record.stages.update(result.timings)
    record.buckets = result.buckets
    record.counts = result.counts
    record.ignored_columns = {
        name: list(raw.unknown_columns) for name, raw in result.inputs.items()
    }
    return result


def _rows(
    plan: Plan, result: RunResult, whole: bool, warn: Callable[[list[str]], None]
) -> tuple[pl.DataFrame | pl.LazyFrame, int]:
    """The output's rows (held, or streamed) and how many of them there are."""
    if not whole:
        streamed = keep_lists(result.streamed, plan.statuses)
        if not plan.statuses:
            return streamed, result.people
        chosen = keep_lists(result.any_order, plan.statuses)
        return streamed, chosen.select(pl.len()).collect().item()
    held = result.output
    if plan.carried and plan.customers is not None:
        # Before the inputs are checked again: the carried values are read from the file.
        read = result.inputs.get("customers")
        held = carry_columns(
            held,
            plan.customers,
            plan.carried,
            result.customer_lines,
            read.unknown_frame if read is not None and read.format == "csv" else None,
            warn,
        )
    rows = sort_rows(keep_lists(held, plan.statuses), plan.order)
    return rows, rows.height


def _verify(
    record: run_report.RunRecord, request: JobRequest, plan: Plan, result: RunResult
) -> None:
    """Nothing is written unless the inputs stood still, enough rows were usable and the
    --on-error mode allows the rejects."""
    started = time.perf_counter()
    # Parquet inputs are scanned lazily, so reading ends only once everything is collected.
    fingerprint.verify(record.fingerprints)
    record.stages["verify"] = time.perf_counter() - started
    check_usable(result, plan.limit)
    _refuse_payments_missing_in_effect(result, request.inputs.without)
    if request.outputs.on_error == "fail" and result.rejects.height:
        first = describe_rejects(result.rejects, limit=1)[0]
        raise BadRowError(f"{first}; --on-error fail: nothing written")


def _refuse_payments_missing_in_effect(result: RunResult, without: tuple[str, ...]) -> None:
    """A payments file with a header and no rows, while accounts owe: exit 3, as a missing
    table is (SPEC 2), since read as "nobody paid" it makes every subscriber Delinquent."""
    read = {count.table: count for count in result.counts}
    payments = read.get("payments")
    if payments is None or payments.read or "payments" in {w.strip().lower() for w in without}:
        return
    owing = (
        result.any_order.filter(
            pl.col("account_status").is_not_null() & (pl.col("account_status") != "Paid in Full")
        )
        .select(pl.len())
        .collect()
        .item()
    )
    message = health.payments_missing_in_effect(payments.file, owing)
    if message is not None:
        raise InputFileError(message)


def _compare(
    record: run_report.RunRecord, plan: Plan, before: EarlierOutput | None, result: RunResult
) -> pl.DataFrame | None:
    """The changes since the previous run, when there is one to compare with."""
    if before is None:
        return None
    changed = change_log.changes(
        before.compared_rows(), result.output, record.previous_as_of, plan.as_of
    )
    record.transitions = change_log.transitions(changed)
    return changed


def _write(
    record: run_report.RunRecord,
    request: JobRequest,
    plan: Plan,
    result: RunResult,
    output: tuple[pl.DataFrame | pl.LazyFrame, int],
    changed: pl.DataFrame | None,
) -> bool:
    """Deliver the output set; whether an earlier run's rejects file was removed."""
    rows, listed = output
    started = time.perf_counter()
    sheets = None
    if plan.fmt == "xlsx":
        rules = plan.settings.rules
        run_summary = summarise(result, plan.as_of, plan.rejects, "", rules)
        sheets = Sheets(plan.as_of, run_summary, result.rejects, changed, rules.list_order)
        sheets = _with_trends(record, request.records.history, sheets)
    changes = None
    if changed is not None:
        changes = _changes_delivery(changed, plan)
    outputs = [Delivery(rows, plan.destination, plan.fmt, sheets, listed)]
    if plan.split is not None:  # SPEC 9: one file per value, beside -o, in the same set
        records = request.records
        outputs = split.deliveries(
            plan, result, rows, sheets, [records.report, records.metrics], records.history
        )
    record.outputs, stale = deliver(
        outputs,
        Delivery(result.rejects, plan.rejects, "csv"),
        changes,
        request.lists,
    )
    record.stages["write"] = result.timings["write"] = time.perf_counter() - started
    return stale


def _changes_delivery(changed: pl.DataFrame, plan: Plan) -> Delivery:
    """The changes file: its rows, or as a workbook (`--changes NAME.xlsx`) a Changes sheet
    and no lists, as `followup changes -o NAME.xlsx` writes it."""
    fmt = output_format(plan.changes, None, "--changes", formats=False)
    if fmt != "xlsx":
        return Delivery(changed, plan.changes, fmt)
    sheets = Sheets(plan.as_of, changes=changed)
    return Delivery(no_lists(), plan.changes, fmt, sheets, count=changed.height)


def _with_trends(record: run_report.RunRecord, history: Path | None, sheets: Sheets) -> Sheets:
    """With --history, the workbook's Trends sheet (SPEC 9): every stored night and tonight. A
    stored night that cannot be read leaves the sheet out, said as a warning, not the lists."""
    if history is None:
        return sheets
    try:
        return dataclasses.replace(sheets, trends=night_trends.figures(history, sheets.summary))
    except FollowupError as exc:
        record.warn(health.OTHER, [f"{exc}; the workbook was written without its Trends sheet"])
        return sheets


def _summary(
    plan: Plan, result: RunResult, listed: int, written: list[run_report.OutputFile]
) -> Summary:
    where = str(plan.destination) if plan.destination else "standard output"
    if plan.split is not None:
        files = [o.path for o in written if o.kind == "output" and o.path is not None]
        where = split.described(plan.split.column, files)
    if plan.statuses:
        where += f" ({listed:,} of {result.people:,} people: {', '.join(plan.statuses)})"
    rejects = plan.rejects if result.rejects.height else None
    return summarise(result, plan.as_of, rejects, where, plan.settings.rules)


def _delivered_whole(record: run_report.RunRecord, plan: Plan) -> tuple[Path, str] | None:
    """The output file and its SHA-256 when it holds every output row, as the snapshot holds
    them (Parquet; no list kept, no sort, no carried column, no split), so the snapshot can
    be a copy of it rather than the rows written a second time (0.2 s at 1M people)."""
    if plan.fmt != "parquet" or plan.statuses or plan.order is not None:
        return None
    if plan.carried or plan.split is not None:
        return None
    for written in record.outputs:
        if written.kind == "output" and written.path is not None and written.sha256:
            return written.path, written.sha256
    return None


def _store(
    record: run_report.RunRecord,
    history: Path,
    rows: pl.DataFrame | pl.LazyFrame,
    said: Said,
    plan: Plan,
) -> None:
    """After the output set is in place: a snapshot is a run that was delivered. Failing here
    cannot take the set back, so the exit code stays the reconciliation's."""
    assert record.as_of is not None, "the plan set it"
    report = run_report.encode(run_report.document(record))
    try:
        snapshots.store(history, record.as_of, rows, report, _delivered_whole(record, plan))
    except FollowupError as exc:
        record.warn(health.SNAPSHOT_NOT_STORED, [str(exc)])
        said.problems.append(f"{exc}; the output files were written")
