"""Writing the labelled rows and the rejects (SPEC 5 and 6): atomic files, deterministic bytes.

A file is written to a temporary name in the same folder and renamed into place, so a run that
fails half way leaves the previous file (or none) and never a partial one.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import polars as pl

from followup_cli.errors import InputFileError, UsageError

FORMATS = ("csv", "parquet", "jsonl")
_EXTENSIONS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
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
            f"end the name in .csv, .parquet or .jsonl, or pass --format"
        )
    return fmt


def default_rejects_path(output: Path | None) -> Path:
    """Beside the output file (`out.csv` -> `out-rejects.csv`), else in the working folder."""
    if output is None:
        return Path("followup-rejects.csv")
    return output.with_name(f"{output.stem}-rejects.csv")


def _serialise(frame: pl.DataFrame, fmt: str, sink: BinaryIO) -> None:
    if fmt == "csv":
        frame.write_csv(sink, date_format="%Y-%m-%d")
    elif fmt == "parquet":
        frame.write_parquet(sink, statistics=False)
    else:
        # JSON has no exact decimal: money goes as text ("-4.00") so no reader turns it into
        # a binary float.
        money = [c for c, t in frame.schema.items() if isinstance(t, pl.Decimal)]
        frame.with_columns(pl.col(money).cast(pl.String)).write_ndjson(sink)


def write_frame(frame: pl.DataFrame, path: Path | None, fmt: str) -> None:
    """Write `frame` to `path` atomically, or to standard output when path is None."""
    if path is None:
        buffer = io.BytesIO()
        _serialise(frame, fmt, buffer)
        _write_stdout(buffer.getvalue())
        return
    write_atomically(path, lambda sink: _serialise(frame, fmt, sink))


def write_atomically(path: Path, fill: Callable[[BinaryIO], None]) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputFileError(f"{path}: the folder {folder} does not exist; create it first")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as sink:
            fill(sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_stdout(data: bytes) -> None:
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        # `followup reconcile | head` closes the pipe early; that is the reader's choice, not
        # an error. Point stdout at devnull so Python's exit flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
