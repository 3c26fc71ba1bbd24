"""The Prometheus textfile (SPEC 8): the run report's figures for node_exporter's collector.

Built from the report document itself, so the two can never disagree. prometheus_client
makes the text (its exposition format); the file is written by the writer of every other file
of the run (SPEC 6), not by its `write_to_textfile`, which renamed over whatever the path was:
a device or FIFO became a regular file, a link was replaced instead of followed, and another
user's private file came back root's and world-readable. So the collector never scrapes half a
file, a device or FIFO is written to, and a file keeps its owner and mode. A failed run still
says so (`followup_last_run_success 0`) but keeps the last success time from the previous file,
which is what the "no success for two nights" alert reads.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from followup_cli.outputs.destinations import is_special, read_regular
from followup_cli.outputs.writing import write_atomically

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge

# prometheus_client is imported where it is used: only runs with --metrics need it, and every
# run would pay its import time.

LAST_SUCCESS = "followup_last_success_timestamp_seconds"
AS_OF = "followup_as_of_timestamp_seconds"
NAMES = (
    "followup_last_run_timestamp_seconds",
    "followup_last_run_success",
    LAST_SUCCESS,
    "followup_run_duration_seconds",
    "followup_stage_duration_seconds",
    "followup_input_rows",
    "followup_people",
    "followup_accounts",
    "followup_owed",
    AS_OF,
    "followup_warnings",
    "followup_buckets",
)
PREVIOUS_LIMIT = 1 << 20
"""Bytes of an earlier metrics file read at most: one run's file is a few kilobytes."""

_OUTCOMES = (
    ("used", "rows_used"),
    ("rejected", "rows_rejected"),
    ("after_as_of", "rows_after_as_of"),
)


@dataclass(frozen=True)
class Previous:
    """What an earlier metrics file at the path says, read once; `warning` when it could not
    be used though something was there."""

    last_success: float | None = None
    as_of: float | None = None
    warning: str | None = None


def read_previous(path: Path) -> Previous:
    """The last success time and as-of date of an earlier metrics file. Only a regular file
    this run will replace is read, and only its first PREVIOUS_LIMIT bytes: a device, FIFO or
    /dev/stdout is written to, not read (/dev/full never ends, a FIFO or a pipe blocks)."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    data = None if is_special(path) else read_regular(path, PREVIOUS_LIMIT)
    if data is None:
        return Previous()
    if len(data) > PREVIOUS_LIMIT:
        return Previous(
            warning=f"--metrics {path}: the file there is larger than {PREVIOUS_LIMIT:,} bytes, "
            f"so not one this tool wrote; its last success time was not kept"
        )
    found: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(data.decode("utf-8")):
            if family.name in (LAST_SUCCESS, AS_OF) and family.samples:
                found.setdefault(family.name, float(family.samples[0].value))
    except (ValueError, UnicodeDecodeError, IndexError, KeyError, TypeError):
        pass  # a damaged file: what was read before the damage is kept, the rest is unknown
    # A time no run writes (NaN, +Inf, 1e20, before 1970) is not kept: read back as a date it
    # stopped every later run (and was written back, so none ever recovered).
    wrong = {name: value for name, value in found.items() if not _a_time(value)}
    if not wrong:
        return Previous(found.get(LAST_SUCCESS), found.get(AS_OF))
    held = ", ".join(f"{name} {value:g}" for name, value in wrong.items())
    return Previous(
        None if LAST_SUCCESS in wrong else found.get(LAST_SUCCESS),
        None if AS_OF in wrong else found.get(AS_OF),
        warning=f"--metrics {path}: the file there holds {held}, not a time this tool writes; "
        f"it was not kept",
    )


# The latest time a metric of ours holds: the end of 9999-12-31, the last day a date can be.
_LATEST = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()


def _a_time(value: float) -> bool:
    """Whether `value` is a Unix time a run writes: a finite number from 1970 to 9999."""
    return math.isfinite(value) and 0 <= value <= _LATEST


def registry_for(
    report: dict[str, Any], last_success: float | None, last_as_of: float | None = None
) -> CollectorRegistry:
    """The gauges for one run; `last_success` is this run's end if it succeeded, else the
    previous file's value (0 if no run ever succeeded, so the alert fires). The as-of date is
    the one reconciled: a failed run keeps the previous file's (`last_as_of`), or has none."""
    from prometheus_client import CollectorRegistry, Gauge  # noqa: PLC0415

    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labelnames=labels, registry=registry)

    ended = _timestamp(report["ended_at"])
    succeeded = report["outcome"] != "failed"
    gauge("followup_last_run_timestamp_seconds", "When the last run ended (Unix time).").set(ended)
    gauge("followup_last_run_success", "1 if the last run reconciled (exit 0 or 1), else 0.").set(
        1 if succeeded else 0
    )
    gauge(LAST_SUCCESS, "When a run last reconciled (exit 0 or 1); 0 if never.").set(
        ended if succeeded else (last_success or 0.0)
    )
    gauge("followup_run_duration_seconds", "Wall time of the last run.").set(
        report["elapsed_seconds"]
    )
    stages = gauge("followup_stage_duration_seconds", "Wall time of each stage.", ("stage",))
    for stage, seconds in report["stages"].items():
        stages.labels(stage=stage).set(seconds)
    rows = gauge(
        "followup_input_rows",
        "Input rows used, rejected or after the as-of date.",
        ("table", "outcome"),
    )
    for entry in report["inputs"]:
        for outcome, key in _OUTCOMES:
            if entry[key] is not None:
                rows.labels(table=entry["table"], outcome=outcome).set(entry[key])
    people = gauge("followup_people", "People per follow-up status.", ("follow_up_status",))
    accounts = gauge("followup_accounts", "Accounts per account status.", ("account_status",))
    owed = gauge("followup_owed", "Money owed per account status.", ("account_status",))
    if report["people"] is not None:
        for status, count in report["people"]["by_follow_up_status"].items():
            people.labels(follow_up_status=status).set(count)
    if report["accounts"] is not None:
        for status, figures in report["accounts"]["by_account_status"].items():
            accounts.labels(account_status=status).set(figures["accounts"])
            # Prometheus samples are floats; the exact amount is in the run report.
            owed.labels(account_status=status).set(float(Decimal(figures["owed"])))
    reconciled = _as_of(report, succeeded, last_as_of)
    if reconciled is not None:  # a gauge left unset would claim 1970-01-01
        gauge(AS_OF, "The as-of date of the lists in place (00:00 UTC).").set(reconciled)
    warned = gauge("followup_warnings", "The last run's warnings of each kind.", ("kind",))
    for kind, count in (report.get("warnings_by_kind") or {}).items():
        warned.labels(kind=kind).set(count)
    gauge(
        "followup_buckets", "Customer buckets the last run used; 1: one pass; 0: it read nothing."
    ).set(report.get("buckets") or 0)
    return registry


def _as_of(report: dict[str, Any], succeeded: bool, last_as_of: float | None) -> float | None:
    """The as-of date of the lists in place: the one reconciled, never earlier than the
    previous file's (a backfill, SPEC 8, leaves a later night's lists in place, and a failed
    run none at all), nor than the later night a backfill found in --history."""
    days = [last_as_of] if last_as_of is not None else []
    later = (report.get("backfill") or {}).get("later_night")
    for day in (report["as_of"] if succeeded else None, later):
        if day is not None:
            date = dt.date.fromisoformat(day)
            days.append(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp())
    return max(days) if days else None


def write(path: Path, report: dict[str, Any]) -> list[str]:
    """Write the metrics of the run `report` describes to `path`, keeping from the file there
    what a failed run cannot say itself; the warnings for the person (OutputError when the
    file cannot be written)."""
    from prometheus_client import generate_latest  # noqa: PLC0415

    previous = read_previous(path)
    data = generate_latest(registry_for(report, previous.last_success, previous.as_of))

    def fill(sink: BinaryIO) -> None:
        sink.write(data)

    write_atomically(path, fill)
    return [previous.warning] if previous.warning else []


def _timestamp(iso_z: str) -> float:
    return dt.datetime.fromisoformat(iso_z.replace("Z", "+00:00")).timestamp()
