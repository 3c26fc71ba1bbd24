"""Backfills (SPEC 8): a run whose as-of date is older than a night already delivered.

An engineer filling a missed night runs the job with an earlier `--as-of` and the nightly
options as they are. That run must do no harm: it stores its snapshot in --history, but never
replaces the output set a later night wrote, and never moves the monitored as-of date back.
So its output, rejects and changes files are written beside them with its date in the name
(`followup.csv` -> `followup-2024-07-29.csv`, `followup-rejects.csv` ->
`followup-rejects-2024-07-29.csv`), and it says so in the summary, the report and the metrics.

The later night is the newest `as_of=` snapshot in --history; without --history it is the
as-of date of the previous --metrics file, the only other record of what is in place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from followup_cli.job import options
from followup_cli.job.deliver import check_changes_destination, check_records
from followup_cli.job.plan import Plan, rules_file
from followup_cli.job.request import JobRequest
from followup_cli.nightly import history as snapshots
from followup_cli.nightly import metrics
from followup_cli.nightly import report as run_report
from followup_cli.outputs.destinations import check_destinations, is_special


def later_night(request: JobRequest, as_of: dt.date) -> dt.date | None:
    """The newest night already delivered after `as_of`, or None: this run is no backfill."""
    later = [night for night, _ in _nights(request) if night > as_of]
    return max(later) if later else None


def _nights(request: JobRequest) -> list[tuple[dt.date, Path]]:
    """Every night the records hold, with the snapshot folder or metrics file holding it."""
    nights: list[tuple[dt.date, Path]] = []
    history, metrics_path = request.records.history, request.records.metrics
    if history is not None:
        nights += [(s.as_of, s.folder) for s in snapshots.snapshots(history)]
    if metrics_path is not None:
        seconds = metrics.read_previous(metrics_path).as_of
        if seconds is not None:
            nights.append((dt.datetime.fromtimestamp(seconds, dt.UTC).date(), metrics_path))
    return nights


def way_out(request: JobRequest) -> str | None:
    """For a backfill held back by nights not yet come (a run before `--as-of` checked the
    date, or a clock set back): which records hold them, to remove if they were mistakes."""
    latest = options.today() + dt.timedelta(days=options.RECORDED_DAYS_AHEAD)
    ahead = sorted({str(path) for night, path in _nights(request) if night > latest})
    if not ahead:
        return None
    return (
        f"a night after tomorrow ({latest}) is recorded in {', '.join(ahead)}; if it "
        f"was a mistake, remove {'it' if len(ahead) == 1 else 'them'} and run again"
    )


def dated(path: Path | None, day: dt.date) -> Path | None:
    """`path` with `day` in its name (`out.csv` -> `out-2024-07-29.csv`); standard output, a
    device or a FIFO is written to as it is (it replaces no file)."""
    if path is None or is_special(path):
        return path
    return path.with_name(f"{path.stem}-{day.isoformat()}{path.suffix}")


def beside_later_night(plan: Plan, request: JobRequest, comparing: bool) -> Plan:
    """The plan of a backfill: its output set goes to dated names, checked again as the
    plan checked the names asked for (a usage error, exit 2, before anything is written)."""
    destination = dated(plan.destination, plan.as_of)
    rejects = dated(plan.rejects, plan.as_of)
    changes = dated(plan.changes, plan.as_of)
    assert rejects is not None and changes is not None, "a dated path stays a path"
    read = [*plan.inputs, *rules_file(request)]
    check_destinations(destination, rejects, read)
    previous = request.records.previous
    read_too = [*read, *([previous] if previous else [])]
    if comparing:
        check_changes_destination(changes, destination, rejects, read_too)
    # The dated names are new names: the report and metrics must not be one of them, nor may
    # one lie in a snapshot folder (a link into --history would overwrite a later night's
    # snapshot), as the plan checked the names asked for. Refused: nothing written there.
    r = request.records
    check_records(
        r.report,
        r.metrics,
        r.history,
        [
            ("--output", destination),
            ("--rejects", rejects),
            ("--changes", changes if comparing else None),
        ],
        read_too,
    )
    return dataclasses.replace(plan, destination=destination, rejects=rejects, changes=changes)


def say(record: run_report.RunRecord, later: dt.date, kind: str, hint: str | None) -> None:
    """What the backfill did, in the report (`backfill`) and as a warning of `kind`, with
    `hint` (`way_out`) when the later night has not come yet."""
    assert record.as_of is not None, "the plan set it"
    written = [str(o.path) if o.path is not None else "standard output" for o in record.outputs]
    record.backfill = {
        "as_of": record.as_of.isoformat(),
        "later_night": later.isoformat(),
        "written": written,
    }
    where = ", ".join(written) if written else "nothing"
    record.warn(
        kind,
        [
            f"backfill of {record.as_of}: the lists of {later} are kept; written to {where}; "
            f"the monitored as-of date stays {later}" + (f"; {hint}" if hint else "")
        ],
    )
