"""The nightly records of a run (SPEC 8): the run report and the metrics file, written however
the run ends, failed runs included."""

from __future__ import annotations

import contextlib
from pathlib import Path

from followup_cli.core.errors import EXIT_USAGE, FollowupError
from followup_cli.job.outcome import Said
from followup_cli.job.plan import check_record_paths
from followup_cli.job.request import JobRequest
from followup_cli.nightly import metrics
from followup_cli.nightly import report as run_report

_NOTHING_CHANGED = ("; no file was created or changed", "; nothing was written there")


def write_record(
    record: run_report.RunRecord,
    report: Path | None,
    metrics_path: Path | None,
    said: Said,
    delivered: bool = False,
) -> None:
    """The report, then the metrics. If either cannot be written after the output set was
    delivered, the exit code stays the reconciliation's and an error line says that the output
    files were written and this file was not (README, Decisions); before that, the run fails
    (exit 3) and the other file still says so where it can. The writers' warnings and the
    lines said in passing go to `said`."""
    failure: FollowupError | None = None
    for path, writer, what in (
        (report, run_report.write, "the run report"),
        (metrics_path, metrics.write, "the metrics"),
    ):
        if path is None:
            continue
        try:
            warnings = writer(path, run_report.document(record))
        except Exception as exc:
            if delivered:
                # Nothing may now turn the exit code into one the report contradicts: an
                # unexpected error (MemoryError, say) is said like a full disk.
                reason = str(exc)
                if not isinstance(exc, FollowupError):
                    reason = f"{path}: cannot be written (internal error {type(exc).__name__})"
                for tail in _NOTHING_CHANGED:
                    reason = reason.removesuffix(tail)
                said.problems.append(f"{reason}; the output files were written, but {what} was not")
                continue
            if not isinstance(exc, FollowupError):
                raise
            if failure is None:
                failure = exc
                if record.succeeded:
                    record.finish(exc.exit_code, str(exc))
            continue
        said.record_warnings.extend(warnings)
    if failure is not None:
        # Write the one that worked again so both say the run failed.
        for path, writer in ((report, run_report.write), (metrics_path, metrics.write)):
            if path is not None:
                with contextlib.suppress(FollowupError):
                    writer(path, run_report.document(record))
        raise failure


def record_usage_error(request: JobRequest, error: str) -> Said:
    """A run whose command line was refused before the job began (an unknown option, a
    missing value): its report and metrics, where the command line named them, say it failed
    with `error` (SPEC 8: every run, usage errors included). `request` holds the options as far
    as they were read. The paths pass the checks of any run first, so a report named over an
    export is refused and nothing is written; what could not be written is in `problems`."""
    said = Said()
    records = request.records
    if records.report is None and records.metrics is None:
        return said
    record = run_report.RunRecord(arguments=request.arguments())
    try:
        check_record_paths(request)
        record.finish(EXIT_USAGE, error)
        write_record(record, records.report, records.metrics, said)
    except FollowupError as exc:
        said.problems.append(f"{exc}; this run was not recorded")
    return said
