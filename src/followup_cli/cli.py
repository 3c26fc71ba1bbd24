"""The command line: options in, one core call, output and summary out (the only Typer module).

Exit codes live here and only here (SPEC 6): 0 clean, 1 rows set aside, 2 usage, 3 nothing
reconciled. No Python traceback reaches a person; FOLLOWUP_DEBUG=1 shows one for an engineer.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import signal
import traceback
from collections.abc import Callable
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from typer.exceptions import TyperException

from followup_cli import __version__, render, signals
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
from followup_cli.limits import DEFAULT_MAX_REJECTED, check_usable, parse_percent
from followup_cli.locate import locate_tables
from followup_cli.money import cents_text
from followup_cli.output import (
    Fill,
    check_destinations,
    default_rejects_path,
    frame_writer,
    is_rejects_file,
    output_format,
    write_together,
)
from followup_cli.parsing import amount_cents
from followup_cli.reconcile import load, run
from followup_cli.summary import describe_rejects, summarise

app = typer.Typer(
    name="followup",
    help="Follow-up lists and subscription account status for studio gyms, from club exports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
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


class Format(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


def _as_of(value: str | None) -> dt.date:
    """--as-of: YYYY-MM-DD, `today` or `yesterday` (the local calendar day)."""
    word = (value or "today").strip().lower()
    if word in ("today", "yesterday"):
        return dt.date.today() - dt.timedelta(days=1 if word == "yesterday" else 0)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
        raise UsageError(
            f"--as-of: {value!r} is not a date; expected YYYY-MM-DD (e.g. 2024-07-31), "
            f"today or yesterday"
        )
    try:
        return dt.date.fromisoformat(word)
    except ValueError:
        raise UsageError(f"--as-of: {value!r} is not a real calendar date") from None


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
        help="Folder with customers, agreements, payments and events files (.csv or .parquet). "
        "Example: --data exports/",
    ),
]
CustomersOpt = Annotated[
    Path | None,
    typer.Option(
        readable=False,
        help="The customers file, instead of the one in --data. "
        "Example: --customers exports/clients.csv",
    ),
]
AgreementsOpt = Annotated[
    Path | None,
    typer.Option(
        readable=False,
        help="The agreements file, instead of the one in --data. "
        "Example: --agreements exports/agreements.parquet",
    ),
]
PaymentsOpt = Annotated[
    Path | None,
    typer.Option(
        readable=False,
        help="The payments file, instead of the one in --data. "
        "Example: --payments exports/payments.csv",
    ),
]
EventsOpt = Annotated[
    Path | None,
    typer.Option(
        readable=False,
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
        metavar="YYYY-MM-DD|today|yesterday",
        help="Reconcile as the world stood at the end of this day (default: today). "
        "Example: --as-of 2024-07-31, or --as-of yesterday in a job run after midnight",
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
            help="Write here instead of standard output; .csv, .parquet or .jsonl. "
            "Example: -o followup.csv",
        ),
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format", help="Output format, overriding the extension. Example: --format jsonl"
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Where set-aside rows go (default: beside the output, or "
            "followup-rejects.csv here). Example: --rejects bad-rows.csv",
            show_default=False,
        ),
    ] = None,
    on_error: Annotated[
        OnError,
        typer.Option(
            "--on-error",
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
    quiet: QuietOpt = False,
) -> None:
    """Label every person with a follow-up status and account status, with the reasons.

    Example:

        followup reconcile --data exports/ --as-of 2024-07-31 -o followup.csv
    """
    out = render.console(quiet)
    as_of_date = _as_of(as_of)
    settings = LedgerSettings(surcharge_cents=_cents(surcharge))
    limit = _max_rejected(max_rejected)
    destination = None if output in (None, "-") else Path(output)
    chosen = output_format(destination, fmt.value if fmt else None)
    rejects_path = rejects or default_rejects_path(destination)
    overrides = _files(customers, agreements, payments, events)
    located = locate_tables(data, overrides, without or ())
    inputs = [path for path in located.values() if path is not None]
    check_destinations(destination, rejects_path, inputs)
    with render.progress(out) as step:
        result = run(data, overrides, as_of_date, settings, progress=step, without=without or ())
        check_usable(result, limit)
        if on_error is OnError.fail and result.rejects.height:
            first = describe_rejects(result.rejects, limit=1)[0]
            raise BadRowError(f"{first}; --on-error fail: nothing written")
        step("writing")
        started = dt.datetime.now()
        files: list[tuple[Path | None, Fill]] = [(destination, frame_writer(result.output, chosen))]
        if result.rejects.height:
            files.append((rejects_path, result.rejects.write_csv))
        # A rejects file from an earlier run beside a clean output would send someone to fix
        # rows that are no longer bad. Only a file with the rejects header is removed, and only
        # when the rest of the set is written.
        stale = not result.rejects.height and is_rejects_file(rejects_path)
        write_together(files, remove=[rejects_path] if stale else [])
        result.timings["write"] = (dt.datetime.now() - started).total_seconds()
    where = str(destination) if destination else "standard output"
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


@app.command()
@guarded
def generate(
    customers: Annotated[
        int,
        typer.Option(
            "--customers",
            min=1,
            help="How many people to make (about 1.5 agreements, 10 payments and 1 event "
            "each). Example: --customers 1000000",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(help="Folder to write the four files into. Example: --out bench-data/1m"),
    ],
    seed: Annotated[
        int, typer.Option(help="The same seed gives the same files. Example: --seed 7")
    ] = 0,
    fmt: Annotated[
        Format,
        typer.Option("--format", help="csv or parquet. Example: --format csv"),
    ] = Format.parquet,
    quiet: QuietOpt = False,
) -> None:
    """Write realistic synthetic exports, valid under the spec, for trying the tool at scale.

    Example:

        followup generate --customers 1000000 --out bench-data/1m --format parquet
    """
    if fmt is Format.jsonl:
        raise UsageError("--format: exports are csv or parquet")
    out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now()
    written = write_synthetic_exports(customers, out, seed=seed, fmt=fmt.value)
    seconds = (dt.datetime.now() - started).total_seconds()
    rows = ", ".join(f"{table} {count:,}" for table, count in written.items())
    render.note(render.console(quiet), f"wrote {out}: {rows} ({seconds:.1f}s)")


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
