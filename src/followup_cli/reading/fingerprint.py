"""Input fingerprints (SPEC 8): size, modified time and SHA-256 of every export, before and after.

The club system may still be writing an export when the nightly job starts, or rewrite it during
the run. A run that read half of one version and half of another would label people from a file
that never existed, so every input is fingerprinted before it is read and checked again once
everything that reads it has finished; any difference stops the run before anything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from followup_cli.core.errors import FollowupError, InputFileError

CHUNK = 1024 * 1024  # hash in 1 MiB reads: memory stays flat whatever the export's size
T = TypeVar("T")


class InputChangedError(FollowupError):
    """An input changed between the first fingerprint and the end of reading: nothing written."""


@dataclass(frozen=True)
class Fingerprint:
    path: Path
    bytes: int
    mtime_ns: int
    sha256: str

    @property
    def modified(self) -> str:
        """The modified time as UTC ISO 8601 (for the run report)."""
        moment = dt.datetime.fromtimestamp(self.mtime_ns / 1e9, tz=dt.UTC)
        return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def take(path: Path) -> Fingerprint:
    """The file's fingerprint now; an unreadable file is the reader's error to report."""
    try:
        before = path.stat()
        digest = sha256_of(path)
        after = path.stat()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise _changed(path)
    return Fingerprint(path, after.st_size, after.st_mtime_ns, digest)


def take_all(paths: Iterable[Path]) -> dict[Path, Fingerprint]:
    """Every file's fingerprint, hashed side by side (`_side_by_side`)."""
    return _side_by_side(take, list(paths))


def verify(fingerprints: dict[Path, Fingerprint]) -> None:
    """Raise InputChangedError if any input differs from its fingerprint (size, time or bytes)."""
    # Size and time can survive a rewrite (`touch -r`, a copy with preserved times, a
    # coarse-grained file system), so the bytes themselves are checked too. Every file is
    # hashed first (side by side), then each is judged in turn, so the file named is the first
    # in the inputs' order that changed in any way, as when they were checked one by one.
    digests = _side_by_side(_sha256_or_none, list(fingerprints))
    for path, first in fingerprints.items():
        try:
            now = path.stat()
        except OSError:
            raise _changed(path) from None
        if (now.st_size, now.st_mtime_ns) != (first.bytes, first.mtime_ns):
            raise _changed(path)
        if digests[path] != first.sha256:
            raise _changed(path)


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None  # gone or unreadable now: changed


def _side_by_side(work: Callable[[Path], T], paths: list[Path]) -> dict[Path, T]:
    """`work` on every path, the largest files first, on as many threads as there are cores:
    hashing releases the GIL, so the four exports' SHA-256 take about as long as the largest
    one's (0.48 -> 0.25 s for 840 MB of CSV at 1,000,000 customers, on 2 cores). The results,
    and the first failure, come in the paths' own order, as if they were taken one by one."""
    if len(paths) < 2:
        return {path: work(path) for path in paths}
    largest_first = sorted(paths, key=_size, reverse=True)
    with ThreadPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1)) as pool:
        started = {path: pool.submit(work, path) for path in largest_first}
        return {path: started[path].result() for path in paths}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # `work` says what is wrong with it


def _changed(path: Path) -> InputChangedError:
    return InputChangedError(f"{path}: changed while reading; run again")
