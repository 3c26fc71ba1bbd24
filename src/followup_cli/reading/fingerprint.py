"""Input fingerprints (SPEC 8): size, modified time and SHA-256 of every export, before and after.

The club system may still be writing an export when the nightly job starts, or rewrite it during
the run. A run that read half of one version and half of another would label people from a file
that never existed, so every input is fingerprinted before it is read and checked again once
everything that reads it has finished; any difference stops the run before anything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from followup_cli.core.errors import FollowupError, InputFileError

CHUNK = 1024 * 1024  # hash in 1 MiB reads: memory stays flat whatever the export's size


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
    return {path: take(path) for path in paths}


def verify(fingerprints: dict[Path, Fingerprint]) -> None:
    """Raise InputChangedError if any input differs from its fingerprint (size, time or bytes)."""
    for path, first in fingerprints.items():
        try:
            now = path.stat()
        except OSError:
            raise _changed(path) from None
        if (now.st_size, now.st_mtime_ns) != (first.bytes, first.mtime_ns):
            raise _changed(path)
        # Size and time can survive a rewrite (`touch -r`, a copy with preserved times, a
        # coarse-grained file system), so the bytes themselves are checked too.
        if sha256_of(path) != first.sha256:
            raise _changed(path)


def _changed(path: Path) -> InputChangedError:
    return InputChangedError(f"{path}: changed while reading; run again")
