"""Every path a run writes, against what may be there (SPEC 6 and 8): only a regular file is
replaced (through a link, keeping its owner and mode); a device, a FIFO or /dev/stdout is
written to and never read; a FIFO nobody reads never hangs the run; and a file the run writes
after its output set (the metrics) cannot turn the exit code into one its report contradicts.
The tests run as root (the sandbox does), so they can make device nodes and chown files."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from followup_cli.core.schema import REJECT_COLUMNS
from followup_cli.nightly import metrics
from followup_cli.outputs import destinations
from followup_cli.outputs import writing as output

from .conftest import SAMPLE

Invoke = Callable[..., Any]
SRC = Path(output.__file__).resolve().parents[2]  # src/, above followup_cli/outputs/
ENV = {**os.environ, "PYTHONPATH": str(SRC)}
AS_OF = "2024-07-31"
GUARD = 60  # seconds: only a guard against the old hang, never a measurement


def _reconcile(*extra: str, quiet: bool = True) -> list[str]:
    return [
        "reconcile",
        "--data",
        str(SAMPLE),
        "--as-of",
        AS_OF,
        *(["-q"] if quiet else []),
        *extra,
    ]


def _device(path: Path, minor: int) -> Path:
    """A character device node like /dev/null (minor 3) or /dev/full (7), in the test's folder:
    the real ones must never be put at risk by a test of the old code."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    return path


def _child(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "followup_cli", *args]
    return subprocess.run(
        command, check=False, env=ENV, capture_output=True, timeout=GUARD, **kwargs
    )


def test_metrics_into_a_device_writes_to_it_and_leaves_the_node(
    invoke: Invoke, tmp_path: Path
) -> None:
    """--metrics on a device node: written to, and still a device (it was made a regular
    file; as root, --metrics /dev/null replaced the system's /dev/null)."""
    null = _device(tmp_path / "null", 3)
    result = invoke(*_reconcile("-o", str(tmp_path / "o.csv"), "--metrics", str(null)))
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "o.csv"]


def test_metrics_never_read_a_device_that_never_ends(tmp_path: Path) -> None:
    """An earlier value is read only from a regular file: /dev/full (endless zeros to read, no
    room to write) is written to and fails with one sentence (it was read until memory ran
    out: 24 GB, or MemoryError here under a 600 MB limit)."""
    full = _device(tmp_path / "full", 7)
    script = (
        "import resource, sys; from pathlib import Path;"
        "from followup_cli.nightly import metrics, report;"
        "record = report.RunRecord(arguments={}); record.finish(0);"
        "resource.setrlimit(resource.RLIMIT_AS, (600 << 20, 600 << 20));"
        f"metrics.write(Path({str(full)!r}), report.document(record))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, env=ENV, capture_output=True, timeout=GUARD
    )
    assert b"OutputError" in done.stderr and b"No space left on device" in done.stderr
    assert b"MemoryError" not in done.stderr
    assert stat.S_ISCHR(full.lstat().st_mode)


def test_metrics_into_a_fifo_reach_its_reader(tmp_path: Path) -> None:
    """--metrics on a FIFO with a reader: the reader gets the metrics and the FIFO stays (the
    run blocked for ever reading the FIFO for an earlier value)."""
    fifo = tmp_path / "m.prom"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as reader:
            received.append(reader.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        done = _child(*_reconcile("-o", str(tmp_path / "o.csv"), "--metrics", str(fifo)))
    finally:
        if reader.is_alive():  # free the thread when the run never opened the FIFO
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    reader.join(timeout=GUARD)
    assert done.returncode == 0, done.stderr
    assert received and b"followup_last_run_success 1.0" in received[0]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_metrics_to_dev_stdout_on_a_pipe(tmp_path: Path) -> None:
    """`--metrics /dev/stdout | cat`: the metrics come down the pipe (the run read its own
    standard output's pipe for an earlier value and hung)."""
    done = _child(*_reconcile("-o", str(tmp_path / "o.csv"), "--metrics", "/dev/stdout"))
    assert done.returncode == 0, done.stderr
    assert b"followup_last_run_success 1.0" in done.stdout
    assert os.path.islink("/dev/stdout")


def test_metrics_through_a_link_replace_the_file_it_names(invoke: Invoke, tmp_path: Path) -> None:
    """--metrics on a symbolic link: the file it names gets the metrics, the link stays (it
    was replaced by a regular file)."""
    real = tmp_path / "real.prom"
    real.write_text("followup_last_run_success 0\n")
    link = tmp_path / "m.prom"
    link.symlink_to(real.name)
    result = invoke(*_reconcile("-o", str(tmp_path / "o.csv"), "--metrics", str(link)))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == real.name
    assert "followup_last_run_success 1.0" in real.read_text()


def test_metrics_keep_the_owner_and_mode_of_the_file(invoke: Invoke, tmp_path: Path) -> None:
    """Root replacing another user's private metrics file keeps it theirs and private (it
    came back owned by root, mode 644)."""
    prom = tmp_path / "m.prom"
    prom.write_text("followup_last_run_success 0\n")
    os.chown(prom, 1234, 1234)
    prom.chmod(0o600)
    result = invoke(*_reconcile("-o", str(tmp_path / "o.csv"), "--metrics", str(prom)))
    assert result.exit_code == 0, result.output
    kept = prom.stat()
    assert (kept.st_uid, kept.st_gid, stat.S_IMODE(kept.st_mode)) == (1234, 1234, 0o600)
    assert "followup_last_run_success 1.0" in prom.read_text()


def test_a_metrics_file_too_big_to_be_ours_is_not_read_and_is_said(
    invoke: Invoke, tmp_path: Path
) -> None:
    """An earlier metrics file over the size cap is not read for its last success time: a
    warning says so, and the metrics are written."""
    prom = tmp_path / "m.prom"
    line = b"followup_last_success_timestamp_seconds 1.0\n"
    prom.write_bytes(line * (metrics.PREVIOUS_LIMIT // len(line) + 1))
    args = _reconcile("-o", str(tmp_path / "o.csv"), "--metrics", str(prom), quiet=False)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert f"larger than {metrics.PREVIOUS_LIMIT:,} bytes" in result.stderr
    assert prom.stat().st_size < 10_000


def test_an_unexpected_metrics_failure_keeps_the_reports_exit_code(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metrics that fail after the output and report were written (MemoryError, say) do not
    turn the exit code into 3: it stays the one the report gives (it said 0, the run 3)."""

    def out_of_memory(path: Path, document: object) -> list[str]:
        raise MemoryError

    monkeypatch.setattr(metrics, "write", out_of_memory)
    report = tmp_path / "r.json"
    args = _reconcile("-o", str(tmp_path / "o.csv"), "--report", str(report))
    result = invoke(*args, "--metrics", str(tmp_path / "m.prom"))
    assert result.exit_code == json.loads(report.read_text())["exit_code"] == 0, result.output
    assert "the output files were written, but the metrics was not" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("option", ["-o", "--rejects", "--changes", "--report", "--metrics"])
def test_a_fifo_nobody_reads_does_not_hang_the_run(tmp_path: Path, option: str) -> None:
    """Every path the run writes, as a FIFO with no reader: the run gives up after
    READER_WAIT_SECONDS (0.2 s here) with one sentence, instead of waiting for ever. Before
    the set lands that fails the run (exit 3, nothing replaced); after it (report, metrics)
    the exit code stays the reconciliation's."""
    data = tmp_path / "data"
    data.mkdir()
    for table in SAMPLE.iterdir():
        (data / table.name).write_bytes(table.read_bytes())
    with (data / "payments.csv").open("a") as payments:
        payments.write("P-BAD,C-7,2024-02-30,10.00,recurring\n")  # a row to reject: exit 1
    previous = tmp_path / "previous.csv"
    done = _child(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-06-30", "-q", "-o", str(previous)
    )
    assert done.returncode == 0, done.stderr
    paths = {
        "-o": tmp_path / "o.csv",
        "--rejects": tmp_path / "r.csv",
        "--changes": tmp_path / "c.csv",
        "--report": tmp_path / "run.json",
        "--metrics": tmp_path / "m.prom",
    }
    os.mkfifo(paths[option])
    args = ["reconcile", "--data", str(data), "--as-of", AS_OF, "-q", "--previous", str(previous)]
    for name, path in paths.items():
        args += [name, str(path)]
    script = (
        "import sys; from followup_cli.outputs import writing as output;"
        "output.READER_WAIT_SECONDS = 0.2;"
        "from followup_cli.cli.main import main; sys.argv = ['followup', *sys.argv[1:]]; main()"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            check=False,
            env=ENV,
            capture_output=True,
            timeout=GUARD,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{option} into a FIFO nobody reads hung the run")
    message = f"{paths[option]}: cannot be written (it is a FIFO nobody read from".encode()
    assert message in done.stderr, done.stderr
    assert done.stderr.count(b"Traceback") == 0
    assert stat.S_ISFIFO(paths[option].lstat().st_mode)
    if option in ("--report", "--metrics"):
        assert done.returncode == 1  # the reconciliation's: one row rejected
    else:
        assert done.returncode == 3
        assert not paths["-o"].is_file() or option == "-o"
        assert not list(tmp_path.glob(".*.part"))


def test_binary_output_to_a_terminal_is_refused(tmp_path: Path) -> None:
    """`-o - --format xlsx` with standard output on a terminal: exit 2 and one sentence, no
    zip bytes on the screen (they were written to it)."""
    primary, secondary = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "followup_cli", *_reconcile("-o", "-", "--format", "xlsx")],
            check=False,
            env=ENV,
            stdout=secondary,
            stderr=subprocess.PIPE,
            timeout=GUARD,
            cwd=tmp_path,
        )
        os.set_blocking(primary, False)
        try:
            shown = os.read(primary, 1 << 20)
        except BlockingIOError:
            shown = b""
    finally:
        os.close(primary)
        os.close(secondary)
    assert done.returncode == 2, done.stderr
    assert b"standard output is a terminal" in done.stderr
    assert done.stderr.count(b"\n") == 1
    assert b"PK" not in shown


def test_a_socket_as_output_is_a_usage_error_before_any_work(
    invoke: Invoke, tmp_path: Path
) -> None:
    """A Unix socket cannot be opened as a file: exit 2 before anything is read or written
    (it failed with exit 3 at the very end)."""
    path = tmp_path / "o.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        result = invoke(*_reconcile("-o", str(path), "--format", "csv"))
    finally:
        server.close()
    assert result.exit_code == 2, result.output
    assert "is a socket" in result.stderr
    assert not (tmp_path / "followup-rejects.csv").exists()


def test_output_to_dev_stdout_appended_to_a_file_has_no_checksum(tmp_path: Path) -> None:
    """-o /dev/stdout sent to a file with `>>`: the report gives no SHA-256 for it, since the
    file holds more than this run wrote (it gave the checksum of the whole file)."""
    captured = tmp_path / "captured.csv"
    captured.write_bytes(b"earlier\n")
    report = tmp_path / "r.json"
    args = _reconcile("-o", "/dev/stdout", "--report", str(report))
    with captured.open("ab") as sink:
        done = subprocess.run(
            [sys.executable, "-m", "followup_cli", *args],
            check=False,
            env=ENV,
            stdout=sink,
            stderr=subprocess.PIPE,
            timeout=GUARD,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    written = json.loads(report.read_text())["outputs"]
    assert [(o["kind"], o["sha256"]) for o in written] == [("output", None)]


def test_telling_a_rejects_file_reads_only_its_first_line(tmp_path: Path) -> None:
    """Whether the file at the rejects path is an earlier rejects file is judged by a few
    bytes: a large file with no line break is not read whole (it was, into memory)."""
    big = tmp_path / "o-rejects.csv"
    with big.open("wb") as sink:
        sink.write(",".join(REJECT_COLUMNS).encode() + b"x")
        sink.truncate(64 << 20)  # sparse: 64 MB of zeros, no line break
    tracemalloc.start()
    try:
        assert not destinations.is_rejects_file(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize("option", ["--report", "--metrics", "--changes", "--rejects"])
def test_no_record_of_the_run_replaces_the_previous_output_it_reads(
    tmp_path: Path, invoke: Invoke, option: str
) -> None:
    """--previous is an input of the run: a report, metrics, changes or rejects file naming it
    would overwrite last night's file with exit 0. Refused before any work (exit 2), the file
    unchanged. (-o naming it stays allowed: compare with last night's file, then replace it.)"""
    previous = tmp_path / "last-night.csv"
    assert invoke(*_reconcile("-o", str(previous))).exit_code == 0
    before = previous.read_bytes()
    result = invoke(
        *_reconcile(
            "-o", str(tmp_path / "out.csv"), "--previous", str(previous), option, str(previous)
        )
    )
    assert result.exit_code == 2, result.stderr
    assert str(previous) in result.stderr
    assert previous.read_bytes() == before
    assert not (tmp_path / "out.csv").exists()


def test_the_output_may_replace_the_previous_output_it_compares_with(
    tmp_path: Path, invoke: Invoke
) -> None:
    previous = tmp_path / "followup.csv"
    assert invoke(*_reconcile("-o", str(previous))).exit_code == 0
    result = invoke(*_reconcile("-o", str(previous), "--previous", str(previous)))
    assert result.exit_code == 0, result.stderr
