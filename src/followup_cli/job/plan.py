"""What the nightly job is asked, read and checked before any work (SPEC 6): the as-of date,
the surcharge, the reject limit, where each file of the output set goes and in which format,
the lists and the carried columns. A usage error (exit 2) is raised from here, before anything
is read beyond the customers file's header, and before the run report could overwrite an
input."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from followup_cli.core.errors import UsageError
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.schema import OUTPUT_COLUMNS
from followup_cli.job import options
from followup_cli.job.deliver import check_changes_destination, check_records
from followup_cli.job.record_folders import make_record_folders
from followup_cli.job.request import JobRequest
from followup_cli.job.rules import settings_for
from followup_cli.job.split import SplitBy, split_column
from followup_cli.nightly import report as run_report
from followup_cli.outputs.destinations import (
    beside,
    check_destinations,
    output_format,
    remove_made_folders,
    resolved,
)
from followup_cli.outputs.lists import (
    SortOrder,
    carried_columns,
    chosen_statuses,
    contact_columns,
    sort_order,
)
from followup_cli.outputs.safe_csv import guarded_clash
from followup_cli.reading.locate import check_not_read_next, locate_tables, possible_inputs

ON_ERROR = ("reject", "fail")


@dataclass(frozen=True)
class Plan:
    """The run's options read and checked, before any work."""

    as_of: dt.date
    settings: LedgerSettings
    limit: Fraction
    destination: Path | None
    fmt: str
    rejects: Path
    changes: Path
    inputs: tuple[Path, ...]
    statuses: tuple[str, ...]
    customers: Path | None
    carried: dict[str, str]
    order: SortOrder | None
    split: SplitBy | None = None  # --split-by: one output file per value


def read_plan(record: run_report.RunRecord, request: JobRequest) -> Plan:
    """Everything checked before any work; a usage error (exit 2) is raised from here."""
    o, r, data = request.outputs, request.records, request.inputs.data
    destination = o.destination
    rejects, changes = _beside_output(request)
    comparing = r.history is not None or r.previous is not None
    overrides, without = request.inputs.overrides(), request.inputs.without
    # First of all: even a run that fails at once must not write its report over an export.
    check_record_paths(request)
    record.as_of = as_of = options.as_of_date(request.as_of)
    recording = [o for o, p in (("--history", r.history), ("--metrics", r.metrics)) if p]
    options.check_recorded_night(as_of, recording)
    # --rules (SPEC 11) before any export is read: a refused file is exit 2.
    settings, record.rules = settings_for(request.rules, request.surcharge)
    limit = options.max_rejected_share(o.max_rejected)
    if o.on_error not in ON_ERROR:
        raise UsageError(f"--on-error {o.on_error!r}: choose one of {', '.join(ON_ERROR)}")
    fmt = output_format(destination, o.format)
    record.located = locate_tables(data, overrides, without)
    inputs = tuple(path for path in record.located.values() if path is not None)
    check_destinations(destination, rejects, [*inputs, *rules_file(request)])
    written = [("--output", destination), ("--rejects", rejects)]
    for option, path in [*written, *([("--changes", changes)] if comparing else [])]:
        check_not_read_next(option, path, data, overrides, without)
    if r.previous is not None and resolved("--rejects", rejects) == resolved(
        "--previous", r.previous
    ):
        raise UsageError(f"--rejects {rejects} is the --previous file; choose another name")
    if comparing:
        read_too = [*inputs, *rules_file(request), *([r.previous] if r.previous else [])]
        check_changes_destination(changes, destination, rejects, read_too)
    statuses = chosen_statuses(request.lists.status, settings.rules.list_order)
    customers = record.located["customers"]
    carried = _carried(request, customers, fmt)
    clash = guarded_clash([*OUTPUT_COLUMNS, *carried]) if fmt == "csv" else None
    if clash is not None and not request.lists.raw_text:
        raise UsageError(
            f"--carry {clash[0]} and {clash[1]}: a CSV would head both {clash[2]!r} (a "
            f"header a spreadsheet would run as a formula gets a leading '); carry one of "
            f"them, or use --raw-text"
        )
    order = sort_order(request.lists.sort, (*OUTPUT_COLUMNS, *carried))
    split = split_column(request.lists.split_by, customers, destination)
    return Plan(
        as_of=as_of,
        settings=settings,
        limit=limit,
        destination=destination,
        fmt=fmt,
        rejects=rejects,
        changes=changes,
        inputs=inputs,
        statuses=statuses,
        customers=customers,
        carried=carried,
        order=order,
        split=split,
    )


def check_record_paths(request: JobRequest) -> None:
    """Refuse a run report, metrics file or history folder that would overwrite an input or
    another file of the run, or could not be written (RefusedRecord: nothing is written
    there). The folders of --report and --metrics are made when missing (SPEC 8: the tool's
    own state), before the checks so that they judge the real folder, and removed again when
    the run is refused, which writes nothing in them."""
    o, r = request.outputs, request.records
    rejects, changes = _beside_output(request)
    comparing = r.history is not None or r.previous is not None
    inputs = possible_inputs(
        request.inputs.data, request.inputs.overrides(), request.inputs.without
    )
    made = make_record_folders([("--report", r.report), ("--metrics", r.metrics)])
    try:
        check_records(
            r.report,
            r.metrics,
            r.history,
            [
                ("--output", o.destination),
                ("--rejects", rejects),
                ("--changes", changes if comparing else None),
            ],
            # --previous is read too: only -o may replace it (compare with last night's file,
            # then write tonight's over it).
            [*inputs, *rules_file(request), *([r.previous] if r.previous else [])],
        )
    except BaseException:
        remove_made_folders(made)
        raise


def rules_file(request: JobRequest) -> list[Path]:
    """The --rules file, read by the run as the exports are: no file of the run may replace
    it (an output written over it would leave the next night's run without its rules)."""
    return [request.rules] if request.rules is not None else []


def _beside_output(request: JobRequest) -> tuple[Path, Path]:
    """The rejects and changes files: as given, else beside the output."""
    o = request.outputs
    rejects = o.rejects or beside(o.destination, "-rejects.csv", "followup-rejects.csv")
    changes = o.changes or beside(o.destination, "-changes.csv", "followup-changes.csv")
    return rejects, changes


def _carried(request: JobRequest, customers: Path | None, fmt: str) -> dict[str, str]:
    """--carry: the customers-file columns copied into the output, by output column name; a
    workbook carries the file's phone and email columns too (SPEC 9)."""
    if customers is None:
        return {}
    asked = list(request.lists.carry)
    carried = carried_columns(customers, asked, listed=True) if asked else {}
    return contact_columns(customers, carried) if fmt == "xlsx" else carried
