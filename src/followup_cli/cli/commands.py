"""The commands besides `reconcile` (a Typer module): explain, changes, history, trends,
generate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from followup_cli.cli import app as shared
from followup_cli.cli import render
from followup_cli.cli.rules_commands import RulesOpt
from followup_cli.core.errors import (
    OutputError,
    UsageError,
)
from followup_cli.core.formats import EXPORT_EXTENSIONS
from followup_cli.core.schema import TABLE_NAMES
from followup_cli.job import options
from followup_cli.job.explain import explain as build_explanation
from followup_cli.job.request import Inputs
from followup_cli.job.rules import settings_for
from followup_cli.nightly import history as snapshots
from followup_cli.nightly import stored_nights
from followup_cli.nightly import trends as night_trends
from followup_cli.outputs.destinations import check_writable, output_format
from followup_cli.outputs.safe_csv import guard_formulas
from followup_cli.outputs.serialise import UNDATED, write_frame
from followup_cli.outputs.workbook import Sheets, no_lists
from followup_cli.reading.run import read_and_validate
from followup_cli.synthetic.generate import generate as write_synthetic_exports


@shared.app.command()
@shared.guarded
def explain(
    customer_id: Annotated[
        str, typer.Argument(help="The person to explain. Example: C-5", show_default=False)
    ],
    data: shared.DataOpt = Path("."),
    customers: shared.CustomersOpt = None,
    agreements: shared.AgreementsOpt = None,
    payments: shared.PaymentsOpt = None,
    events: shared.EventsOpt = None,
    without: shared.WithoutOpt = None,
    as_of: shared.AsOfOpt = None,
    surcharge: shared.SurchargeOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Show one person's ledger, running balance and every follow-up rule's verdict.

    Example:

        followup explain C-5 --data exports/ --as-of 2024-07-31
    """
    as_of_date = options.as_of_date(as_of)
    settings, recorded = settings_for(rules, surcharge)
    files = Inputs(customers=customers, agreements=agreements, payments=payments, events=events)
    tables, _timings, raw = read_and_validate(data, files.overrides(), as_of_date, without or ())
    explained = build_explanation(
        tables, customer_id, as_of_date, settings, customers_file=raw["customers"]
    )
    out = render.console(stderr=False)
    if recorded is not None:
        out.print(f"Rules: {recorded['path']} (sha256 {recorded['sha256'][:12]})", highlight=False)
    render.explanation(out, explained)


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
        help="Write here instead of standard output; .csv, .parquet, .jsonl or .xlsx (a "
        "workbook of one sheet). Example: -o moved.xlsx",
    ),
]


@shared.app.command("changes")
@shared.guarded
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
    raw_text: shared.RawTextOpt = False,
    bom: shared.BomOpt = False,
    quiet: shared.QuietOpt = False,
) -> None:
    """Who moved where between two stored runs: one row per changed, new or gone person.

    Example:

        followup changes --history runs/ --from 2024-07-01 --to 2024-07-31
    """
    destination, fmt = _list_destination(output, history)
    frm, to, frame = stored_nights.between(
        history,
        options.as_of_date(start, "--from") if start else None,
        options.as_of_date(end, "--to") if end else None,
    )
    _write_list(frame, destination, fmt, raw_text, bom, Sheets(to.as_of, changes=frame))
    render.note(render.console(quiet), f"{frame.height:,} change(s) from {frm.as_of} to {to.as_of}")


@shared.app.command("history")
@shared.guarded
def history_command(
    customer_id: Annotated[
        str, typer.Argument(help="The person to follow. Example: C-5", show_default=False)
    ],
    history: HistoryDirOpt,
    output: ListOutputOpt = None,
    raw_text: shared.RawTextOpt = False,
    bom: shared.BomOpt = False,
) -> None:
    """One person's follow-up and account status over the stored runs, as periods.

    Example:

        followup history C-5 --history runs/
    """
    destination, fmt = _list_destination(output, history)
    frame = stored_nights.periods(history, customer_id)
    last = frame.get_column("to").max()
    as_of = last if isinstance(last, dt.date) else UNDATED
    _write_list(frame, destination, fmt, raw_text, bom, Sheets(as_of, tables=((HISTORY, frame),)))


@shared.app.command("trends")
@shared.guarded
def trends_command(
    history: HistoryDirOpt,
    output: ListOutputOpt = None,
    raw_text: shared.RawTextOpt = False,
    bom: shared.BomOpt = False,
) -> None:
    """People per follow-up list and money owed per account status, one row per stored run.

    Example:

        followup trends --history runs/ -o trends.xlsx
    """
    destination, fmt = _list_destination(output, history)
    frame = night_trends.figures(history)
    last = frame.get_column(night_trends.AS_OF).max()
    as_of = last if isinstance(last, dt.date) else UNDATED
    # Counts, money and dates, under the lists' names: a name such as `=1+1` is guarded.
    _write_list(frame, destination, fmt, raw_text, bom, Sheets(as_of, trends=frame))


HISTORY = "Status history"  # not "History": Excel reserves that sheet name
LIST_FORMATS = ("csv", "parquet", "jsonl", "xlsx")


def _list_destination(output: str | None, history: Path) -> tuple[Path | None, str]:
    """Where changes, history or trends go and in which format, checked before any snapshot
    is read (and that --history is a folder at all): a file in a snapshot folder
    (followup.parquet itself) would ruin the history it is read from."""
    if not history.exists():
        # Said before counting what is there: "0 snapshot(s)" read as an empty history.
        raise UsageError(f"--history {history}: no such folder")
    if not history.is_dir():
        raise UsageError(f"--history {history}: not a folder; give the folder of stored runs")
    destination = None if output in (None, "-") else Path(output)
    if destination is not None:
        check_writable("--output", destination)  # a folder: exit 2 now, as reconcile's -o
    fmt = output_format(destination, None, formats=False)
    if fmt not in LIST_FORMATS:
        raise UsageError(
            f"--output {output}: this command writes {', '.join(LIST_FORMATS)}; "
            f"end the name in .csv, .parquet, .jsonl or .xlsx"
        )
    snapshots.check_not_inside(history, [("--output", destination)])
    return destination, fmt


def _write_list(
    frame: pl.DataFrame,
    destination: Path | None,
    fmt: str,
    raw_text: bool,
    bom: bool,
    sheets: Sheets,
) -> None:
    """As reconcile writes its files: CSV text guarded against formulas unless --raw-text; a
    workbook (SPEC 9) holds `frame` in the sheet `sheets` names, and no lists."""
    if fmt == "csv" and not raw_text:
        frame = guard_formulas(frame)
    if fmt == "xlsx":
        write_frame(no_lists(), destination, fmt, sheets=sheets)
        return
    write_frame(frame, destination, fmt, bom=bom)


@shared.app.command()
@shared.guarded
def generate(
    customers: Annotated[
        int,
        typer.Option(
            "--customers",
            min=1,
            metavar="N",
            help="How many people to make (about 1.5 agreements, 10 payments and 4.5 events "
            "each, class visits included). Example: --customers 1000000",
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
        shared.ExportFormat,
        typer.Option("--format", metavar="FORMAT", help="csv or parquet. Example: --format csv"),
    ] = shared.DEFAULT_EXPORT_FORMAT,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace the exports already in --out (without it, such a folder is refused). "
            "Example: --force",
        ),
    ] = False,
    quiet: shared.QuietOpt = False,
) -> None:
    """Write realistic synthetic exports, valid under the spec, for trying the tool at scale.

    Example:

        followup generate --customers 1000000 --out bench-data/1m --format parquet
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; give a folder to write into")
    existing = _exports_in(out)
    if existing and not force:
        raise UsageError(
            f"--out {out} holds exports already ({', '.join(existing)}); "
            f"choose an empty folder, or pass --force to replace them"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"--out {out}: the folder cannot be made ({exc.strerror or exc}); nothing was written"
        ) from None
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
