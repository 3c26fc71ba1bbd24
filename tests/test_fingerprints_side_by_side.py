"""Input fingerprints taken side by side (issue 23): the exports' SHA-256 are computed on as
many threads as there are cores, largest file first, before reading and again after (SPEC 8).
What a run sees must not depend on it: the same fingerprints, in the inputs' order, and the
same first failure as when the files are taken one by one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from followup_cli.core.errors import InputFileError
from followup_cli.reading import fingerprint


def _files(folder: Path) -> list[Path]:
    """Four files, not in order of size (the largest is hashed first)."""
    sizes = {
        "customers.csv": 3_000,
        "agreements.csv": 10,
        "payments.csv": 2_000_000,
        "events.csv": 700,
    }
    paths = []
    for name, size in sizes.items():
        path = folder / name
        path.write_bytes(bytes(range(256)) * (size // 256) + name.encode())
        paths.append(path)
    return paths


def test_the_same_fingerprints_in_the_inputs_order(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    together = fingerprint.take_all(paths)
    assert list(together) == paths
    assert together == {path: fingerprint.take(path) for path in paths}
    assert len({mark.sha256 for mark in together.values()}) == 4
    fingerprint.verify(together)  # nothing changed: nothing to say


def test_the_first_unreadable_input_in_order_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two inputs cannot be read: the earlier in the inputs' order is named, though the later
    one is the largest and hashed first."""
    paths = _files(tmp_path)
    hashing = fingerprint.sha256_of

    def failing(path: Path) -> str:
        if path.name in ("agreements.csv", "payments.csv"):
            raise OSError(5, "Input/output error")
        return hashing(path)

    monkeypatch.setattr(fingerprint, "sha256_of", failing)
    with pytest.raises(InputFileError, match=r"agreements\.csv: cannot be read"):
        fingerprint.take_all(paths)
    missing = tmp_path / "gone.csv"
    with pytest.raises(InputFileError, match=r"gone\.csv"):
        fingerprint.take_all([paths[0], missing, *paths[1:]])


def _rewrite_keeping_size_and_time(path: Path) -> None:
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_the_first_changed_input_in_order_is_named(tmp_path: Path) -> None:
    """Only the bytes differ (size and time kept), in two files: the earlier one in the
    inputs' order is named, though the later one is the largest and hashed first."""
    paths = _files(tmp_path)
    marks = fingerprint.take_all(paths)
    _rewrite_keeping_size_and_time(paths[1])
    _rewrite_keeping_size_and_time(paths[2])
    with pytest.raises(fingerprint.InputChangedError, match=r"agreements\.csv: changed while"):
        fingerprint.verify(marks)


def test_a_rewrite_in_an_earlier_input_is_named_before_a_later_one_that_grew(
    tmp_path: Path,
) -> None:
    """The earlier input's bytes changed (size and time kept), a later one grew: the earlier
    is named, as when each file was checked in turn (size and time, then bytes)."""
    paths = _files(tmp_path)
    marks = fingerprint.take_all(paths)
    _rewrite_keeping_size_and_time(paths[0])
    with paths[2].open("ab") as grown:
        grown.write(b"one more line\n")
    with pytest.raises(fingerprint.InputChangedError, match=r"customers\.csv: changed while"):
        fingerprint.verify(marks)
    paths[0].unlink()  # gone now: still the first named
    with pytest.raises(fingerprint.InputChangedError, match=r"customers\.csv: changed while"):
        fingerprint.verify(marks)
