"""The command line: options in, one core call, output and summary out (the only Typer module).

Exit codes live here and only here (SPEC 6): 0 clean, 1 rows set aside, 2 usage, 3 nothing
reconciled. No Python traceback reaches a person; FOLLOWUP_DEBUG=1 shows one for an engineer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import re
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import polars as pl
import typer
from typer.exceptions import TyperException

from followup_cli import __version__, fingerprint, health, metrics, render, signals
from followup_cli import changes as change_log
from followup_cli import history as snapshots
from followup_cli import report as run_report
from followup_cli.errors import (
    EXIT_NOTHING_RECONCILED,
    EXIT_OK,
    EXIT_REJECTED_ROWS,
    EXIT_USAGE,
    BadRowError,
    FollowupError,
    UsageError,
)
from followup_cli.explain import explain as build_explanation
from followup_cli.formats import EXPORT_EXTENSIONS, EXPORT_FORMATS, OUTPUT_FORMATS
from followup_cli.generate import generate as write_synthetic_exports
from followup_cli.ledger import LedgerSettings
from followup_cli.limits import DEFAULT_MAX_REJECTED, check_usable, parse_percent
from followup_cli.lists import (
    carried_columns,
    chosen_statuses,
    keep_lists,
    sort_order,
    sort_rows,
)
from followup_cli.lists import carry as carry_columns
from followup_cli.locate import locate_tables
from followup_cli.money import cents_text
from followup_cli.output import (
    Fill,
    check_destinations,
    default_rejects_path,
    frame_writer,
    is_rejects_file,
    output_format,
    write_frame,
    write_together,
)
from followup_cli.parsing import amount_cents
from followup_cli.reconcile import load, run
from followup_cli.safe_csv import guard_formulas
from followup_cli.schema import OUTPUT_COLUMNS, TABLE_NAMES
from followup_cli.summary import describe_rejects, summarise
from followup_cli.workbook import Sheets

app = typer.Typer(
    name="followup",
    help="Follow-up lists and subscription account status for studio gyms, from club exports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


P = ParamSpec("P")
R = TypeVar("R")


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Domain errors become one sentence and their exit code; a bug still shows no traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with signals.handled():
                return command(*args, **kwargs)
        except (TyperException, typer.Exit, typer.Abort):
            raise
        except signals.Interrupted as exc:
            render.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:  # Ctrl-C where no handler could be installed
            render.error("interrupted by SIGINT; no partial file was left")
            raise typer.Exit(128 + signal.SIGINT) from None
        except FollowupError as exc:
            render.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except (SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            # BaseException, not Exception: a panic in Polars' native code arrives as
            # pyo3's PanicException, which derives from BaseException; it too is one line.
            if os.environ.get("FOLLOWUP_DEBUG"):
                traceback.print_exc()
            render.error(
                f"internal error ({type(exc).__name__}: {exc}); nothing was written. "
                f"Run again with FOLLOWUP_DEBUG=1 for details, and report it."
            )
            raise typer.Exit(EXIT_NOTHING_RECONCILED) from None

    return wrapper


class OnError(StrEnum):
    reject = "reject"
    fail = "fail"


# The choices of --format, from the one list of formats: what reconcile may write, and what
# generate writes (the formats the exports may come in).
Format = StrEnum("Format", [(name, name) for name in OUTPUT_FORMATS])  # type: ignore[misc]
ExportFormat = StrEnum("ExportFormat", [(name, name) for name in EXPORT_FORMATS])  # type: ignore[misc]
DEFAULT_EXPORT_FORMAT = ExportFormat("parquet")


def _as_of(value: str | None, option: str = "--as-of") -> dt.date:
    """The one date parser of the command line (--as-of, --from, --to): YYYY-MM-DD, `today`
    or `yesterday` (the local calendar day); None is today. Errors name `option`."""
    word = (value or "today").strip().lower()
    if word in ("today", "yesterday"):
        return dt.date.today() - dt.timedelta(days=1 if word == "yesterday" else 0)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
        raise UsageError(
            f"{option}: {value!r} is not a date; expected YYYY-MM-DD (e.g. 2024-07-31), "
            f"today or yesterday"
        )
    try:
        return dt.date.fromisoformat(word)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a real calendar date") from None


def _files(
    customers: Path | None, agreements: Path | None, payments: Path | None, events: Path | None
) -> dict[str, Path | None]:
    """The files named one by one; None means "look in --data"."""
    return {
        "customers": customers,
        "agreements": agreements,
        "payments": payments,
        "events": events,
    }


MAX_SURCHARGE_CENTS = 1_000_000_00  # far above any real fee; keeps every sum well in range


def _cents(value: str) -> int:
    """--surcharge, read by the same rules as money in the exports, up to 1,000,000.00."""
    try:
        cents = amount_cents(value, "--surcharge")
    except ValueError as exc:
        raise UsageError(f"--surcharge: {value!r}: {exc}") from None
    if cents > MAX_SURCHARGE_CENTS:
        raise UsageError(
            f"--surcharge: {value!r} is too large; at most {cents_text(MAX_SURCHARGE_CENTS)}"
        )
    return cents


def _max_rejected(value: str) -> Fraction:
    try:
        return parse_percent(value)
    except ValueError as exc:
        raise UsageError(f"--max-rejected: {exc}") from None


DataOpt = Annotated[
    Path,
    typer.Option(
        "--data",
        readable=False,
        metavar="DIR",
        help="Folder with customers, agreements, payments and events files (.csv or .parquet). "
        "Example: --data exports/",
    ),
]
CustomersOpt = Annotated[
    Path | None,
    typer.Option(
        readable=False,
        metavar="PATH",
        help="The customers file, instead of the one in --data. "
        "Example: --customers exports/clients.csv",
    ),
]
AgreementsOpt = Annotated[
    Path | None,
    typer.Option(
        readable=False,
        metavar="PATH",
        help="The agreements file, instead of the one in --data. "
        "Example: --agreements exports/agreements.parquet",
    ),
]
PaymentsOpt = Annotated[
    Path | None,
    typer.Option(
        readable=False,
        metavar="PATH",
        help="The payments file, instead of the one in --data. "
        "Example: --payments exports/payments.csv",
    ),
]
EventsOpt = Annotated[
    Path | None,
    typer.Option(
        readable=False,
        metavar="PATH",
        help="The calendar events file, instead of the one in --data. "
        "Example: --events exports/calendar.csv",
    ),
]
WithoutOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--without",
        metavar="TABLE",
        help="Run without this table (agreements, payments or events; repeatable): it counts "
        "as empty instead of being an error when missing. Example: --without events",
        show_default=False,
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        help="Reconcile as the world stood at the end of this day: YYYY-MM-DD, today or "
        "yesterday (default: today). Example: --as-of 2024-07-31, or --as-of yesterday in a "
        "job run after midnight",
        show_default=False,
    ),
]
SurchargeOpt = Annotated[
    str,
    typer.Option(
        metavar="AMOUNT", help="Charge added for every one-off payment. Example: --surcharge 1.50"
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No summary, warnings or progress; errors still show. Example: -q"
    ),
]


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
) -> None:
    """Label every person with a follow-up status and account status, with the reasons.

    Example:

        followup reconcile --data exports/ --as-of 2024-07-31 -o followup.csv

        followup reconcile --status "Delinquent Customer" --sort days_in_arrears -o due.xlsx
    """
    spelled = {"fmt": "format", "metrics_file": "metrics"}  # as the options are written
    arguments = {
        spelled.get(name, name): value if value is None or isinstance(value, bool) else str(value)
        for name, value in locals().items()
    }
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
        )


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
) -> None:
    out = render.console(quiet)
    as_of_date = _as_of(as_of)
    record.as_of = as_of_date
    settings = LedgerSettings(surcharge_cents=_cents(surcharge))
    limit = _max_rejected(max_rejected)
    destination = None if output in (None, "-") else Path(output)
    chosen = output_format(destination, fmt.value if fmt else None)
    rejects_path = rejects or default_rejects_path(destination)
    changes_path = changes or change_log.changes_path(destination)
    record.located = locate_tables(data, overrides, without)
    inputs = [path for path in record.located.values() if path is not None]
    check_destinations(destination, rejects_path, inputs)
    comparing = history is not None or previous is not None
    if comparing:
        _check_changes_destination(changes_path, destination, rejects_path, inputs)
    statuses = chosen_statuses(lists.status)
    customers_file = record.located["customers"]
    carried = {}
    if lists.carry and customers_file is not None:
        names = [c for item in lists.carry for c in item.split(",")]
        carried = carried_columns(customers_file, names)
    order = sort_order(lists.sort, (*OUTPUT_COLUMNS, *carried))
    before, previous_report = _previous_run(record, history, previous, as_of_date)
    with render.progress(out) as step:
        step("fingerprinting inputs")
        started = time.perf_counter()
        record.fingerprints = fingerprint.take_all(inputs)
        record.stages["fingerprint"] = time.perf_counter() - started
        result = run(data, overrides, as_of_date, settings, progress=step, without=without)
        record.stages.update(result.timings)
        record.counts = result.counts
        record.ignored_columns = {
            name: list(raw.unknown_columns) for name, raw in result.inputs.items()
        }
        rows = result.output
        if carried and customers_file is not None:
            # Before the inputs are checked again: the carried values are read from the file.
            rows = carry_columns(rows, customers_file, carried, result.customer_lines)
        rows = sort_rows(keep_lists(rows, statuses), order)
        started = time.perf_counter()
        # Parquet inputs are scanned lazily, so reading ends only once everything is collected.
        fingerprint.verify(record.fingerprints)
        record.stages["verify"] = time.perf_counter() - started
        check_usable(result, limit)
        if on_error is OnError.fail and result.rejects.height:
            first = describe_rejects(result.rejects, limit=1)[0]
            raise BadRowError(f"{first}; --on-error fail: nothing written")
        changed = None
        if before is not None:
            changed = change_log.changes(before, result.output, record.previous_as_of, as_of_date)
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
            _Delivery(rows, destination, chosen, sheets),
            _Delivery(result.rejects, rejects_path, "csv"),
            _Delivery(changed, changes_path, output_format(changes_path, None))
            if changed is not None
            else None,
            lists,
        )
        record.stages["write"] = result.timings["write"] = time.perf_counter() - started
    where = str(destination) if destination else "standard output"
    if statuses:
        where += f" ({rows.height:,} of {result.output.height:,} people: {', '.join(statuses)})"
    summary = summarise(result, as_of_date, rejects_path if result.rejects.height else None, where)
    record.summary = summary
    code = EXIT_REJECTED_ROWS if result.rejects.height else EXIT_OK
    record.finish(code)
    if history is not None:
        # After the output set is in place: a snapshot is a run that was delivered.
        snapshots.store(
            history, as_of_date, result.output, run_report.encode(run_report.document(record))
        )
    render.summary(out, summary)
    render.nightly(
        out, _transition_rows(record.transitions), record.previous_as_of, record.warnings
    )
    if stale:
        render.note(
            out, f"removed {rejects_path}: it was from an earlier run; nothing is rejected now"
        )
    raise typer.Exit(code)


@dataclass(frozen=True)
class _Lists:
    """What a person asked of the lists (SPEC 9): which, in what order, with which columns."""

    status: list[str]
    sort: str | None
    carry: list[str]
    raw_text: bool
    bom: bool


@dataclass(frozen=True)
class _Delivery:
    """One file of the run's set: its rows, where they go and in which format."""

    rows: pl.DataFrame
    path: Path | None
    fmt: str
    sheets: Sheets | None = None


def _deliver(
    output: _Delivery, rejects: _Delivery, changed: _Delivery | None, lists: _Lists
) -> tuple[list[run_report.OutputFile], bool]:
    """Write the output, rejects and changes files as one set (SPEC 6: all of them or none);
    what was written, for the report, and whether an earlier run's rejects file was removed.
    CSV text is guarded against spreadsheet formulas unless --raw-text (SPEC 9)."""
    chosen = [output] + ([rejects] if rejects.rows.height else []) + ([changed] if changed else [])
    files: list[tuple[Path | None, Fill]] = []
    for part in chosen:
        rows = part.rows
        if part.fmt == "csv" and not lists.raw_text:
            rows = guard_formulas(rows)
        files.append((part.path, frame_writer(rows, part.fmt, bom=lists.bom, sheets=part.sheets)))
    names = ["output", "rejects", "changes"] if rejects.rows.height else ["output", "changes"]
    # A rejects file from an earlier run beside a clean output would send someone to fix rows
    # that are no longer bad. Only a file with the rejects header is removed, and only when the
    # rest of the set is written.
    stale = not rejects.rows.height and rejects.path is not None and is_rejects_file(rejects.path)
    write_together(files, remove=[rejects.path] if stale and rejects.path else [])
    written = [
        run_report.written_file(name, part.path, part.fmt, part.rows.height)
        for name, part in zip(names, chosen, strict=False)
    ]
    return written, stale


def _check_changes_destination(
    path: Path, output: Path | None, rejects: Path, inputs: list[Path]
) -> None:
    output_format(path, None)  # an unknown extension is a usage error before any work
    if path.resolve() in {p.resolve() for p in inputs}:
        raise UsageError(f"--changes {path} is one of the input files; choose another name")
    if path.is_dir():
        raise UsageError(f"--changes {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"--changes {path}: the folder {path.parent} does not exist")
    if path.resolve() in {rejects.resolve(), *([output.resolve()] if output else [])}:
        raise UsageError(f"--changes {path} is also the output or rejects file; give three names")


def _previous_run(
    record: run_report.RunRecord, history: Path | None, previous: Path | None, as_of: dt.date
) -> tuple[pl.DataFrame | None, dict[str, object] | None]:
    """The previous output to compare with, and its run report when one is stored with it."""
    if previous is not None:
        record.previous_source = str(previous)
        record.previous_as_of = snapshots.as_of_of(previous)
        beside = previous.parent / snapshots.REPORT_FILE
        return snapshots.read_output(previous), run_report.read_previous(beside)
    if history is None:
        return None, None
    snapshot = snapshots.previous_snapshot(history, as_of)
    if snapshot is None:
        return None, None
    record.previous_source = str(snapshot.output)
    record.previous_as_of = snapshot.as_of
    return snapshots.read_output(snapshot.output), run_report.read_previous(snapshot.report)


def _transition_rows(frame: pl.DataFrame | None) -> tuple[tuple[str, str, str, int], ...] | None:
    if frame is None:
        return None
    return tuple(frame.select("field", "from", "to", "people").iter_rows())


@contextlib.contextmanager
def _recorded(
    record: run_report.RunRecord, report: Path | None, metrics_path: Path | None
) -> Iterator[None]:
    """Write the run report and metrics however the run ends (SPEC 8), failed runs included.

    An interrupted run (Ctrl-C, SIGTERM) writes nothing at all (SPEC 6), so only exceptions,
    not BaseExceptions, are recorded.
    """
    try:
        yield
    except typer.Exit as exc:
        if record.exit_code is None:
            record.finish(exc.exit_code)
        _write_record(record, report, metrics_path)
        raise
    except Exception as exc:
        if isinstance(exc, FollowupError):
            record.finish(exc.exit_code, str(exc))
        elif isinstance(exc, TyperException):
            record.finish(getattr(exc, "exit_code", EXIT_USAGE), exc.format_message())
        else:
            record.finish(EXIT_NOTHING_RECONCILED, f"internal error ({type(exc).__name__}: {exc})")
        try:
            _write_record(record, report, metrics_path)
        except FollowupError as unwritten:
            # The run's own failure is the one to report; this one is said in passing.
            render.error(str(unwritten))
        raise


def _write_record(
    record: run_report.RunRecord, report: Path | None, metrics_path: Path | None
) -> None:
    """The report, then the metrics; if either cannot be written the run fails (exit 3), and
    the other still says so where it can."""
    failure: FollowupError | None = None
    for path, writer in ((report, run_report.write), (metrics_path, metrics.write)):
        if path is None:
            continue
        try:
            writer(path, run_report.document(record))
        except FollowupError as exc:
            if failure is None:
                failure = exc
                if record.succeeded:
                    record.finish(exc.exit_code, str(exc))
    if failure is not None:
        # Write the one that worked again so both say the run failed.
        for path, writer in ((report, run_report.write), (metrics_path, metrics.write)):
            if path is not None:
                with contextlib.suppress(FollowupError):
                    writer(path, run_report.document(record))
        raise failure


@app.command()
@guarded
def explain(
    customer_id: Annotated[
        str, typer.Argument(help="The person to explain. Example: C-5", show_default=False)
    ],
    data: DataOpt = Path("."),
    customers: CustomersOpt = None,
    agreements: AgreementsOpt = None,
    payments: PaymentsOpt = None,
    events: EventsOpt = None,
    without: WithoutOpt = None,
    as_of: AsOfOpt = None,
    surcharge: SurchargeOpt = "1.00",
) -> None:
    """Show one person's ledger, running balance and every follow-up rule's verdict.

    Example:

        followup explain C-5 --data exports/ --as-of 2024-07-31
    """
    as_of_date = _as_of(as_of)
    settings = LedgerSettings(surcharge_cents=_cents(surcharge))
    overrides = _files(customers, agreements, payments, events)
    tables, _timings = load(data, overrides, as_of_date, without or ())
    render.explanation(
        render.console(stderr=False), build_explanation(tables, customer_id, as_of_date, settings)
    )


HistoryDirOpt = Annotated[
    Path,
    typer.Option(
        "--history",
        metavar="DIR",
        help="The folder `reconcile --history` keeps its runs in. Example: --history runs/",
    ),
]
ListOutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="PATH",
        help="Write here instead of standard output; .csv, .parquet or .jsonl. "
        "Example: -o moved.csv",
    ),
]


@app.command("changes")
@guarded
def changes_command(
    history: HistoryDirOpt,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="YYYY-MM-DD",
            help="Compare from the snapshot of this day, or the latest before it (default: the "
            "one before --to). Example: --from 2024-07-01",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="YYYY-MM-DD",
            help="Compare to the snapshot of this day, or the latest before it (default: the "
            "latest). Example: --to 2024-07-31",
            show_default=False,
        ),
    ] = None,
    output: ListOutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Who moved where between two stored runs: one row per changed, new or gone person.

    Example:

        followup changes --history runs/ --from 2024-07-01 --to 2024-07-31
    """
    frm, to, frame = snapshots.between(
        history,
        _as_of(start, "--from") if start else None,
        _as_of(end, "--to") if end else None,
    )
    destination = None if output in (None, "-") else Path(output)
    write_frame(frame, destination, output_format(destination, None))
    render.note(render.console(quiet), f"{frame.height:,} change(s) from {frm.as_of} to {to.as_of}")


@app.command("history")
@guarded
def history_command(
    customer_id: Annotated[
        str, typer.Argument(help="The person to follow. Example: C-5", show_default=False)
    ],
    history: HistoryDirOpt,
    output: ListOutputOpt = None,
) -> None:
    """One person's follow-up and account status over the stored runs, as periods.

    Example:

        followup history C-5 --history runs/
    """
    frame = snapshots.periods(history, customer_id)
    destination = None if output in (None, "-") else Path(output)
    write_frame(frame, destination, output_format(destination, None))


@app.command()
@guarded
def generate(
    customers: Annotated[
        int,
        typer.Option(
            "--customers",
            min=1,
            metavar="N",
            help="How many people to make (about 1.5 agreements, 10 payments and 1 event "
            "each). Example: --customers 1000000",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            metavar="DIR", help="Folder to write the four files into. Example: --out bench-data/1m"
        ),
    ],
    seed: Annotated[
        int,
        typer.Option(metavar="N", help="The same seed gives the same files. Example: --seed 7"),
    ] = 0,
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", metavar="FORMAT", help="csv or parquet. Example: --format csv"),
    ] = DEFAULT_EXPORT_FORMAT,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace the exports already in --out (without it, such a folder is refused). "
            "Example: --force",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write realistic synthetic exports, valid under the spec, for trying the tool at scale.

    Example:

        followup generate --customers 1000000 --out bench-data/1m --format parquet
    """
    existing = _exports_in(out)
    if existing and not force:
        raise UsageError(
            f"--out {out} holds exports already ({', '.join(existing)}); "
            f"choose an empty folder, or pass --force to replace them"
        )
    out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now()
    written = write_synthetic_exports(customers, out, seed=seed, fmt=fmt.value)
    seconds = (dt.datetime.now() - started).total_seconds()
    rows = ", ".join(f"{table} {count:,}" for table, count in written.items())
    render.note(render.console(quiet), f"wrote {out}: {rows} ({seconds:.1f}s)")


def _exports_in(folder: Path) -> list[str]:
    """Names of the table files in `folder` that `generate` would replace (or leave stale)."""
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.stem.lower() in TABLE_NAMES and p.suffix.lower() in EXPORT_EXTENSIONS
    )


def _version(value: bool) -> None:
    if value:
        print(f"followup {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit. Example: followup --version",
        ),
    ] = False,
) -> None:
    """Follow-up lists and subscription account status for studio gyms, from club exports.

    Example:

        followup reconcile --data sample_data --as-of 2024-07-31
    """


def main() -> None:
    """Entry point of the `followup` console script."""
    app()
