"""Finding the exports (SPEC 2): which file holds each table.

All four tables are expected. A table that cannot be found stops the run rather than counting
as empty: a `payment.csv` read as "no payments" would make every paid-up member Delinquent.
`--without TABLE` is the deliberate way to run without one.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Collection, Mapping
from pathlib import Path

from followup_cli.core.errors import InputFileError, UsageError
from followup_cli.core.formats import EXPORT_EXTENSIONS
from followup_cli.core.listing import first_of
from followup_cli.core.schema import TABLES

NEAR = 0.75  # difflib ratio; payment.csv/payments.csv is 0.96, payments.txt 0.75
LISTED = 10  # export files named in a "no such table" message; the rest are counted


def locate_tables(
    data_dir: Path, overrides: Mapping[str, Path | None], without: Collection[str] = ()
) -> dict[str, Path | None]:
    """Which file holds each table: an explicit path, else `<table>.csv|.parquet` in data_dir;
    None only for a table named in `without`.

    Every file found is checked to be a readable regular file, so nothing later mistakes a
    folder, a dangling link or a FIFO for an absent or empty table.
    """
    skipped = _without(without, overrides)
    explicit = {name: path for name, path in overrides.items() if path is not None}
    wanted = [name for name in TABLES if name not in explicit and name not in skipped]
    entries = _entries(data_dir) if wanted else []
    located: dict[str, Path | None] = {}
    for name in TABLES:
        if name in skipped:
            located[name] = None
        elif name in explicit:
            located[name] = _readable_file(explicit[name], f"given for --{name}")
        else:
            located[name] = _find(name, data_dir, entries, some_named=bool(explicit))
        _utf8_path(located[name], name)
    return located


def shown(path: Path) -> str:
    """A path as text that can always be printed and stored: bytes that are not UTF-8 in its
    name (a folder `caf\\xe9` made on a Latin-1 system) appear as `\\xe9`."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _utf8_path(path: Path | None, table: str) -> None:
    """Polars opens files by a UTF-8 path only: one with other bytes in its name would fail
    deep inside the reader, so it stops here with the reason and the way out (exit 3)."""
    if path is None:
        return
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise InputFileError(
            f"{shown(path)}: the {table} file's path is not valid UTF-8, which the reader "
            f"cannot open; rename the folder or file to UTF-8 (for example with convmv), or "
            f"link it from a UTF-8 name and pass that with --{table}"
        ) from None


def possible_inputs(
    data_dir: Path, overrides: Mapping[str, Path | None], without: Collection[str] = ()
) -> list[Path]:
    """Every file `locate_tables` could take as an export, found without failing: the files
    named by path, and the table files in data_dir. What the run reads is among them, even
    when it stops before reading (a table missing), so nothing it writes may be one of them."""
    explicit = [path for path in overrides.values() if path is not None]
    wanted = _looked_for(overrides, without)
    try:
        entries = list(data_dir.iterdir()) if wanted and data_dir.is_dir() else []
    except OSError:
        entries = []
    return explicit + [p for p in entries if _export_of(p, wanted)]


def _looked_for(overrides: Mapping[str, Path | None], without: Collection[str]) -> set[str]:
    """The tables whose file is looked for in the data folder: not given by path, nor run
    `--without`."""
    skipped = {name.strip().lower() for name in without}
    return {name for name in TABLES if overrides.get(name) is None and name not in skipped}


def _export_of(path: Path, tables: Collection[str]) -> bool:
    """Whether the data folder's file `path` would be read as the export of one of `tables`."""
    return path.stem.lower() in tables and path.suffix.lower() in EXPORT_EXTENSIONS


def check_not_read_next(
    option: str,
    path: Path | None,
    data_dir: Path,
    overrides: Mapping[str, Path | None],
    without: Collection[str] = (),
) -> None:
    """Refuse a file the run would write in the exports folder under a table's name
    (`-o exports/payments.csv` beside payments.parquet): tonight it is no input yet, but every
    later run would find it there as an export (two files for one table: exit 3 each night, or
    its rows read as payments). Both the name given and, for a link, the file it leads to,
    which is the one written."""
    if path is None:
        return
    wanted = _looked_for(overrides, without)
    try:
        exports = data_dir.absolute().resolve()
        named = [path.absolute().parent.resolve() / path.name, path.absolute().resolve()]
    except (OSError, RuntimeError):
        return  # a loop of links: the writer's own checks name it
    for candidate in named:
        if candidate.parent == exports and _export_of(candidate, wanted):
            where = "is" if candidate.name == path.name else f"leads to {candidate.name},"
            raise UsageError(
                f"{option} {path} {where} in the exports folder ({data_dir}) under the "
                f"{candidate.stem.lower()} table's name: the next run would read it as an "
                f"export; choose another name or folder"
            )


def _without(names: Collection[str], overrides: Mapping[str, Path | None]) -> set[str]:
    """The tables to run without, checked: known, not customers, not also given by path."""
    skipped = set()
    for given in names:
        name = given.strip().lower()
        if name not in TABLES:
            optional = ", ".join(n for n, t in TABLES.items() if not t.required)
            raise UsageError(f"--without: {given!r} is not a table; it takes one of {optional}")
        if TABLES[name].required:
            raise UsageError(
                f"--without {name}: the {name} table is always needed; it lists the people"
            )
        if overrides.get(name) is not None:
            raise UsageError(
                f"--without {name} and --{name} {overrides[name]} contradict each other; "
                f"use one of them"
            )
        skipped.add(name)
    return skipped


def _entries(data_dir: Path) -> list[Path]:
    """Everything in the folder, files or not: a folder named payments.csv must be seen."""
    if not data_dir.is_dir():
        raise InputFileError(
            f"{data_dir}: no such folder; pass --data with the folder holding the exports"
        )
    try:
        return sorted(data_dir.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise InputFileError(f"{data_dir}: cannot be read ({exc.strerror})") from exc


def _find(name: str, data_dir: Path, entries: list[Path], some_named: bool) -> Path:
    found = [p for p in entries if p.stem.lower() == name and p.suffix.lower() in EXPORT_EXTENSIONS]
    if len(found) > 1:
        names = " and ".join(p.name for p in found)
        raise InputFileError(
            f"{data_dir}: two files for the {name} table ({names}); keep one, "
            f"or name the one to use with --{name}"
        )
    if found:
        return _readable_file(found[0], f"the {name} table in {data_dir}")
    folder = str(data_dir)
    if some_named and data_dir == Path("."):
        # `--customers FILE` alone: say where the other tables were looked for.
        folder = ". (the current folder, the default --data)"
    message = (
        f"{folder}: no {name} file (looked for {name}.csv and {name}.parquet); "
        f"{_listing(entries)}. "
    )
    near = _near_name(name, entries)
    if near is not None:
        entry, meant = near
        message += f"Did you mean {meant}? Rename {entry.name}, or "
    else:
        message += "Export it there, or "
    message += f"pass --{name} PATH"
    if not TABLES[name].required:
        message += f", or --without {name} to run without it (it then counts as empty)"
    raise InputFileError(message)


def _near_name(name: str, entries: list[Path]) -> tuple[Path, str] | None:
    """The folder entry most like `<name>.csv` or `<name>.parquet`, if one is close enough,
    and which of the two it seems meant to be."""
    others = {f"{t}{ext}" for t in TABLES for ext in EXPORT_EXTENSIONS if t != name}
    candidates = {p.name.lower(): p for p in entries if p.name.lower() not in others}
    best: tuple[float, str, str] | None = None
    for wanted in (f"{name}.csv", f"{name}.parquet"):
        for match in difflib.get_close_matches(wanted, candidates, n=1, cutoff=NEAR):
            score = difflib.SequenceMatcher(None, wanted, match).ratio()
            if best is None or score > best[0]:
                best = (score, match, wanted)
    return (candidates[best[1]], best[2]) if best else None


def _listing(entries: list[Path]) -> str:
    """The folder's CSV and Parquet entries, where a person looks for the misnamed one."""
    exports = [p for p in entries if p.suffix.lower() in EXPORT_EXTENSIONS]
    others = len(entries) - len(exports)
    besides = f" ({others:,} other entr{'y' if others == 1 else 'ies'})" if others else ""
    if not exports:
        return "the folder holds no .csv or .parquet file" + besides
    shown = [p.name + ("/" if p.is_dir() else "") for p in exports[:LISTED]]
    return f"the folder holds {first_of(shown, LISTED, len(exports))}" + besides


def _readable_file(path: Path, role: str) -> Path:
    """`path` itself if it is a regular file that can be opened; else one sentence, exit 3."""
    try:
        mode = path.stat().st_mode  # follows links: the file a link points at is what counts
    except FileNotFoundError:
        if path.is_symlink():
            raise InputFileError(
                f"{path}: a link to {os.readlink(path)}, which does not exist ({role}); "
                f"point it at the export or remove it"
            ) from None
        raise InputFileError(f"{path}: no such file ({role})") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror}; {role})") from exc
    if stat.S_ISDIR(mode):
        raise InputFileError(f"{path}: is a folder, not a file ({role})")
    if not stat.S_ISREG(mode):
        raise InputFileError(
            f"{path}: not a regular file (a pipe, device or socket; {role}); "
            f"save the export to a file first"
        )
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror}; {role})") from exc
    return path
