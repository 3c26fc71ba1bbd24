"""Reading back an output file followup wrote (SPEC 8): a `--previous` file or a history snapshot,
with the output's types, refused with one sentence when it is not a followup output."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from followup_cli.core.errors import InputFileError, UsageError
from followup_cli.core.formats import format_of
from followup_cli.core.frames import column
from followup_cli.core.schema import OUTPUT_SCHEMA
from followup_cli.outputs.safe_csv import unguard_formulas

# What a comparison reads of an output: text that must be text, and the balance.
_TEXT = ("customer_id", "name", "follow_up_status", "account_status", "reason")
REQUIRED = (*_TEXT, "balance")
# What a comparison reads of the night before: a change's reason is tonight's (a person gone
# has a reason of their own), so the previous run's reasons are never read.
COMPARED_BEFORE = tuple(name for name in REQUIRED if name != "reason")
# A --previous file may lack the name and reason (they only fill in the changes file's text).
_OPTIONAL_TEXT = ("name", "reason")
UNREADABLE = (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException)
# Of a JSON Lines output, the most of its first line read to check its keys; a longer line is
# cut, so the file is refused as not an output (followup's lines are a few hundred bytes).
FIRST_LINE_LIMIT = 16 * 1024 * 1024


ADVICE = "pass a file that followup reconcile wrote"


def read_output(path: Path, compared_only: bool = False) -> pl.DataFrame:
    """An output file followup wrote (CSV, Parquet or JSON Lines), with the output's types;
    `compared_only`: only the columns a comparison reads of the night before
    (COMPARED_BEFORE), all that a run keeps of it (of a million people's output, 0.2 GB
    whole; without the reasons, 0.05 GB less)."""
    fmt = _format(path)
    try:
        if fmt == "parquet":
            scan = pl.scan_parquet(path, glob=False)
            if compared_only:
                scan = scan.select(_compared(scan.collect_schema().names()))
            frame = scan.collect()
        elif fmt == "jsonl":
            with path.open("rb") as handle:  # a path would be a pattern: [ ] * ? match
                frame = pl.read_ndjson(handle, infer_schema_length=None)
            if compared_only:
                frame = frame.select(_compared(frame.columns))
        else:
            # Every column as text first: ids such as 007 must not become numbers. Without the
            # formula guard's ' (unless --raw-text wrote it), `'@18` would not match `@18`.
            columns = _compared(_csv_header(path)) if compared_only else None
            frame = unguard_formulas(
                pl.read_csv(path, infer_schema=False, columns=columns, glob=False)
            )
        check_columns(path, frame.schema, ADVICE, _OPTIONAL_TEXT)
        expected = COMPARED_BEFORE if compared_only else REQUIRED
        absent = [name for name in _OPTIONAL_TEXT if name in expected and name not in frame.columns]
        return frame.with_columns(
            *_typed(frame), *(pl.lit(None, dtype=pl.String).alias(name) for name in absent)
        )
    except (InputFileError, UsageError):
        raise
    except UNREADABLE as exc:
        raise _not_an_output(path, exc) from exc


def check_output(path: Path) -> None:
    """What `read_output` would refuse that can be seen without reading the rows: no such
    file, a format not read back, and (from a Parquet file's footer, a CSV file's header or a
    JSON Lines file's first line, which followup writes with every key) columns that are not
    an output's. Checked before any work; the rows are read when compared."""
    fmt = _format(path)
    try:
        if fmt == "parquet":
            schema = pl.scan_parquet(path, glob=False).collect_schema()
        elif fmt == "csv":
            schema = pl.Schema(dict.fromkeys(_csv_header(path), pl.String()))
        else:
            # The first line alone (given an open file, Polars parses every line), read from
            # the file named: a path would be a pattern, where [ ] * ? match other files.
            with path.open("rb") as handle:
                first = handle.readline(FIRST_LINE_LIMIT)
            schema = pl.read_ndjson(first, infer_schema_length=1).schema
        check_columns(path, schema, ADVICE, _OPTIONAL_TEXT)
    except (InputFileError, UsageError):
        raise
    except UNREADABLE as exc:
        raise _not_an_output(path, exc) from exc


def _format(path: Path) -> str:
    """The format of a previous output, refused when it is not one read back or not a file."""
    fmt = format_of(path)
    if not path.is_file():
        if path.exists():  # a folder, a FIFO, a device: never read as an output
            raise InputFileError(
                f"{path}: not a regular file (given for --previous); pass the file a run wrote"
            )
        raise InputFileError(f"{path}: no such file (given for --previous)")
    if fmt == "xlsx":
        raise UsageError(
            f"--previous {path}: a workbook is not read back (its lists may be filtered "
            f"and its cells formatted); pass the run's CSV, Parquet or JSON Lines output, "
            f"or keep runs with --history"
        )
    if fmt not in ("parquet", "jsonl", "csv"):
        raise InputFileError(
            f"{path}: unknown file type {path.suffix!r}; a previous output ends in "
            f".csv, .parquet or .jsonl"
        )
    return fmt


def _csv_header(path: Path) -> list[str]:
    return pl.read_csv(path, n_rows=0, infer_schema=False, glob=False).columns


def _compared(names: list[str]) -> list[str]:
    return [name for name in COMPARED_BEFORE if name in names]


def check_columns(
    path: Path,
    schema: Mapping[str, pl.DataType],
    advice: str,
    optional: tuple[str, ...] = (),
) -> None:
    """Refuse a file without the columns a comparison reads, or with numbers where text goes
    (a foreign file): found later, they would fail inside a query plan."""
    missing = [name for name in REQUIRED if name not in schema and name not in optional]
    if missing:
        raise InputFileError(
            f"{path}: not a followup output (no column {', '.join(missing)}); {advice}"
        )
    for name in _TEXT:
        if name in schema and schema[name] not in (pl.String, pl.Null):
            raise InputFileError(
                f"{path}: not a followup output (column {name} holds {schema[name]}, not text); "
                f"{advice}"
            )


def _not_an_output(path: Path, exc: BaseException) -> InputFileError:
    return InputFileError(f"{path}: cannot be read as a followup output ({first_line(exc)})")


def _typed(frame: pl.DataFrame) -> list[pl.Expr]:
    """The output's columns with the output's types (core.schema.OUTPUT_SCHEMA), whatever the
    format gave them (CSV: all text); anything else (carried columns) as it was read, an
    all-empty column as text."""
    exprs = []
    for name, dtype in frame.schema.items():
        wanted = OUTPUT_SCHEMA.get(name)
        if wanted == pl.Date and dtype == pl.String:
            exprs.append(column(name).str.to_date("%Y-%m-%d"))
        elif wanted is not None and wanted != pl.String:
            exprs.append(column(name).cast(wanted))
        elif dtype == pl.Null:
            exprs.append(column(name).cast(pl.String))
    return exprs


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
