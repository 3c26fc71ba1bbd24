"""Finding the exports (SPEC 2): which file holds each table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from followup_cli.errors import InputFileError
from followup_cli.schema import TABLES

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def locate_tables(data_dir: Path, overrides: Mapping[str, Path | None]) -> dict[str, Path | None]:
    """Which file holds each table: an explicit path, else `<table>.csv|.parquet` in data_dir."""
    explicit = {name: path for name, path in overrides.items() if path is not None}
    listing: list[Path] = []
    if len(explicit) < len(TABLES):
        if not data_dir.is_dir():
            raise InputFileError(
                f"{data_dir}: no such folder; pass --data with the folder holding the exports"
            )
        try:
            listing = sorted(p for p in data_dir.iterdir() if p.is_file())
        except OSError as exc:
            raise InputFileError(f"{data_dir}: cannot be read ({exc.strerror})") from exc
    located: dict[str, Path | None] = {}
    for name, table in TABLES.items():
        if name in explicit:
            path = explicit[name]
            if path.is_dir():
                raise InputFileError(f"{path}: is a folder, not a file (given for --{name})")
            if not path.is_file():
                raise InputFileError(f"{path}: no such file (given for --{name})")
            located[name] = path
            continue
        found = [p for p in listing if p.stem.lower() == name and p.suffix.lower() in FORMATS]
        if len(found) > 1:
            names = " and ".join(p.name for p in found)
            raise InputFileError(
                f"{data_dir}: two files for the {name} table ({names}); keep one, "
                f"or name the one to use with --{name}"
            )
        if not found and table.required:
            raise InputFileError(
                f"{data_dir}: no {name} file (looked for {name}.csv and {name}.parquet); "
                f"export it there or pass --{name} PATH"
            )
        located[name] = found[0] if found else None
    return located
