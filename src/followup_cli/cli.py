"""The command line: options in, one core call, output and summary out (the only Typer module).

Exit codes live here and only here (SPEC 6): 0 clean, 1 rows set aside, 2 usage, 3 nothing
reconciled. No Python traceback reaches a person; FOLLOWUP_DEBUG=1 shows one for an engineer.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from typer.exceptions import TyperException

from followup_cli import __version__, render
from followup_cli.errors import (
    EXIT_NOTHING_RECONCILED,
    EXIT_OK,
    EXIT_REJECTED_ROWS,
    BadRowError,
    FollowupError,
    UsageError,
)
from followup_cli.explain import explain as build_explanation
from followup_cli.generate import generate as write_synthetic_exports
from followup_cli.ledger import LedgerSettings
from followup_cli.lists import (
    OUTPUT_COLUMNS,
    carried_columns,
    chosen_statuses,
    keep_lists,
    sort_order,
    sort_rows,
)
from followup_cli.lists import carry as carry_columns
from followup_cli.locate import FORMATS as LOCATED_FORMATS
from followup_cli.locate import locate_tables
from followup_cli.output import (
    check_destinations,
    default_rejects_path,
    is_rejects_file,
    output_format,
    write_atomically,
    write_frame,
)
from followup_cli.parsing import amount_cents
from followup_cli.reconcile import load, run
from followup_cli.safe_csv import guard_formulas
from followup_cli.schema import TABLE_NAMES
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
            return command(*args, **kwargs)
        except (TyperException, typer.Exit, typer.Abort):
            raise
        except FollowupError as exc:
            render.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
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


class Format(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"
    xlsx = "xlsx"


class ExportFormat(StrEnum):
    """What `generate` writes: the formats the exports may come in."""

    csv = "csv"
    parquet = "parquet"


def _as_of(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise typer.BadParameter(
            f"{value!r} is not a date; expected YYYY-MM-DD, e.g. 2024-07-31", param_hint="--as-of"
        )
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a real calendar date", param_hint="--as-of"
        ) from None


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


def _cents(value: str) -> int:
    """--surcharge, read by the same rules as money in the exports."""
    try:
        return amount_cents(value, "--surcharge")
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r}: {exc}") from None


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
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        help="Reconcile as the world stood at the end of this day, YYYY-MM-DD "
        "(default: today). "
        "Example: --as-of 2024-07-31",
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
) -> None:
    """Label every person with a follow-up status and account status, with the reasons.

    Example:

        followup reconcile --data exports/ --as-of 2024-07-31 -o followup.csv

        followup reconcile --status "Delinquent Customer" --sort days_in_arrears -o due.xlsx
    """
    out = render.console(quiet)
    as_of_date = _as_of(as_of)
    settings = LedgerSettings(surcharge_cents=_cents(surcharge))
    destination = None if output in (None, "-") else Path(output)
    chosen = output_format(destination, fmt.value if fmt else None)
    rejects_path = rejects or default_rejects_path(destination)
    overrides = _files(customers, agreements, payments, events)
    located = locate_tables(data, overrides)
    inputs = [path for path in located.values() if path is not None]
    check_destinations(destination, rejects_path, inputs)
    statuses = chosen_statuses(status or [])
    customers_file = located["customers"]
    carried = {}
    if carry and customers_file is not None:
        carried = carried_columns(customers_file, [c for item in carry for c in item.split(",")])
    order = sort_order(sort, (*OUTPUT_COLUMNS, *carried))
    with render.progress(out) as step:
        result = run(data, overrides, as_of_date, settings, progress=step)
        if on_error is OnError.fail and result.rejects.height:
            first = describe_rejects(result.rejects, limit=1)[0]
            raise BadRowError(f"{first}; --on-error fail: nothing written")
        step("writing")
        started = dt.datetime.now()
        rows = result.output
        if carried and customers_file is not None:
            rows = carry_columns(rows, customers_file, carried, result.customer_lines)
        rows = sort_rows(keep_lists(rows, statuses), order)
        sheets = None
        if chosen == "xlsx":
            run_summary = summarise(result, as_of_date, rejects_path, "")
            sheets = Sheets(as_of_date, run_summary, result.rejects)
        elif chosen == "csv" and not raw_text:
            rows = guard_formulas(rows)
        write_frame(rows, destination, chosen, bom=bom, sheets=sheets)
        stale = False
        if result.rejects.height:
            rejected = result.rejects if raw_text else guard_formulas(result.rejects)
            write_atomically(rejects_path, lambda sink: rejected.write_csv(sink, include_bom=bom))
        elif is_rejects_file(rejects_path):
            # A rejects file from an earlier run beside a clean output would send someone to
            # fix rows that are no longer bad. Only a file with the rejects header is removed.
            rejects_path.unlink()
            stale = True
        result.timings["write"] = (dt.datetime.now() - started).total_seconds()
    where = str(destination) if destination else "standard output"
    if statuses:
        where += f" ({rows.height:,} of {result.output.height:,} people: {', '.join(statuses)})"
    render.summary(
        out,
        summarise(result, as_of_date, rejects_path if result.rejects.height else None, where),
    )
    if stale:
        render.note(
            out, f"removed {rejects_path}: it was from an earlier run; nothing is rejected now"
        )
    raise typer.Exit(EXIT_REJECTED_ROWS if result.rejects.height else EXIT_OK)


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
    tables, _timings = load(data, overrides, as_of_date)
    render.explanation(
        render.console(stderr=False), build_explanation(tables, customer_id, as_of_date, settings)
    )


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
    ] = ExportFormat.parquet,
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
        if p.stem.lower() in TABLE_NAMES and p.suffix.lower() in LOCATED_FORMATS
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
