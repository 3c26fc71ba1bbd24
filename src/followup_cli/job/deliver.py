"""The output set of the nightly job (SPEC 6): the output, rejects and changes files written
together, all of them or none, and the checks made before any work that the set, the run
report, the metrics file and the history folder can be written without overwriting an input
or one another."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.core.errors import UsageError
from followup_cli.job.request import Lists
from followup_cli.nightly import history as snapshots
from followup_cli.nightly import report as run_report
from followup_cli.outputs import signals
from followup_cli.outputs.destinations import (
    check_writable,
    is_rejects_file,
    is_special,
    output_format,
    resolved,
)
from followup_cli.outputs.safe_csv import guard_formulas
from followup_cli.outputs.serialise import frame_writer
from followup_cli.outputs.workbook import Sheets
from followup_cli.outputs.writing import Fill, write_together
from followup_cli.reading.locate import shown


@dataclass(frozen=True)
class Delivery:
    """One file of the run's set: its rows, where they go and in which format. Rows not in
    memory (streamed after a bucketed run) come with their number."""

    rows: pl.DataFrame | pl.LazyFrame
    path: Path | None
    fmt: str
    sheets: Sheets | None = None
    count: int | None = None
    split: tuple[str, str | None] | None = None  # --split-by: the column and this file's value

    @property
    def height(self) -> int:
        """The rows the file holds: `count` when given (streamed rows, or a workbook's
        sheet beside its lists), else the frame's."""
        if self.count is not None:
            return self.count
        assert isinstance(self.rows, pl.DataFrame), "streamed rows come with their number"
        return self.rows.height


def deliver(
    outputs: list[Delivery], rejects: Delivery, changed: Delivery | None, lists: Lists
) -> tuple[list[run_report.OutputFile], bool]:
    """Write the output (one file, or one per value of --split-by), rejects and changes files
    as one set (SPEC 6: all of them or none); what was written, for the report, and whether an
    earlier run's rejects file was removed. CSV text is guarded against spreadsheet formulas
    unless --raw-text (SPEC 9)."""
    chosen = [*outputs] + ([rejects] if rejects.height else []) + ([changed] if changed else [])
    files: list[tuple[Path | None, Fill]] = []
    for part in chosen:
        rows = part.rows
        if part.fmt == "csv" and not lists.raw_text:
            rows = guard_formulas(rows.lazy())
        files.append((part.path, frame_writer(rows, part.fmt, bom=lists.bom, sheets=part.sheets)))
    names = ["output"] * len(outputs) + (["rejects"] if rejects.height else []) + ["changes"]
    # A rejects file from an earlier run beside a clean output would send someone to fix rows
    # that are no longer bad. Only a file with the rejects header is removed, and only when the
    # rest of the set is written.
    stale = not rejects.height and rejects.path is not None and is_rejects_file(rejects.path)
    write_together(files, remove=[rejects.path] if stale and rejects.path else [])
    written = [
        run_report.written_file(name, part.path, part.fmt, part.height, part.split)
        for name, part in zip(names, chosen, strict=False)
    ]
    # The report is JSON in UTF-8: a file name with other bytes is recorded escaped (\xe9).
    written = [
        dataclasses.replace(w, path=Path(shown(w.path))) if w.path is not None else w
        for w in written
    ]
    return written, stale


def check_changes_destination(
    path: Path, output: Path | None, rejects: Path, inputs: list[Path]
) -> None:
    if resolved("--changes", path) in {resolved("input", p) for p in inputs}:
        raise UsageError(f"--changes {path} is one of the input files; choose another name")
    # An unknown extension: exit 2 before any work.
    output_format(path, None, "--changes", formats=False)
    check_writable("--changes", path)
    taken = {resolved("--rejects", rejects), *([resolved("--output", output)] if output else [])}
    if resolved("--changes", path) in taken:
        raise UsageError(f"--changes {path} is also the output or rejects file; give three names")


class RefusedRecord(UsageError):
    """--report, --metrics or --history refused before any work: nothing is written there,
    not even the report of this failed run (it could be an export, or the output)."""


def check_records(
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
            snapshots.check_not_a_snapshot(history)
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
