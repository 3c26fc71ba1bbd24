"""Edges of the command line and the run (issue 18): text types carried from Parquet, columns
that cannot be carried, paths that are not UTF-8, the supported as-of dates, Ctrl-C while the
command starts, a header-only payments file, a filtered --previous, and a signal after the
output set was written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from followup_cli.outputs import signals
from tests.conftest import SAMPLE

FOLLOWUP = Path(sys.executable).parent / "followup"
DAY = "2024-07-31"


def _sample(folder: Path) -> Path:
    shutil.copytree(SAMPLE, folder)
    return folder


def _parquet_customers(folder: Path, **columns: tuple[object, pl.DataType | None]) -> Path:
    """The sample exports with customers as Parquet, plus extra columns: name=(value, type),
    the same value on every row."""
    _sample(folder)
    csv = folder / "customers.csv"
    customers = pl.read_csv(csv, infer_schema=False).with_columns(
        pl.col("created_on").str.to_date()
    )
    extra = {
        name: pl.Series(name, [value] * customers.height, dtype=dtype)
        for name, (value, dtype) in columns.items()
    }
    customers.with_columns(**extra).write_parquet(folder / "customers.parquet")
    csv.unlink()
    return folder


def test_categorical_and_enum_carried_are_guarded_and_trimmed(invoke: Any, tmp_path: Path) -> None:
    """A Categorical or Enum column carried from Parquet is text: trimmed, and guarded."""
    data = _parquet_customers(
        tmp_path / "d",
        phone=('=HYPERLINK("http://x","click")  ', pl.Categorical()),
        email=("  @SUM(1)", pl.Enum(["  @SUM(1)"])),
    )
    result = invoke("reconcile", "--data", str(data), "--as-of", DAY, "--carry", "phone,email")
    assert result.exit_code == 0, result.output
    out = pl.read_csv(result.stdout.encode(), infer_schema=False)
    assert set(out["phone"]) == {'\'=HYPERLINK("http://x","click")'}
    assert set(out["email"]) == {"'@SUM(1)"}


@pytest.mark.parametrize(
    ("value", "dtype", "shown"),
    [
        (["a", "b"], pl.List(pl.String), "List(String)"),
        ({"a": 1}, pl.Struct({"a": pl.Int64}), "Struct"),
        (b"=x", pl.Binary(), "Binary"),
        (1, pl.Duration("ms"), "Duration"),
        ([1, 2], pl.Array(pl.Int64, 2), "Array"),
    ],
)
def test_a_column_without_a_one_cell_form_is_a_usage_error(
    invoke: Any, tmp_path: Path, value: object, dtype: pl.DataType, shown: str
) -> None:
    """--carry of a List, Struct, Binary, Duration or Array column: exit 2 naming its type."""
    data = _parquet_customers(tmp_path / "d", extra=(value, dtype))
    out = tmp_path / "out.csv"
    result = invoke(
        "reconcile", "--data", str(data), "--as-of", DAY, "--carry", "extra", "-o", str(out)
    )
    assert result.exit_code == 2, result.output
    assert "--carry extra" in result.stderr and shown in result.stderr
    assert "internal error" not in result.stderr
    assert not out.exists()


def _reconcile_bytes(*args: bytes) -> tuple[subprocess.CompletedProcess[bytes], str]:
    """`followup reconcile --as-of DAY ARGS` with arguments as bytes (names that are not UTF-8),
    and its standard error as text."""
    done = subprocess.run(
        [os.fsencode(FOLLOWUP), b"reconcile", b"--as-of", DAY.encode(), *args],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done, done.stderr.decode("utf-8", "replace")


def test_a_data_folder_whose_name_is_not_utf8(tmp_path: Path) -> None:
    """--data caf\\xe9: exit 3 with one sentence naming the folder, and the run report written."""
    folder = os.path.join(os.fsencode(tmp_path), b"caf\xe9")
    os.mkdir(folder)
    for table in ("customers", "agreements", "payments", "events"):
        shutil.copy(
            os.fsencode(SAMPLE / f"{table}.csv"), os.path.join(folder, table.encode() + b".csv")
        )
    report = tmp_path / "run.json"
    done, err = _reconcile_bytes(
        b"--data",
        folder,
        b"-o",
        os.fsencode(tmp_path / "out.csv"),
        b"--report",
        os.fsencode(report),
    )
    assert done.returncode == 3, err
    assert "internal error" not in err and "caf\\xe9" in err and "not valid UTF-8" in err
    recorded = json.loads(report.read_text(encoding="utf-8"))
    assert recorded["exit_code"] == 3 and "caf\\xe9" in recorded["arguments"]["data"]


def test_a_payments_file_whose_name_is_not_utf8(tmp_path: Path) -> None:
    """--payments pay\\xe9.csv: exit 3 with one sentence, not an internal TypeError."""
    data = _sample(tmp_path / "d")
    payments = os.path.join(os.fsencode(tmp_path), b"pay\xe9.csv")
    shutil.copy(os.fsencode(data / "payments.csv"), payments)
    done, err = _reconcile_bytes(
        b"--data",
        os.fsencode(data),
        b"--payments",
        payments,
        b"-o",
        os.fsencode(tmp_path / "out.csv"),
    )
    assert done.returncode == 3, err
    assert "internal error" not in err and "pay\\xe9.csv" in err and "--payments" in err


@pytest.mark.parametrize("day", ["9999-12-31", "7900-01-01", "1899-12-31", "0001-01-01"])
def test_an_as_of_date_outside_the_supported_range(invoke: Any, day: str) -> None:
    """--as-of outside 1900-01-01..7899-12-31: exit 2 saying the range, not an internal error."""
    result = invoke("reconcile", "--data", str(SAMPLE), "--as-of", day)
    assert result.exit_code == 2, result.output
    assert "1900-01-01 to 7899-12-31" in result.stderr


def _started(process: subprocess.Popen[bytes]) -> None:
    """Wait until the command's own code runs: it is importing Polars (its library mapped)."""
    maps = Path(f"/proc/{process.pid}/maps")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if "polars" in maps.read_text():
                return
        except OSError:
            return
        time.sleep(0.001)


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05])
def test_ctrl_c_while_the_command_starts_prints_no_traceback(tmp_path: Path, delay: float) -> None:
    """SIGINT while Polars and Typer are imported: exit 130, one line, no traceback."""
    out = tmp_path / "out.csv"
    process = subprocess.Popen(
        [str(FOLLOWUP), "reconcile", "--data", str(SAMPLE), "--as-of", DAY, "-q", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _started(process)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    text = err.decode()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    if process.returncode == 0:  # the run finished before the signal (a fast machine)
        assert out.exists() and text == ""
    else:
        assert process.returncode == 130, text
        assert text == "followup: error: interrupted by SIGINT; no partial file was left\n"
        assert not out.exists()


def test_a_header_only_payments_file_with_accounts_owing_stops_the_run(
    invoke: Any, tmp_path: Path
) -> None:
    """payments.csv with a header alone while accounts owe: exit 3, like a missing table."""
    data = _sample(tmp_path / "d")
    header = (data / "payments.csv").read_text().splitlines()[0]
    (data / "payments.csv").write_text(header + "\n")
    out = tmp_path / "out.csv"
    result = invoke("reconcile", "--data", str(data), "--as-of", DAY, "-o", str(out))
    assert result.exit_code == 3, result.output
    assert "payments.csv" in result.stderr and "--without payments" in result.stderr
    assert not out.exists()


def test_a_previous_output_filtered_with_status_is_refused(invoke: Any, tmp_path: Path) -> None:
    """--previous of a --status list whose report is beside it: exit 2, not everyone "(new)"."""
    before = tmp_path / "before"
    before.mkdir()
    earlier = before / "followup-2024-07-30.csv"
    first = invoke(
        "reconcile",
        "--data",
        str(SAMPLE),
        "--as-of",
        "2024-07-30",
        "-o",
        str(earlier),
        "--status",
        "Delinquent Customer",
        "--report",
        str(before / "report.json"),
    )
    assert first.exit_code == 0, first.output
    out = tmp_path / "out.csv"
    result = invoke(
        "reconcile",
        "--data",
        str(SAMPLE),
        "--as-of",
        DAY,
        "-o",
        str(out),
        "--previous",
        str(earlier),
    )
    assert result.exit_code == 2, result.output
    assert "--status" in result.stderr and "Delinquent Customer" in result.stderr
    assert not out.exists()


def test_a_signal_right_after_the_commit_point_keeps_the_runs_exit_code(
    invoke: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM just after the output set landed: exit 0, the files stand, and a line says so."""
    landed = signals.files_written

    def land_then_signal() -> None:
        landed()
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(signals, "files_written", land_then_signal)
    out = tmp_path / "out.csv"
    report = tmp_path / "run.json"
    result = invoke(
        "reconcile",
        "--data",
        str(SAMPLE),
        "--as-of",
        DAY,
        "-q",
        "-o",
        str(out),
        "--report",
        str(report),
    )
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert "SIGTERM came after the output set was written" in result.stderr
    recorded = json.loads(report.read_text())
    assert recorded["exit_code"] == 0
    assert any("SIGTERM" in warning for warning in recorded["warnings"])
