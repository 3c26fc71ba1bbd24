"""The command line's frame (a Typer module): the app, the error guard every command wears,
and the options the commands share (their values are read by `job.options`)."""

from __future__ import annotations

import functools
import os
import signal
import sys
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from followup_cli import __version__
from followup_cli.cli import render
from followup_cli.core.errors import (
    EXIT_NOTHING_RECONCILED,
    EXIT_OK,
    FollowupError,
)
from followup_cli.core.formats import EXPORT_FORMATS, OUTPUT_FORMATS
from followup_cli.outputs import signals


class NotAChoice(typer.BadParameter):
    """A value outside an option's choices, said as the project says a bad option: the
    option, the value, and the choices, in words (not pydantic's "Value error, ...")."""

    def format_message(self) -> str:
        return self.message


CHOICE_NOUNS = {"--format": "a format"}  # what a value of the option is; else "a choice"


def _not_a_choice(exc: typer.BadParameter) -> NotAChoice | None:
    """The sentence for a value not among an option's choices (an Enum option), or None
    when `exc` is another kind of bad value, left as Click says it."""
    descriptor = getattr(exc.param, "type_descriptor", None)
    choices = getattr(descriptor, "choices", None) if getattr(descriptor, "is_choice", 0) else None
    if exc.param is None or not choices:
        return None
    names = [str(getattr(choice, "value", choice)) for choice in choices]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    option = max(exc.param.opts, key=len)
    errors: list[dict[str, Any]] = getattr(exc.__cause__, "errors", list)()  # pydantic's
    given = f"{errors[0]['input']!r}" if errors and "input" in errors[0] else "the value"
    noun = CHOICE_NOUNS.get(option, "a choice")
    return NotAChoice(f"{option}: {given} is not {noun}; choose {listed}", ctx=exc.ctx)


class Commands(TyperGroup):
    """The app's commands, with an option's choices refused in one plain sentence."""

    def invoke(self, ctx: Any) -> Any:  # Click's Context (Typer's own copy of Click)
        try:
            return super().invoke(ctx)
        except typer.BadParameter as exc:
            said = _not_a_choice(exc)
            if said is None:
                raise
            raise said from None


app = typer.Typer(
    name="followup",
    cls=Commands,
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
            render.error(signals.message(signal.SIGINT))
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
            for said in getattr(exc, "__notes__", ()):
                # What the failed run could not write (its report, say), said in passing.
                render.error(str(said))
            render.error(
                f"internal error ({type(exc).__name__}: {exc}); nothing was written. "
                f"Run again with FOLLOWUP_DEBUG=1 for details, and report it."
            )
            raise typer.Exit(EXIT_NOTHING_RECONCILED) from None
        finally:
            report_late_signal()

    return wrapper


def report_late_signal() -> None:
    """Say so when a signal came after the output set was written (the commit point): the
    run kept its own exit code, and the person who sent it must know why it did not stop.
    Shown even with --quiet, on one line."""
    late = signals.late_signal()
    if late is not None:
        print(f"followup: {signals.describe_late(late)}", file=sys.stderr, flush=True)


class OnError(StrEnum):
    reject = "reject"
    fail = "fail"


# The choices of --format, from the one list of formats: what reconcile may write, and what
# generate writes (the formats the exports may come in).
Format = StrEnum("Format", [(name, name) for name in OUTPUT_FORMATS])  # type: ignore[misc]
ExportFormat = StrEnum("ExportFormat", [(name, name) for name in EXPORT_FORMATS])  # type: ignore[misc]
DEFAULT_EXPORT_FORMAT = ExportFormat("parquet")


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
    str | None,
    typer.Option(
        metavar="AMOUNT",
        help="Charge added for every one-off payment (default: the rules file's, 1.00). "
        "Example: --surcharge 1.50",
        show_default=False,
    ),
]
RawTextOpt = Annotated[
    bool,
    typer.Option(
        "--raw-text",
        help="Write CSV text exactly as computed, without the ' that stops a spreadsheet "
        "running a value such as =1+1 as a formula (for programs). Example: --raw-text",
    ),
]
BomOpt = Annotated[
    bool,
    typer.Option(
        "--bom",
        help="Start CSV files with a UTF-8 BOM, so Excel on Windows shows accents. Example: --bom",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No summary, warnings or progress; errors still show. Example: -q"
    ),
]


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
