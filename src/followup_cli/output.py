"""Writing the labelled rows and the rejects (SPEC 5 and 6): atomic files, deterministic bytes.

A file is written to a temporary name in the same folder and renamed into place, so a run that
fails half way leaves the previous file (or none) and never a partial one.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import polars as pl

from followup_cli.errors import OutputError, UsageError
from followup_cli.schema import REJECT_COLUMNS
from followup_cli.workbook import Sheets, write_workbook

UNDATED = dt.date(1980, 1, 1)  # a workbook's creation date when no as-of date is given

FORMATS = ("csv", "parquet", "jsonl", "xlsx")
_EXTENSIONS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
}


def output_format(path: Path | None, requested: str | None) -> str:
    """--format if given, else the output file's extension, else CSV (standard output)."""
    if requested is not None:
        if requested not in FORMATS:
            raise UsageError(f"--format {requested!r}: choose one of {', '.join(FORMATS)}")
        return requested
    if path is None:
        return "csv"
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"--output {path}: cannot tell the format from {path.suffix or 'no extension'!r}; "
            f"end the name in .csv, .parquet, .jsonl or .xlsx, or pass --format"
        )
    return fmt


def default_rejects_path(output: Path | None) -> Path:
    """Beside the output file (`out.csv` -> `out-rejects.csv`), else in the working folder."""
    if output is None:
        return Path("followup-rejects.csv")
    return output.with_name(f"{output.stem}-rejects.csv")


def check_destinations(output: Path | None, rejects: Path, inputs: list[Path]) -> None:
    """Refuse, before any work, destinations that would overwrite an input or each other, or
    that cannot be written: the nightly job must never destroy the exports it reads."""
    read = {path.resolve() for path in inputs}
    for option, path in (("--output", output), ("--rejects", rejects)):
        if path is None:
            continue
        if path.resolve() in read:
            raise UsageError(f"{option} {path} is one of the input files; choose another name")
        if path.is_dir():
            raise UsageError(f"{option} {path} is a folder; give a file name")
        if not path.parent.is_dir():
            raise UsageError(f"{option} {path}: the folder {path.parent} does not exist")
    if output is not None and output.resolve() == rejects.resolve():
        raise UsageError(f"--output and --rejects are the same file ({output}); give two names")


def is_rejects_file(path: Path) -> bool:
    """Whether `path` is a rejects file this command wrote (judged by its header line)."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            first = handle.readline().strip().removeprefix(b"\xef\xbb\xbf")  # --bom
    except OSError:
        return False
    return first == ",".join(REJECT_COLUMNS).encode()


def _serialise(
    frame: pl.DataFrame, fmt: str, sink: BinaryIO, bom: bool = False, sheets: Sheets | None = None
) -> None:
    if fmt == "csv":
        frame.write_csv(sink, date_format="%Y-%m-%d", include_bom=bom)
    elif fmt == "xlsx":
        write_workbook(sink, frame, sheets or Sheets(as_of=UNDATED))
    elif fmt == "parquet":
        frame.write_parquet(sink, statistics=False)
    else:
        # JSON has no exact decimal: money goes as text ("-4.00") so no reader turns it into
        # a binary float.
        money = [c for c, t in frame.schema.items() if isinstance(t, pl.Decimal)]
        frame.with_columns(pl.col(money).cast(pl.String)).write_ndjson(sink)


def write_frame(
    frame: pl.DataFrame,
    path: Path | None,
    fmt: str,
    *,
    bom: bool = False,
    sheets: Sheets | None = None,
) -> None:
    """Write `frame` to `path` atomically, or to standard output when path is None.

    `bom` starts a CSV with a UTF-8 BOM; `sheets` is what a workbook holds beside the lists.
    """
    if path is None:
        buffer = io.BytesIO()
        _serialise(frame, fmt, buffer, bom, sheets)
        _write_stdout(buffer.getvalue())
        return
    write_atomically(path, lambda sink: _serialise(frame, fmt, sink, bom, sheets))


def write_atomically(path: Path, fill: Callable[[BinaryIO], None]) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    try:
        # mkstemp makes the file private (0600); give it the mode a plain write would have, so
        # the spreadsheet user or group can read the nightly file.
        os.fchmod(handle, _mode_for(path))
        with os.fdopen(handle, "wb") as sink:
            fill(sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise _unwritable(path, exc) from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _unwritable(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    return OutputError(f"{path}: cannot be written ({reason}); nothing was written there")


def _mode_for(path: Path) -> int:
    """The existing file's mode, else what the umask allows for a new file."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_stdout(data: bytes) -> None:
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        # `followup reconcile | head` closes the pipe early; that is the reader's choice, not
        # an error. Point stdout at devnull so Python's exit flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError as exc:  # a full disk behind `> file`, for one
        raise OutputError(f"standard output cannot be written ({exc.strerror})") from exc
