"""What `reconcile` does around the core for the nightly job (a Typer module): deliver the
output, rejects and changes files as one set, find the previous run to compare with, and
write the run report and metrics however the run ends (SPEC 6 and 8)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import typer
from typer.exceptions import TyperException

from followup_cli.cli import render
from followup_cli.core.errors import (
    EXIT_NOTHING_RECONCILED,
    EXIT_OK,
    EXIT_REJECTED_ROWS,
    EXIT_USAGE,
    FollowupError,
    UsageError,
)
from followup_cli.nightly import history as snapshots
from followup_cli.nightly import metrics
from followup_cli.nightly import report as run_report
from followup_cli.outputs import signals
from followup_cli.outputs.safe_csv import guard_formulas
from followup_cli.outputs.workbook import Sheets
from followup_cli.outputs.writing import (
    Fill,
    check_writable,
    frame_writer,
    is_rejects_file,
    is_special,
    output_format,
    resolved,
    write_together,
)
from followup_cli.reading.fingerprint import sha256_of
from followup_cli.reading.locate import shown


@dataclass(frozen=True)
class _Lists:
    """What a person asked of the lists (SPEC 9): which, in what order, with which columns."""

    status: list[str]
    sort: str | None
    carry: list[str]
    raw_text: bool
    bom: bool


@dataclass(frozen=True)
class _Delivery:
    """One file of the run's set: its rows, where they go and in which format. Rows not in
    memory (streamed after a bucketed run) come with their number."""

    rows: pl.DataFrame | pl.LazyFrame
    path: Path | None
    fmt: str
    sheets: Sheets | None = None
    count: int | None = None

    @property
    def height(self) -> int:
        if isinstance(self.rows, pl.DataFrame):
            return self.rows.height
        assert self.count is not None, "streamed rows come with their number"
        return self.count


def _deliver(
    output: _Delivery, rejects: _Delivery, changed: _Delivery | None, lists: _Lists
) -> tuple[list[run_report.OutputFile], bool]:
    """Write the output, rejects and changes files as one set (SPEC 6: all of them or none);
    what was written, for the report, and whether an earlier run's rejects file was removed.
    CSV text is guarded against spreadsheet formulas unless --raw-text (SPEC 9)."""
    chosen = [output] + ([rejects] if rejects.height else []) + ([changed] if changed else [])
    files: list[tuple[Path | None, Fill]] = []
    for part in chosen:
        rows = part.rows
        if part.fmt == "csv" and not lists.raw_text:
            rows = guard_formulas(rows.lazy())
        files.append((part.path, frame_writer(rows, part.fmt, bom=lists.bom, sheets=part.sheets)))
    names = ["output", "rejects", "changes"] if rejects.height else ["output", "changes"]
    # A rejects file from an earlier run beside a clean output would send someone to fix rows
    # that are no longer bad. Only a file with the rejects header is removed, and only when the
    # rest of the set is written.
    stale = not rejects.height and rejects.path is not None and is_rejects_file(rejects.path)
    write_together(files, remove=[rejects.path] if stale and rejects.path else [])
    written = [
        run_report.written_file(name, part.path, part.fmt, part.height)
        for name, part in zip(names, chosen, strict=False)
    ]
    # The report is JSON in UTF-8: a file name with other bytes is recorded escaped (\xe9).
    written = [
        dataclasses.replace(w, path=Path(shown(w.path))) if w.path is not None else w
        for w in written
    ]
    return written, stale


def _check_changes_destination(
    path: Path, output: Path | None, rejects: Path, inputs: list[Path]
) -> None:
    output_format(path, None)  # an unknown extension is a usage error before any work
    if resolved("--changes", path) in {resolved("input", p) for p in inputs}:
        raise UsageError(f"--changes {path} is one of the input files; choose another name")
    check_writable("--changes", path)
    taken = {resolved("--rejects", rejects), *([resolved("--output", output)] if output else [])}
    if resolved("--changes", path) in taken:
        raise UsageError(f"--changes {path} is also the output or rejects file; give three names")


class RefusedRecord(UsageError):
    """--report, --metrics or --history refused before any work: nothing is written there,
    not even the report of this failed run (it could be an export, or the output)."""


def _check_records(
    report: Path | None,
    metrics_path: Path | None,
    history: Path | None,
    taken: list[tuple[str, Path | None]],
    inputs: list[Path],
) -> None:
    """Refuse, before any work, a run report, metrics file or history folder that would
    overwrite an input or another file of the run, or could not be written: found only at the
    end, it would fail a run whose output set was already replaced (SPEC 6)."""
    try:
        read = {_followed(path) for path in inputs}
        chosen = [(o, p) for o, p in (("--report", report), ("--metrics", metrics_path)) if p]
        for index, (option, path) in enumerate(chosen):
            where = resolved(option, path)
            if where in read:
                raise UsageError(f"{option} {path} is one of the input files; choose another name")
            for other, other_path in [*taken, *chosen[:index]]:
                same = other_path is not None and resolved(other, other_path) == where
                if same and not is_special(path):
                    raise UsageError(
                        f"{option} {path} is also the {other} file; give each file its own name"
                    )
            check_writable(option, path)
        if history is not None:
            _check_history(history)
            snapshots.check_not_inside(history, [*taken, *chosen])
    except RefusedRecord:
        raise
    except UsageError as exc:
        raise RefusedRecord(str(exc)) from None


def _check_history(history: Path) -> None:
    """The history folder, or the nearest folder it would be made in, takes a new folder."""
    folder = history
    while not folder.exists() and folder != folder.parent:
        if folder.is_symlink():
            raise UsageError(f"--history {history}: {folder} is a link to nothing; give a folder")
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"--history {history}: {folder} is not a folder; give a folder")
    with signals.deferred():
        try:
            probe = Path(tempfile.mkdtemp(prefix=".followup-probe.", dir=folder))
        except OSError as exc:
            where = "" if folder == history else f" (no folder can be made in {folder})"
            raise UsageError(
                f"--history {history}: cannot be written{where}: {exc.strerror or exc}"
            ) from None
        signals.track(probe)
    with contextlib.suppress(OSError):
        probe.rmdir()
    signals.forget(probe)


def _followed(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()  # a loop of links: the run itself says so when it reads it


def _previous_run(
    record: run_report.RunRecord, history: Path | None, previous: Path | None, as_of: dt.date
) -> tuple[pl.DataFrame | None, dict[str, object] | None]:
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
        return snapshots.read_output(previous), beside
    if history is None:
        return None, None
    snapshot = snapshots.previous_snapshot(history, as_of)
    if snapshot is None:
        return None, None
    record.previous_source = str(snapshot.output)
    record.previous_as_of = snapshot.as_of
    return snapshots.read_output(snapshot.output), run_report.read_previous(snapshot.report)


def _refuse_filtered(previous: Path, report: dict[str, object] | None) -> None:
    """--previous must be a whole output: compared with a list kept by --status, everyone on
    the other lists would be reported "(new)". A CSV cannot say it was filtered, but the run
    report beside it can: when that report wrote this very file (same SHA-256) with --status,
    the comparison is refused. Without such a report the file is taken at its word (README)."""
    if report is None or not previous.is_file():
        return
    arguments = report.get("arguments")
    chosen = arguments.get("status") if isinstance(arguments, dict) else None
    outputs = report.get("outputs")
    if not chosen or not isinstance(outputs, list):
        return
    digests = {
        o.get("sha256") for o in outputs if isinstance(o, dict) and o.get("kind") == "output"
    }
    if sha256_of(previous) in digests:
        shown = ", ".join(chosen) if isinstance(chosen, list) else str(chosen)
        raise UsageError(
            f"--previous {previous}: its run report ({snapshots.REPORT_FILE} beside it) says it "
            f"holds only the lists chosen with --status ({shown}); everyone else would be "
            f"reported new. Compare with a whole output, or use --history"
        )


def _transition_rows(frame: pl.DataFrame | None) -> tuple[tuple[str, str, str, int], ...] | None:
    if frame is None:
        return None
    return tuple(frame.select("field", "from", "to", "people").iter_rows())


@contextlib.contextmanager
def _recorded(
    record: run_report.RunRecord, report: Path | None, metrics_path: Path | None
) -> Iterator[None]:
    """Write the run report and metrics however the run ends (SPEC 8), failed runs included.

    An interrupted run (Ctrl-C, SIGTERM) writes nothing at all (SPEC 6), nor does a run whose
    --report, --metrics or --history was refused. Anything else is recorded, BaseExceptions
    too: a panic in a native library (pyo3's PanicException) is a failed run to report.
    """
    try:
        yield
    except typer.Exit as exc:
        if record.exit_code is None:
            record.finish(exc.exit_code)
        # Exit 0 or 1 is raised only once the output set is in place.
        delivered = exc.exit_code in (EXIT_OK, EXIT_REJECTED_ROWS)
        _write_record(record, report, metrics_path, delivered)
        raise
    except (RefusedRecord, signals.Interrupted, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        if isinstance(exc, FollowupError):
            record.finish(exc.exit_code, str(exc))
        elif isinstance(exc, TyperException):
            record.finish(getattr(exc, "exit_code", EXIT_USAGE), exc.format_message())
        else:
            record.finish(EXIT_NOTHING_RECONCILED, f"internal error ({type(exc).__name__}: {exc})")
        try:
            _write_record(record, report, metrics_path)
        except FollowupError as unwritten:
            # The run's own failure is the one to report; this one is said in passing.
            render.error(str(unwritten))
        raise


_NOTHING_CHANGED = ("; no file was created or changed", "; nothing was written there")


def _write_record(
    record: run_report.RunRecord,
    report: Path | None,
    metrics_path: Path | None,
    delivered: bool = False,
) -> None:
    """The report, then the metrics. If either cannot be written after the output set was
    delivered, the exit code stays the reconciliation's and an error line says that the output
    files were written and this file was not (README, Decisions); before that, the run fails
    (exit 3) and the other file still says so where it can."""
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
                render.error(f"{reason}; the output files were written, but {what} was not")
                continue
            if not isinstance(exc, FollowupError):
                raise
            if failure is None:
                failure = exc
                if record.succeeded:
                    record.finish(exc.exit_code, str(exc))
            continue
        for warning in [] if record.arguments.get("quiet") else warnings:
            # One line, never wrapped, even in a cron log (the console wraps at its width).
            print(f"followup: warning: {warning}", file=sys.stderr, flush=True)
    if failure is not None:
        # Write the one that worked again so both say the run failed.
        for path, writer in ((report, run_report.write), (metrics_path, metrics.write)):
            if path is not None:
                with contextlib.suppress(FollowupError):
                    writer(path, run_report.document(record))
        raise failure
