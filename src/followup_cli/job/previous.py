"""The previous run the nightly job compares with (SPEC 8): the latest earlier snapshot in
--history, or the output named by --previous, with the run report stored beside it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.core.errors import InputFileError, UsageError
from followup_cli.nightly import history as snapshots
from followup_cli.nightly import report as run_report
from followup_cli.nightly.earlier_output import ADVICE, check_output, read_output
from followup_cli.reading.fingerprint import Fingerprint, sha256_of, take, verify
from followup_cli.reading.locate import shown


@dataclass(frozen=True)
class EarlierOutput:
    """The previous output, checked before any work (`check_output`) and read when compared:
    held through the run, a million people's output added 0.2 GB to the nightly job's peak.
    Its fingerprint (size, modified time, SHA-256) is taken first and checked again once it is
    read, as the exports' are: a file rewritten in between is refused, not compared."""

    path: Path
    fingerprint: Fingerprint
    # The night before in --history (its snapshot, the folder): a damaged one is named with
    # the way out of it, not "pass a file" (no file was passed).
    night: tuple[snapshots.Snapshot, Path] | None = None

    @classmethod
    def checked(
        cls, path: Path, night: tuple[snapshots.Snapshot, Path] | None = None
    ) -> EarlierOutput:
        try:
            check_output(path)  # a path that is not a file is named here, before it is hashed
        except InputFileError as exc:
            raise _in_history(exc, night) from exc
        return cls(path, take(path), night)

    def compared_rows(self) -> pl.DataFrame:
        """The columns a comparison reads (InputChangedError if the file changed since it
        was checked, before or while it was read)."""
        try:
            rows = read_output(self.path, compared_only=True)
        except InputFileError as exc:
            raise _in_history(exc, self.night) from exc
        verify({self.path: self.fingerprint})
        return rows


def _in_history(
    exc: InputFileError, night: tuple[snapshots.Snapshot, Path] | None
) -> InputFileError:
    """`exc` as is for --previous; for the night before in --history, with its way out."""
    if night is None:
        return exc
    snapshot, history = night
    said = str(exc).removesuffix(f"; {ADVICE}")
    return InputFileError(
        f"{said}; it is the night before in --history {history}: move {snapshot.folder} out "
        f"of {history}, or reconcile {snapshot.as_of} again with --history {history}"
    )


def previous_run(
    record: run_report.RunRecord, history: Path | None, previous: Path | None, as_of: dt.date
) -> tuple[EarlierOutput | None, dict[str, object] | None]:
    """The previous output to compare with, and its run report when one is stored with it."""
    if previous is not None:
        record.previous_source = shown(previous)
        if shown(previous) != str(previous):
            raise UsageError(
                f"--previous {shown(previous)}: the path is not valid UTF-8, which the reader "
                f"cannot open; rename it, or link it from a UTF-8 name"
            )
        record.previous_as_of = snapshots.as_of_of(previous)
        beside = run_report.read_previous(previous.parent / snapshots.REPORT_FILE)
        _refuse_filtered(previous, beside)
        return EarlierOutput.checked(previous), beside
    if history is None:
        return None, None
    snapshot = snapshots.previous_snapshot(history, as_of)
    if snapshot is None:
        return None, None
    record.previous_source = str(snapshot.output)
    record.previous_as_of = snapshot.as_of
    checked = EarlierOutput.checked(snapshot.output, (snapshot, history))
    return checked, run_report.read_previous(snapshot.report)


def _refuse_filtered(previous: Path, report: dict[str, object] | None) -> None:
    """--previous must be a whole output: compared with a list kept by --status, or one club's
    file of --split-by, everyone else would be reported "(new)". A CSV cannot say it was
    filtered, but the run report beside it can: when that report wrote this very file (same
    SHA-256) with --status or --split-by, the comparison is refused. Without such a report,
    or with one that is not a run report's shape, the file is taken at its word (README)."""
    if report is None or not previous.is_file():
        return
    arguments = report.get("arguments")
    if not isinstance(arguments, dict):
        return
    chosen, split = arguments.get("status"), arguments.get("split_by")
    outputs = report.get("outputs")
    if not (chosen or split) or not isinstance(outputs, list):
        return
    digests = {
        o.get("sha256")
        for o in outputs
        if isinstance(o, dict) and o.get("kind") == "output" and isinstance(o.get("sha256"), str)
    }
    if sha256_of(previous) not in digests:
        return
    if split:
        held = f"only the people of one value of --split-by {split}"
    else:
        names = chosen if isinstance(chosen, list) else [chosen]
        held = f"only the lists chosen with --status ({', '.join(map(str, names))})"
    raise UsageError(
        f"--previous {previous}: its run report ({snapshots.REPORT_FILE} beside it) says it "
        f"holds {held}; everyone else would be reported new. Compare with a whole output, "
        f"or use --history"
    )
