"""The Prometheus textfile (SPEC 8): the run report's figures for node_exporter's collector.

Built from the report document itself, so the two can never disagree, and written with
prometheus_client (its exposition format and its atomic `write_to_textfile`): the collector
never scrapes half a file. A failed run still says so (`followup_last_run_success 0`) but keeps
the last success time from the previous file, which is what the "no success for two nights"
alert reads.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from followup_cli.errors import OutputError

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
)
_OUTCOMES = (
    ("used", "rows_used"),
    ("rejected", "rows_rejected"),
    ("after_as_of", "rows_after_as_of"),
)


def previous_last_success(path: Path) -> float | None:
    """The last success time in an earlier metrics file; None if there is none to read."""
    return _previous_value(path, LAST_SUCCESS)


def previous_as_of(path: Path) -> float | None:
    """The as-of date an earlier metrics file gives as reconciled; None if none to read."""
    return _previous_value(path, AS_OF)


def _previous_value(path: Path, name: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    try:
        text = path.read_text(encoding="utf-8")
        for family in text_string_to_metric_families(text):
            if family.name == name and family.samples:
                return float(family.samples[0].value)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return None


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
    reconciled = last_as_of
    if succeeded and report["as_of"] is not None:
        day = dt.date.fromisoformat(report["as_of"])
        reconciled = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
    if reconciled is not None:  # a gauge left unset would claim 1970-01-01
        gauge(AS_OF, "The as-of date last reconciled (00:00 UTC).").set(reconciled)
    return registry


def write(path: Path, report: dict[str, Any]) -> None:
    from prometheus_client import write_to_textfile  # noqa: PLC0415

    registry = registry_for(report, previous_last_success(path), previous_as_of(path))
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise OutputError(
            f"--metrics {path}: cannot be written ({exc.strerror or exc}); "
            f"nothing was written there"
        ) from exc


def _timestamp(iso_z: str) -> float:
    return dt.datetime.fromisoformat(iso_z.replace("Z", "+00:00")).timestamp()
