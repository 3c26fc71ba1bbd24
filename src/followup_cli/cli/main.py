"""The command line: `followup reconcile` (options -> request -> `run_job` -> render -> exit
code) and the `main` entry point of the console script.

The command line is these Typer modules only: `cli.app` (the app, the error guard that maps
domain errors to exit codes, the shared options), `cli.main` (reconcile), `cli.commands`
(explain, changes, history, generate) and `cli.render` (Rich). The nightly job itself is the
library call `followup_cli.job.nightly.run_job`. Exit codes (SPEC 6): 0 clean, 1 rows set
aside, 2 usage, 3 nothing reconciled. No Python traceback reaches a person; FOLLOWUP_DEBUG=1
shows one for an engineer.
"""

from __future__ import annotations

# First of all, before Polars and Typer take a few tenths of a second to import: from here on
# a signal ends the process with one line, never a KeyboardInterrupt traceback.
from followup_cli.cli import start as cli_start  # noqa: F401

# isort: split

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer._click.exceptions import ClickException, UsageError

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
    app,
    guarded,
    report_late_signal,
)
from followup_cli.cli.command_line import record_refused, request_from
from followup_cli.cli.rules_commands import RulesOpt
from followup_cli.job.nightly import run_job
from followup_cli.job.outcome import JobOutcome, Said
from followup_cli.nightly.reject_limits import DEFAULT_MAX_REJECTED
from followup_cli.outputs import signals


@app.command()
@guarded
def reconcile(
    ctx: typer.Context,
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
    surcharge: SurchargeOpt = None,
    rules: RulesOpt = None,
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
    split_by: Annotated[
        str | None,
        typer.Option(
            "--split-by",
            metavar="COLUMN",
            help="Write one output file per value of this customers-file column, beside -o "
            "(lists-Downtown.xlsx, ...; people without a value in lists-no-COLUMN.xlsx). "
            "Example: -o lists.xlsx --split-by home_club",
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
            metavar="PATH",
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
            metavar="DIR",
            help="Keep each run as DIR/as_of=YYYY-MM-DD/ and compare with the latest earlier one. "
            "Example: --history runs/",
            show_default=False,
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Compare with this earlier output (csv, parquet or jsonl) instead of --history. "
            "Example: --previous out/followup-2024-07-30.csv",
            show_default=False,
        ),
    ] = None,
    changes: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
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
    # One mapping from the options to the request, shared with a refused command line's record.
    request = request_from(ctx.params)
    out = render.console(quiet)
    with render.progress(out) as step:
        outcome = run_job(request, step)
    raise typer.Exit(_shown(outcome, out, quiet))


def _shown(outcome: JobOutcome, out: Console, quiet: bool) -> int:
    """Say how the run went, on standard error, and give its exit code."""
    if outcome.summary is not None:
        render.summary(out, outcome.summary)
        render.nightly(out, outcome.transitions, outcome.previous_as_of, list(outcome.warnings))
    if outcome.removed_stale_rejects is not None:
        render.note(
            out,
            f"removed {outcome.removed_stale_rejects}: it was from an earlier run; "
            f"nothing is rejected now",
        )
    for warning in [] if quiet else outcome.record_warnings:
        # One line, never wrapped, even in a cron log (the console wraps at its width).
        print(f"followup: warning: {warning}", file=sys.stderr, flush=True)
    for problem in outcome.problems:
        render.error(problem)
    if outcome.error is not None:
        render.error(outcome.error)
    return outcome.exit_code


# The other commands register on `app` when their module is imported: after reconcile, so
# `followup --help` lists reconcile first.
from followup_cli.cli import commands as cli_commands  # noqa: E402, F401


def main() -> None:
    """Entry point of the `followup` console script."""
    signals.install_early()
    try:
        # Not standalone: a command line Click refuses comes back here as a UsageError, so
        # that the run can still be recorded (SPEC 8) before it ends with exit 2.
        code = app(standalone_mode=False)
    except UsageError as exc:
        exc.show()
        code = exc.exit_code
        for problem in _recorded(exc).problems:
            render.error(problem)
    except ClickException as exc:
        exc.show()
        code = exc.exit_code
    except typer.Abort:
        render.error("aborted")
        code = 1
    except KeyboardInterrupt:
        # Ctrl-C where no handler of ours was in place: still one line, no traceback.
        render.error(signals.message(signal.SIGINT))
        raise SystemExit(128 + signal.SIGINT) from None
    finally:
        report_late_signal()
        signals.ended()
    raise SystemExit(code if isinstance(code, int) else 0)


def _recorded(exc: UsageError) -> Said:
    """Record a reconcile run whose command line Click refused; a help request or another
    command is not a run."""
    args = sys.argv[1:]
    words = [arg for arg in args if not arg.startswith("-")]
    command = typer.main.get_command(app)
    others = set(getattr(command, "commands", {})) - {"reconcile"}
    if (words and words[0] in others) or {"-h", "--help"} & set(args):
        return Said()
    reconcile_command = getattr(command, "commands", {}).get("reconcile", command)
    return record_refused(reconcile_command, args, exc.format_message())
