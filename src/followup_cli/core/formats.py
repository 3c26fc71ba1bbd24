"""The file formats, by name and by extension: what exports may come in, what output may be.

Defined here only: finding and reading the exports, writing the output, the run report, the
workbook lists' --carry, the history snapshots and the command's --format choices read them.
"""

from __future__ import annotations

from pathlib import Path

# Every extension the tool reads or writes, and the format it means.
FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
}
EXPORT_FORMATS = ("csv", "parquet")  # what the club system's exports may come in
OUTPUT_FORMATS = ("csv", "parquet", "jsonl", "xlsx")  # what --output may be
# The extensions of exports (SPEC 2): a table's file is one of these.
EXPORT_EXTENSIONS = {ext: fmt for ext, fmt in FORMATS.items() if fmt in EXPORT_FORMATS}


def format_of(path: Path) -> str | None:
    """The format a file's extension names (any case); None for one the tool does not know."""
    return FORMATS.get(path.suffix.lower())
