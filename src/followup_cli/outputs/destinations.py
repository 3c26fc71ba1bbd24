"""Where a run's files may go (SPEC 5 and 6), decided before any work: the format a path means,
the file beside the output, the checks that refuse an input or an unwritable target, and
which targets are special (a device, FIFO or /dev/stdout written in place, never replaced).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import sys
import tempfile
from pathlib import Path

from followup_cli.core.errors import UsageError
from followup_cli.core.formats import OUTPUT_FORMATS, format_of
from followup_cli.core.schema import REJECT_COLUMNS
from followup_cli.outputs import signals

FORMATS = OUTPUT_FORMATS  # the name this module always had

BINARY_FORMATS = ("parquet", "xlsx")


def output_format(
    path: Path | None, requested: str | None, option: str = "--output", *, formats: bool = True
) -> str:
    """--format if given, else the output file's extension, else CSV (standard output);
    `option` is the one that named `path`, for the message refusing it; `formats` False: the
    command has no --format to suggest."""
    if requested is not None:
        if requested not in FORMATS:
            raise UsageError(f"--format {requested!r}: choose one of {', '.join(FORMATS)}")
        fmt = requested
    elif path is None:
        return "csv"
    else:
        found = format_of(path)
        if found is None and is_special(path):
            return "csv"  # `-o /dev/stdout` or a FIFO: as standard output, no extension to read
        if found is None:
            raise UsageError(
                f"{option} {path}: cannot tell the format from "
                f"{path.suffix or 'no extension'!r}; end the name in .csv, .parquet, .jsonl or "
                f".xlsx{', or pass --format' if formats else ''}"
            )
        fmt = found
    if fmt in BINARY_FORMATS and _is_terminal(path):
        # A zip or Parquet file is not for reading on a screen, and its bytes can leave the
        # terminal in a mode a person must reset.
        where = "standard output" if path is None else str(path)
        raise UsageError(
            f"--format {fmt}: {where} is a terminal; give a file with -o NAME.{fmt}, or pipe it on"
        )
    return fmt


def _is_terminal(path: Path | None) -> bool:
    """Whether `path` (None: standard output) is a terminal. Only a character device is opened
    to ask: opening a FIFO's writing end would end its reader's stream when closed."""
    if path is None:
        return sys.stdout.isatty()
    try:
        if not stat.S_ISCHR(os.stat(path).st_mode):
            return False
        handle = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False  # checked as a destination later, with a sentence naming the reason
    try:
        return os.isatty(handle)
    finally:
        os.close(handle)


def beside(output: Path | None, suffix: str, fallback: str) -> Path:
    """The file that goes with the output: beside it, named after it (`out.csv` with
    "-rejects.csv" is `out-rejects.csv`), else `fallback` in the working folder (standard
    output, or a device or FIFO: `-o /dev/null` must not leave a file in /dev). The rejects
    and the changes files are both found here."""
    if output is None or is_special(output):
        return Path(fallback)
    return output.with_name(f"{output.stem}{suffix}")


# --split-by (SPEC 9): a value in a file name keeps only what every file system takes, in a
# length every one allows; the rest of the name is the output's own.
_NOT_IN_FILE_NAMES = re.compile(r"[^A-Za-z0-9._-]+")
SPLIT_VALUE_CHARACTERS = 60
_TAG_CHARACTERS = 6
# Names the run's other files take beside the output (out-rejects.csv, out-changes.csv).
_TAKEN_BESIDE = ("rejects", "changes")


def split_paths(output: Path, column: str, values: list[str | None]) -> dict[str | None, Path]:
    """One file per value beside `output` (`lists.xlsx` and Downtown: `lists-Downtown.xlsx`),
    people without a value (None) in `lists-no-<column>.xlsx`. A value is made safe: each run
    of characters outside A-Z a-z 0-9 . _ - becomes `_`, dots, dashes and underscores are
    trimmed from the ends, and it is cut to SPLIT_VALUE_CHARACTERS. Names are distinct even
    where case does not count (macOS, Windows): when values share a safe name, or a value's
    safe name is empty or one the run's other files use, a short hash of the value as written
    is added (`lists-downtown-3fa2c1.xlsx`); in a group the first value, in sorted order, that
    is its own safe name keeps the plain one. The same values always give the same names."""
    no_value = f"no-{_safe(column) or 'value'}"
    present = sorted(v for v in set(values) if v is not None)
    plain = {v: _safe(v) for v in present}
    sharing: dict[str, int] = {}
    for name in plain.values():
        sharing[name.lower()] = sharing.get(name.lower(), 0) + 1
    taken = {*_TAKEN_BESIDE, no_value.lower()}
    named: dict[str | None, str] = {None: no_value} if None in values else {}
    kept_plain: set[str] = set()
    for value in present:
        name, key = plain[value], plain[value].lower()
        alone = sharing[key] == 1 or (name == value and key not in kept_plain)
        if name and key not in taken and alone:
            kept_plain.add(key)
            named[value] = name
        else:
            named[value] = f"{name or 'value'}-{_tag(value, _TAG_CHARACTERS)}"
    if len({name.lower() for name in named.values()}) < len(named):
        # A value that looks like another's name with its hash: every value gets a long hash.
        named = {v: (no_value if v is None else f"{_safe(v)}-{_tag(v, 16)}") for v in named}
    return {
        v: output.with_name(f"{output.stem}-{name}{output.suffix}") for v, name in named.items()
    }


def _safe(value: str) -> str:
    cut = _NOT_IN_FILE_NAMES.sub("_", value).strip("._-")[:SPLIT_VALUE_CHARACTERS]
    return cut.strip("._-")


def _tag(value: str, characters: int) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:characters]


def check_destinations(output: Path | None, rejects: Path, inputs: list[Path]) -> None:
    """Refuse, before any work, destinations that would overwrite an input or each other, or
    that cannot be written: the nightly job must never destroy the exports it reads."""
    read = {resolved("input", path) for path in inputs}
    if format_of(rejects) not in (None, "csv"):
        # The rejects file is CSV (SPEC 6): CSV bytes under a .xlsx or .parquet name open as
        # a broken file in the program that name promises.
        raise UsageError(f"--rejects {rejects}: the rejects file is CSV; end its name in .csv")
    for option, path in (("--output", output), ("--rejects", rejects)):
        if path is None:
            continue
        if resolved(option, path) in read:
            raise UsageError(f"{option} {path} is one of the input files; choose another name")
        check_writable(option, path)
    # Two regular files at one name would be one file; a device or FIFO can take both.
    same = output is not None and resolved("--output", output) == resolved("--rejects", rejects)
    if same and output is not None and not is_special(output):
        raise UsageError(f"--output and --rejects are the same file ({output}); give two names")


def resolved(option: str, path: Path) -> Path:
    """`path` with every symbolic link followed; a loop of links is a usage error naming it."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a loop of symbolic links (RuntimeError in 3.11)
        raise UsageError(f"{option} {path}: cannot be followed ({_reason(exc)})") from None


def check_writable(option: str, path: Path) -> None:
    """Refuse, before any work, a file destination the run could not write (exit 2), so a run
    never fails at the end, after other files of it were written. A regular file is written
    through a temporary file in its folder, so that folder must exist and take a new file; a
    device or FIFO must be writable itself."""
    try:
        folder_given = path.is_dir()
    except OSError as exc:  # a name too long for the file system, for one
        raise UsageError(f"{option} {path}: cannot be used ({_reason(exc)})") from None
    if folder_given:
        raise UsageError(f"{option} {path} is a folder; give a file name")
    if is_special(path):
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                raise UsageError(
                    f"{option} {path} is a socket, which cannot be opened; give a file"
                )
        if not os.access(path, os.W_OK):
            raise UsageError(f"{option} {path}: cannot be written (permission denied)")
        return
    folder = path.parent
    if path.is_symlink():
        # The file is written where the link leads (the link is kept): that folder must take it.
        folder = resolved(option, path).parent
        if not folder.is_dir():
            raise UsageError(
                f"{option} {path}: it links to a file in {folder}, which is not a folder "
                f"that exists; point the link at an existing folder, or give another name"
            )
    if not folder.is_dir():
        if folder.exists():
            raise UsageError(f"{option} {path}: {folder} is a file, not a folder")
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    check_name_fits(option, path, folder)
    probe_folder(option, path, folder)


# What the writer adds to a file's name for the names it uses beside it: the temporary file
# `.NAME.XXXXXXXX.part` and yesterday's kept version `.NAME.<12 hex>.previous`.
NAME_OVERHEAD = len(".") + len(".") + 12 + len(".previous")


def check_name_fits(option: str, path: Path, folder: Path, longest: int | None = None) -> None:
    """Refuse a file name the run could not write in `folder` (exit 2, before any work):
    `longest` bytes (the name's own by default) and the writer's NAME_OVERHEAD must fit the
    folder's longest name (255 bytes on most file systems). A name of 241-255 bytes passed
    every check, then the run failed at the end, or with "internal error"."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    size = longest if longest is not None else len(os.fsencode(path.name))
    if size + NAME_OVERHEAD > limit:
        raise UsageError(
            f"{option} {path}: the name is too long ({size} bytes; the run writes beside it "
            f"under names {NAME_OVERHEAD} bytes longer, and {folder} takes at most {limit}); "
            f"choose a shorter name"
        )


def probe_folder(option: str, path: Path, folder: Path) -> None:
    """Whether a file can be made in `folder`, by making one and removing it at once: the
    permission bits do not say (root ignores them; /proc takes no new file whatever they say)."""
    with signals.deferred():
        try:
            handle, name = tempfile.mkstemp(prefix=".followup-probe.", dir=folder)
        except OSError as exc:
            raise UsageError(
                f"{option} {path}: the folder {folder} cannot be written ({_reason(exc)})"
            ) from None
        signals.track(Path(name))
    os.close(handle)
    signals.discard(Path(name))


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def is_rejects_file(path: Path) -> bool:
    """Whether `path` is a rejects file this command wrote (judged by its header line)."""
    header = ",".join(REJECT_COLUMNS).encode()
    # The header's length and a BOM's: a large file with no line break is not read whole.
    start = None if is_special(path) else read_regular(path, len(header) + 8)
    if start is None:
        return False
    first = start.split(b"\n", 1)[0].strip().removeprefix(b"\xef\xbb\xbf")  # --bom
    return first == header


def read_regular(path: Path, limit: int) -> bytes | None:
    """The first `limit` bytes of `path`, and one more if there are more (so a caller can tell
    a file too big to be one this tool wrote), when it is a regular file (followed through
    links); None when it is missing, unreadable or anything else: a FIFO would block the run
    until a writer came, /dev/stdout on a pipe for ever, and /dev/full or /dev/zero never end.
    The file is checked before it is opened (opening a FIFO or a tape has effects of its own)
    and again once open (it could have been swapped in between)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return None
    with os.fdopen(handle, "rb") as source:
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                return None
            return source.read(limit + 1)
        except OSError:
            return None


def is_special(path: Path) -> bool:
    """Whether `path` is something other than a regular file that must be written in place:
    a device, FIFO or socket, or a regular file reached through /dev or /proc (`/dev/stdout`
    when the shell sent standard output to a file: renaming over it would replace the link)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # not there yet (or not reachable): a new regular file, or a clear error
    if not stat.S_ISREG(mode):
        return True
    hop = Path(os.path.abspath(path))
    for _ in range(_MAX_LINKS):
        if hop.parts[1:2] in (("dev",), ("proc",)):
            return True
        if not hop.is_symlink():
            return False
        hop = Path(os.path.abspath(hop.parent / os.readlink(hop)))
    return False


# --- the set, step by step ------------------------------------------------------------------

_MAX_LINKS = 40  # as the kernel's own limit on a chain of symbolic links


def make_folders(folder: Path) -> list[Path]:
    """Make `folder` and every missing folder above it; the ones made, outermost first. Signals
    wait while a folder is made and noted, so none is left behind unnoticed; on a failure the
    ones made are removed and the OSError (naming the folder that failed) is raised."""
    missing: list[Path] = []
    while not folder.is_dir() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    made: list[Path] = []
    with signals.deferred():
        try:
            for each in reversed(missing):
                each.mkdir()
                made.append(each)
        except OSError:
            remove_made_folders(made)
            raise
    return made


def remove_made_folders(made: list[Path]) -> None:
    """Remove the folders a run made (listed outermost first), innermost first, while they are
    empty: one that holds something stays, and so do the folders above it."""
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            return
