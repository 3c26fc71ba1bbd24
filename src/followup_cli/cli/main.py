"""The command line: `followup reconcile` (options in, one core call, output and summary out)
and the `main` entry point of the console script.

The command line is these Typer modules only: `cli_app` (the app, the error guard that maps
domain errors to exit codes, the shared options and parsers), `cli.py` (reconcile),
`cli_nightly` (the set of files, the previous run, the run report) and `cli_commands`
(explain, changes, history, generate). Exit codes (SPEC 6): 0 clean, 1 rows set aside,
2 usage, 3 nothing reconciled. No Python traceback reaches a person; FOLLOWUP_DEBUG=1 shows
one for an engineer.
"""

from __future__ import annotations

# First of all, before Polars and Typer take a few tenths of a second to import: from here on
# a signal ends the process with one line, never a KeyboardInterrupt traceback.
from followup_cli.cli import start as cli_start  # noqa: F401

# isort: split

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from followup_cli.cli import render
from followup_cli.cli.app import (
    AgreementsOpt,
    AsOfOpt,
    CustomersOpt,
    DataOpt,
    EventsOpt,
    Format,
    OnError,
    PaymentsOpt,
    QuietOpt,
    SurchargeOpt,
    WithoutOpt,
    _as_of,
    _cents,
    _files,
    _max_rejected,
    app,
    guarded,
    report_late_signal,
)
from followup_cli.cli.nightly import (
    _check_changes_destination,
    _check_records,
    _deliver,
    _Delivery,
    _Lists,
    _previous_run,
    _recorded,
    _transition_rows,
)
from followup_cli.core.errors import (
    EXIT_OK,
    EXIT_REJECTED_ROWS,
    BadRowError,
    FollowupError,
    InputFileError,
    UsageError,
)
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.schema import OUTPUT_COLUMNS
from followup_cli.nightly import changes as change_log
from followup_cli.nightly import health
from followup_cli.nightly import history as snapshots
from followup_cli.nightly import report as run_report
from followup_cli.nightly.reject_limits import DEFAULT_MAX_REJECTED, check_usable
from followup_cli.outputs import signals
from followup_cli.outputs.lists import (
    carried_columns,
    chosen_statuses,
    keep_lists,
    sort_order,
    sort_rows,
)
from followup_cli.outputs.lists import carry as carry_columns
from followup_cli.outputs.summary import describe_rejects, summarise
from followup_cli.outputs.workbook import Sheets
from followup_cli.outputs.writing import (
    check_destinations,
    default_rejects_path,
    output_format,
    resolved,
)
from followup_cli.reading import fingerprint
from followup_cli.reading.locate import locate_tables, possible_inputs
from followup_cli.reading.run import RunResult, run
from followup_cli.scaleout import buckets


@app.command()
@guarded
def reconcile(
    data: DataOpt = Path("."),
    customers: CustomersOpt = None,
    agreements: AgreementsOpt = None,
    payments: PaymentsOpt = None,
    events: EventsOpt = None,
    without: WithoutOpt = None,
    as_of: AsOfOpt = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Write here instead of standard output; .csv, .parquet, .jsonl or .xlsx "
            "(a workbook with a sheet per list). Example: -o followup.xlsx",
        ),
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="Output format, overriding the extension: csv, parquet, jsonl or xlsx. "
            "Example: --format jsonl",
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Where set-aside rows go (default: beside the output, or "
            "followup-rejects.csv here). Example: --rejects bad-rows.csv",
            show_default=False,
        ),
    ] = None,
    on_error: Annotated[
        OnError,
        typer.Option(
            "--on-error",
            metavar="MODE",
            help="reject: set bad rows aside and go on; fail: stop at the first, write nothing. "
            "Example: --on-error fail",
        ),
    ] = OnError.reject,
    max_rejected: Annotated[
        str,
        typer.Option(
            "--max-rejected",
            metavar="PERCENT",
            help="Stop with exit 3, writing nothing, when more than this share of any table's "
            "rows is rejected (a plain number is a percentage too). Example: --max-rejected 10%",
        ),
    ] = DEFAULT_MAX_REJECTED,
    surcharge: SurchargeOpt = "1.00",
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="NAME",
            help="Keep only this follow-up list (repeat for more; any case). "
            'Example: --status "Delinquent Customer"',
            show_default=False,
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            metavar="COLUMN",
            help="Sort the rows by this output column, empty last; days_in_arrears and "
            "past_due go largest first, others smallest first; COLUMN:asc or COLUMN:desc "
            "to choose. Example: --sort days_in_arrears",
            show_default=False,
        ),
    ] = None,
    carry: Annotated[
        list[str] | None,
        typer.Option(
            "--carry",
            metavar="COLUMN,...",
            help="Copy these customers-file columns into the output, after the standard ones. "
            "Example: --carry phone,email",
            show_default=False,
        ),
    ] = None,
    raw_text: Annotated[
        bool,
        typer.Option(
            "--raw-text",
            help="Write CSV text exactly as computed, without the ' that stops a spreadsheet "
            "running a value such as =1+1 as a formula (for programs). Example: --raw-text",
        ),
    ] = False,
    bom: Annotated[
        bool,
        typer.Option(
            "--bom",
            help="Start CSV files with a UTF-8 BOM, so Excel on Windows shows accents. "
            "Example: --bom",
        ),
    ] = False,
    quiet: QuietOpt = False,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write the JSON run report here, for every run, failed ones included. "
            "Example: --report runs/last.json",
            show_default=False,
        ),
    ] = None,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics",
            metavar="PATH",
            help="Write Prometheus metrics here (node_exporter textfile collector). "
            "Example: --metrics /var/lib/node_exporter/followup.prom",
            show_default=False,
        ),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option(
            help="Keep each run as DIR/as_of=YYYY-MM-DD/ and compare with the latest earlier one. "
            "Example: --history runs/",
            show_default=False,
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            help="Compare with this earlier output (csv, parquet or jsonl) instead of --history. "
            "Example: --previous out/followup-2024-07-30.csv",
            show_default=False,
        ),
    ] = None,
    changes: Annotated[
        Path | None,
        typer.Option(
            help="Where the changes since the previous run go (default: beside the output, or "
            "followup-changes.csv here). Example: --changes moved.csv",
            show_default=False,
        ),
    ] = None,
    bucket_count: Annotated[
        str | None,
        typer.Option(
            "--buckets",
            metavar="N|auto",
            help="Reconcile in N customer buckets one after another, so memory falls with N "
            "(same output); auto picks N from the inputs' size and the memory available. "
            "Example: --buckets 16",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="ENGINE",
            help="local: buckets in this process; ray: buckets as Ray tasks, on a Ray started "
            "for the run or on --ray-address (pip install followup-cli[ray]). "
            "Example: --engine ray --buckets 64",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            metavar="ADDRESS",
            help="Join this Ray cluster, whose workers must see the inputs and the output's "
            "folder. Example: --ray-address ray://head:10001",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Label every person with a follow-up status and account status, with the reasons.

    Example:

        followup reconcile --data exports/ --as-of 2024-07-31 -o followup.csv

        followup reconcile --status "Delinquent Customer" --sort days_in_arrears -o due.xlsx
    """
    spelled = {"fmt": "format", "metrics_file": "metrics", "bucket_count": "buckets"}
    arguments = {spelled.get(name, name): _as_json(value) for name, value in locals().items()}
    record = run_report.RunRecord(arguments=arguments)
    with _recorded(record, report, metrics_file):
        _reconcile(
            record,
            data,
            _files(customers, agreements, payments, events),
            as_of,
            output,
            fmt,
            rejects,
            on_error,
            surcharge,
            quiet,
            history,
            previous,
            changes,
            tuple(without or ()),
            max_rejected,
            _Lists(status or [], sort, carry or [], raw_text, bom),
            buckets.Scale(bucket_count, engine, ray_address),
            records=(report, metrics_file),
        )


def _as_json(value: object) -> object:
    """An option as given, as a JSON value the report can hold (SPEC 8): a list stays a list,
    and a path whose name is not UTF-8 (`caf\\xe9`) is shown with the odd bytes escaped."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return os.fsencode(str(value)).decode("utf-8", "backslashreplace")


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


def _reconcile(
    record: run_report.RunRecord,
    data: Path,
    overrides: dict[str, Path | None],
    as_of: str | None,
    output: str | None,
    fmt: Format | None,
    rejects: Path | None,
    on_error: OnError,
    surcharge: str,
    quiet: bool,
    history: Path | None,
    previous: Path | None,
    changes: Path | None,
    without: tuple[str, ...],
    max_rejected: str,
    lists: _Lists,
    scale: buckets.Scale | None = None,
    records: tuple[Path | None, Path | None] = (None, None),
) -> None:
    out = render.console(quiet)
    destination = None if output in (None, "-") else Path(output)
    rejects_path = rejects or default_rejects_path(destination)
    changes_path = changes or change_log.changes_path(destination)
    comparing = history is not None or previous is not None
    # First of all: even a run that fails at once must not write its report over an export.
    _check_records(
        *records,
        history,
        [
            ("--output", destination),
            ("--rejects", rejects_path),
            ("--changes", changes_path if comparing else None),
        ],
        # --previous is read too: only -o may replace it (compare with last night's file,
        # then write tonight's over it).
        [*possible_inputs(data, overrides, without), *([previous] if previous else [])],
    )
    as_of_date = _as_of(as_of)
    record.as_of = as_of_date
    settings = LedgerSettings(surcharge_cents=_cents(surcharge))
    limit = _max_rejected(max_rejected)
    chosen = output_format(destination, fmt.value if fmt else None)
    record.located = locate_tables(data, overrides, without)
    inputs = [path for path in record.located.values() if path is not None]
    check_destinations(destination, rejects_path, inputs)
    if previous is not None and resolved("--rejects", rejects_path) == resolved(
        "--previous", previous
    ):
        raise UsageError(f"--rejects {rejects_path} is the --previous file; choose another name")
    if comparing:
        read_too = [*inputs, *([previous] if previous else [])]
        _check_changes_destination(changes_path, destination, rejects_path, read_too)
    statuses = chosen_statuses(lists.status)
    customers_file = record.located["customers"]
    carried = {}
    if lists.carry and customers_file is not None:
        names = [c for item in lists.carry for c in item.split(",")]
        carried = carried_columns(customers_file, names)
    order = sort_order(lists.sort, (*OUTPUT_COLUMNS, *carried))
    with contextlib.ExitStack() as kept:
        kept.enter_context(snapshots.locked(history))  # SPEC 8: one run at a time
        before, previous_report = _previous_run(record, history, previous, as_of_date)
        # What needs every output row at once holds them (a sort, carried columns, a workbook,
        # a comparison); otherwise the output streams into its file, which after a bucketed
        # run (SPEC 10) means no more than a bucket's rows in memory.
        whole = bool(carried) or order is not None or chosen == "xlsx" or before is not None
        with render.progress(out) as step:
            step("fingerprinting inputs")
            started = time.perf_counter()
            record.fingerprints = fingerprint.take_all(inputs)
            record.stages["fingerprint"] = time.perf_counter() - started
            scale = scale or buckets.Scale()
            if scale.one_pass:
                result = run(data, overrides, as_of_date, settings, progress=step, without=without)
            else:
                # The bucketed output is read from the work folder until this block ends.
                result = kept.enter_context(
                    buckets.run(
                        data, overrides, as_of_date, settings, scale, step, without, destination
                    )
                )
            record.stages.update(result.timings)
            record.counts = result.counts
            record.ignored_columns = {
                name: list(raw.unknown_columns) for name, raw in result.inputs.items()
            }
            rows: pl.DataFrame | pl.LazyFrame
            if whole:
                held = result.output
                if carried and customers_file is not None:
                    # Before the inputs are checked again: the carried values are read from
                    # the file.
                    read = result.inputs.get("customers")
                    held = carry_columns(
                        held,
                        customers_file,
                        carried,
                        result.customer_lines,
                        read.unknown_frame if read is not None and read.format == "csv" else None,
                    )
                rows = sort_rows(keep_lists(held, statuses), order)
                listed = rows.height
            else:
                rows = keep_lists(result.streamed, statuses)
                listed = result.people
                if statuses:
                    chosen_rows = keep_lists(result.any_order, statuses)
                    listed = chosen_rows.select(pl.len()).collect().item()
            started = time.perf_counter()
            # Parquet inputs are scanned lazily, so reading ends only once everything is
            # collected.
            fingerprint.verify(record.fingerprints)
            record.stages["verify"] = time.perf_counter() - started
            check_usable(result, limit)
            _refuse_payments_missing_in_effect(result, without)
            if on_error is OnError.fail and result.rejects.height:
                first = describe_rejects(result.rejects, limit=1)[0]
                raise BadRowError(f"{first}; --on-error fail: nothing written")
            changed = None
            if before is not None:
                changed = change_log.changes(
                    before, result.output, record.previous_as_of, as_of_date
                )
                record.transitions = change_log.transitions(changed)
            record.warnings = [
                *health.stale_exports(result.newest, as_of_date),
                *health.shrunk_tables(result.counts, previous_report),
            ]
            step("writing")
            started = time.perf_counter()
            sheets = None
            if chosen == "xlsx":
                run_summary = summarise(result, as_of_date, rejects_path, "")
                sheets = Sheets(as_of_date, run_summary, result.rejects, changed)
            record.outputs, stale = _deliver(
                _Delivery(rows, destination, chosen, sheets, listed),
                _Delivery(result.rejects, rejects_path, "csv"),
                _Delivery(changed, changes_path, output_format(changes_path, None))
                if changed is not None
                else None,
                lists,
            )
            record.stages["write"] = result.timings["write"] = time.perf_counter() - started
        where = str(destination) if destination else "standard output"
        if statuses:
            where += f" ({listed:,} of {result.people:,} people: {', '.join(statuses)})"
        summary = summarise(
            result, as_of_date, rejects_path if result.rejects.height else None, where
        )
        record.summary = summary
        code = EXIT_REJECTED_ROWS if result.rejects.height else EXIT_OK
        record.finish(code)
        if history is not None:
            # After the output set is in place: a snapshot is a run that was delivered.
            # Failing here cannot take the set back, so the exit code stays the
            # reconciliation's.
            try:
                snapshots.store(
                    history,
                    as_of_date,
                    result.output if whole else result.streamed,
                    run_report.encode(run_report.document(record)),
                )
            except FollowupError as exc:
                record.warnings.append(str(exc))
                render.error(f"{exc}; the output files were written")
    render.summary(out, summary)
    render.nightly(
        out, _transition_rows(record.transitions), record.previous_as_of, record.warnings
    )
    if stale:
        render.note(
            out, f"removed {rejects_path}: it was from an earlier run; nothing is rejected now"
        )
    late = signals.noted_late()
    if late is not None:
        # For the run report; the line for the person comes from the command's guard.
        record.warnings.append(signals.describe_late(late))
    raise typer.Exit(code)


# The other commands register on `app` when their module is imported: after reconcile, so
# `followup --help` lists reconcile first.
from followup_cli.cli import commands as cli_commands  # noqa: E402, F401


def main() -> None:
    """Entry point of the `followup` console script."""
    signals.install_early()
    try:
        app()
    except KeyboardInterrupt:
        # Ctrl-C where no handler of ours was in place: still one line, no traceback.
        render.error(signals.message(signal.SIGINT))
        raise SystemExit(128 + signal.SIGINT) from None
    finally:
        report_late_signal()
