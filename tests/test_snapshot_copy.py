"""A night's snapshot (SPEC 8) written once (issue 23): when the run delivered every output row
as Parquet, the snapshot is a copy of that file, checked by its SHA-256; otherwise, and when
the file changed before the copy, the rows are written as the Parquet output writes them.
Either way the snapshot's bytes are those of the run's whole Parquet output."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from followup_cli.nightly import history
from followup_cli.synthetic.generate import generate

from .conftest import AS_OF

Invoke = Callable[..., Any]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate(150, folder, seed=11, fmt="csv")
    return folder


def _run(invoke: Invoke, data: Path, *args: str) -> None:
    result = invoke("reconcile", "--data", str(data), "--as-of", AS_OF.isoformat(), *args)
    assert result.exit_code == 0, result.stderr


def _snapshot(folder: Path) -> Path:
    return folder / f"as_of={AS_OF.isoformat()}" / history.SNAPSHOT_FILE


def test_the_snapshot_is_the_parquet_output_whatever_the_output(
    invoke: Invoke, generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tmp_path / "whole.parquet"
    _run(invoke, generated, "-o", str(whole))
    copied: list[Path] = []
    real_copy = history.shutil.copyfile

    def copying(source: Path, target: Path) -> Any:
        copied.append(Path(source))
        return real_copy(source, target)

    monkeypatch.setattr(history.shutil, "copyfile", copying)
    # Parquet, every row: the snapshot is a copy of the output file.
    _run(invoke, generated, "-o", str(tmp_path / "a.parquet"), "--history", str(tmp_path / "a"))
    assert copied == [tmp_path / "a.parquet"]
    assert _snapshot(tmp_path / "a").read_bytes() == whole.read_bytes()
    # CSV, or one list only: the rows are written, the same bytes.
    lists = ["-o", str(tmp_path / "c.parquet"), "--status", "Lead"]
    for name, extra in (("b", ["-o", str(tmp_path / "b.csv")]), ("c", lists)):
        _run(invoke, generated, *extra, "--history", str(tmp_path / name))
        assert _snapshot(tmp_path / name).read_bytes() == whole.read_bytes(), name
    assert len(copied) == 1
    # The list file itself holds fewer rows than the snapshot.
    assert pl.read_parquet(tmp_path / "c.parquet").height < pl.read_parquet(whole).height


def _rows() -> pl.DataFrame:
    return pl.DataFrame({"customer_id": ["C-1", "C-2"], "follow_up_status": ["Lead", "Lead"]})


def _expected(tmp_path: Path) -> bytes:
    folder = history.store(tmp_path / "plain", AS_OF, _rows(), b"{}\n")
    return (folder / history.SNAPSHOT_FILE).read_bytes()


def test_a_file_changed_before_the_copy_is_not_the_snapshot(tmp_path: Path) -> None:
    output = tmp_path / "out.parquet"
    output.write_bytes(b"not these rows")
    stale = hashlib.sha256(b"what the run wrote").hexdigest()
    folder = history.store(tmp_path / "h", AS_OF, _rows(), b"{}\n", (output, stale))
    assert (folder / history.SNAPSHOT_FILE).read_bytes() == _expected(tmp_path)
    assert pl.read_parquet(folder / history.SNAPSHOT_FILE).equals(_rows())


def test_a_file_gone_before_the_copy_is_not_the_snapshot(tmp_path: Path) -> None:
    gone = tmp_path / "gone.parquet"
    folder = history.store(tmp_path / "h", AS_OF, _rows(), b"{}\n", (gone, "0" * 64))
    assert (folder / history.SNAPSHOT_FILE).read_bytes() == _expected(tmp_path)
    assert not gone.exists()


def test_a_matching_file_is_copied_byte_for_byte(tmp_path: Path) -> None:
    expected = _expected(tmp_path)
    output = tmp_path / "out.parquet"
    output.write_bytes(expected)
    digest = hashlib.sha256(expected).hexdigest()
    folder = history.store(
        tmp_path / "h", dt.date(2024, 8, 1), pl.LazyFrame(), b"{}\n", (output, digest)
    )
    # The rows given are empty: only the copy can have put these bytes there.
    assert (folder / history.SNAPSHOT_FILE).read_bytes() == expected


def test_a_device_in_the_output_files_place_is_not_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaced since by a link to a device, the output is not read: /dev/zero never ends.
    (The copy is only recorded here, so a regression fails instead of filling the disk.)"""
    copied: list[str] = []
    monkeypatch.setattr(history.shutil, "copyfile", lambda source, _target: copied.append(source))
    output = tmp_path / "out.parquet"
    output.symlink_to("/dev/zero")
    folder = history.store(tmp_path / "h", AS_OF, _rows(), b"{}\n", (output, "0" * 64))
    assert copied == []
    assert (folder / history.SNAPSHOT_FILE).read_bytes() == _expected(tmp_path)
