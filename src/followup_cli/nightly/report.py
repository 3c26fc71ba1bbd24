"""The JSON run report (SPEC 8): what one run read, did, wrote and concluded, failed runs included.

Modelled on dbt's `run_results.json`: a versioned document a monitor or an auditor can read
without the tool. `RunRecord` is filled in as the run goes; `document` turns whatever it holds
(as far as a failed run got) into the report, with keys in a fixed order and money as text.
The layout is documented in the README ("The run report").
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from followup_cli import __version__
from followup_cli.core.errors import EXIT_OK, EXIT_REJECTED_ROWS
from followup_cli.core.formats import EXPORT_EXTENSIONS
from followup_cli.core.money import cents_text
from followup_cli.core.tables import TableCount
from followup_cli.nightly import health
from followup_cli.outputs.destinations import is_special, read_regular
from followup_cli.outputs.summary import Summary
from followup_cli.outputs.writing import write_atomically
from followup_cli.reading.fingerprint import Fingerprint, sha256_of

SCHEMA_VERSION = 1
PREVIOUS_LIMIT = 64 << 20
"""Bytes of an earlier run report read at most: one is kilobytes, whatever the run's size."""
SUCCESS, ROWS_REJECTED, FAILED = "success", "rows_rejected", "failed"


@dataclass
class OutputFile:
    kind: str  # output, rejects, changes
    path: Path | None  # None: standard output
    format: str
    rows: int
    sha256: str | None = None  # None: not a regular file (standard output, a FIFO)
    split: tuple[str, str | None] | None = None  # --split-by: the column and the file's value


@dataclass
class RunRecord:
    """Everything the report says, gathered while the run goes."""

    arguments: dict[str, Any]
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    as_of: dt.date | None = None
    stages: dict[str, float] = field(default_factory=dict)
    located: dict[str, Path | None] = field(default_factory=dict)  # table -> file
    fingerprints: dict[Path, Fingerprint] = field(default_factory=dict)
    counts: tuple[TableCount, ...] = ()
    ignored_columns: dict[str, list[str]] | None = None  # table -> names; None: not known
    outputs: list[OutputFile] = field(default_factory=list)
    summary: Summary | None = None
    previous_as_of: dt.date | None = None
    previous_source: str | None = None
    transitions: pl.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    # How many of `warnings` are of each of health.KINDS (`warn`); the rest count as other.
    warning_kinds: dict[str, int] = field(default_factory=dict)
    buckets: int | None = None  # buckets used (SPEC 10), `auto` resolved; 1: one pass
    backfill: dict[str, Any] | None = None  # a backfill's later night and where it wrote
    rules: dict[str, str] | None = None  # the rules file: path and sha256; None: defaults
    exit_code: int | None = None
    error: str | None = None
    ended: dt.datetime | None = None

    def finish(self, exit_code: int, error: str | None = None) -> None:
        self.exit_code = exit_code
        self.error = error
        self.ended = dt.datetime.now(dt.UTC)

    def warn(self, kind: str, texts: list[str]) -> None:
        """Add `texts`, warnings of one of health.KINDS, counted by kind for the metrics."""
        self.warnings.extend(texts)
        self.warning_kinds[kind] = self.warning_kinds.get(kind, 0) + len(texts)

    def kinds(self) -> dict[str, int]:
        """Every kind of warning with its count (0 when none); uncounted ones are other."""
        counted = {kind: self.warning_kinds.get(kind, 0) for kind in health.KINDS}
        counted[health.OTHER] += max(0, len(self.warnings) - sum(counted.values()))
        return counted

    @property
    def outcome(self) -> str:
        if self.exit_code == EXIT_OK:
            return SUCCESS
        if self.exit_code == EXIT_REJECTED_ROWS:
            return ROWS_REJECTED
        return FAILED

    @property
    def succeeded(self) -> bool:
        return self.outcome != FAILED


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def document(record: RunRecord) -> dict[str, Any]:
    """The report as plain JSON data; keys in the order the README documents them."""
    ended = record.ended or dt.datetime.now(dt.UTC)
    s = record.summary
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "followup", "version": __version__},
        "run_id": record.run_id,
        "started_at": iso(record.started),
        "ended_at": iso(ended),
        "elapsed_seconds": round((ended - record.started).total_seconds(), 6),
        "as_of": record.as_of.isoformat() if record.as_of else None,
        "arguments": record.arguments,
        "rules": record.rules,
        "exit_code": record.exit_code,
        "outcome": record.outcome,
        "error": record.error,
        "stages": {name: round(seconds, 6) for name, seconds in record.stages.items()},
        "buckets": record.buckets,
        "inputs": _inputs(record),
        "outputs": [_output(o) for o in record.outputs],
        "people": None
        if s is None
        else {"total": s.people, "by_follow_up_status": dict(s.follow_up)},
        "accounts": None
        if s is None
        else {
            "total": sum(count for _, count, _ in s.accounts),
            "owed": cents_text(s.owed_cents).replace(",", ""),
            "by_account_status": {
                status: {"accounts": count, "owed": cents_text(owed).replace(",", "")}
                for status, count, owed in s.accounts
            },
        },
        "rejects": None
        if not record.counts
        else {
            "rows": sum(c.rejected for c in record.counts),
            "path": _rejects_path(record),
        },
        "previous": None
        if record.previous_as_of is None and record.previous_source is None
        else {
            "as_of": record.previous_as_of.isoformat() if record.previous_as_of else None,
            "source": record.previous_source,
        },
        "transitions": None
        if record.transitions is None
        else [
            {"field": f, "from": a, "to": b, "people": n}
            for f, a, b, n in record.transitions.select("field", "from", "to", "people").rows()
        ],
        "warnings": list(record.warnings),
        "warnings_by_kind": record.kinds(),
        "backfill": record.backfill,
    }


def _inputs(record: RunRecord) -> list[dict[str, Any]]:
    counts = {c.table: c for c in record.counts}
    rows = []
    for table, path in record.located.items():
        mark = record.fingerprints.get(path) if path is not None else None
        count = counts.get(table)
        rows.append(
            {
                "table": table,
                "path": str(path) if path is not None else None,
                "format": _format_of(path),
                "bytes": mark.bytes if mark else None,
                "modified_at": mark.modified if mark else None,
                "sha256": mark.sha256 if mark else None,
                "rows_read": count.read if count else None,
                "rows_used": count.used if count else None,
                "rows_rejected": count.rejected if count else None,
                "rows_after_as_of": count.left_out if count else None,
                "ignored_columns": None
                if record.ignored_columns is None
                else record.ignored_columns.get(table, []),
            }
        )
    return rows


def _format_of(path: Path | None) -> str | None:
    if path is None:
        return None
    return EXPORT_EXTENSIONS.get(path.suffix.lower())


def _output(o: OutputFile) -> dict[str, Any]:
    return {
        "kind": o.kind,
        "path": str(o.path) if o.path is not None else "-",
        "format": o.format,
        "rows": o.rows,
        "sha256": o.sha256,
        # Only in a run with --split-by: which value's people the file holds (null: no value).
        **({} if o.split is None else {"split_by": {"column": o.split[0], "value": o.split[1]}}),
    }


def _rejects_path(record: RunRecord) -> str | None:
    written = [o for o in record.outputs if o.kind == "rejects"]
    return str(written[0].path) if written else None


def written_file(
    kind: str,
    path: Path | None,
    fmt: str,
    rows: int,
    split: tuple[str, str | None] | None = None,
) -> OutputFile:
    """An output file as the report lists it (with its --split-by value, when split); only a
    regular file this run replaced has a checksum to give (/dev/stdout sent to a file with
    `>>` holds more than this run wrote)."""
    regular = path is not None and path.is_file() and not is_special(path)
    digest = sha256_of(path) if path is not None and regular else None
    return OutputFile(kind, path, fmt, rows, digest, split)


def encode(report: dict[str, Any]) -> bytes:
    return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode()


def write(path: Path, report: dict[str, Any]) -> list[str]:
    """Atomically, like every file the tool writes: a monitor never reads half a report. No
    warnings to give (the same shape as metrics.write)."""
    data = encode(report)

    def fill(sink: BinaryIO) -> None:
        sink.write(data)

    write_atomically(path, fill)
    return []


def read_previous(path: Path | None) -> dict[str, Any] | None:
    """A report written by an earlier run, or None if there is none or it cannot be read. Only
    a regular file is read (a FIFO put there would block the run), and not past PREVIOUS_LIMIT.
    """
    data = None if path is None else read_regular(path, PREVIOUS_LIMIT)
    if data is None or len(data) > PREVIOUS_LIMIT:
        return None
    try:
        loaded = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError included; nested 100,000 deep
        return None
    return loaded if isinstance(loaded, dict) else None
