"""Writing a run's files (SPEC 6): as a set, never over a device, and nothing left when stopped.

Device nodes are made with mknod in the test's own folder (the same majors and minors as
/dev/null and /dev/full), so a regression renames over a scratch node and not over the
machine's /dev/null; only where mknod is refused do the tests use /dev itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import polars as pl
import pytest

import followup_cli
from followup_cli.core.errors import OutputError
from followup_cli.core.schema import REJECT_COLUMNS
from followup_cli.outputs import signals
from followup_cli.outputs.serialise import write_frame
from followup_cli.outputs.writing import write_atomically, write_together
from followup_cli.synthetic.generate import generate
from tests.conftest import SAMPLE

GOLDEN = Path(__file__).parent / "golden" / "sample_2024-07-31.csv"
SRC = Path(followup_cli.__file__).resolve().parent.parent
BAD_PAYMENT = "P-BAD,C-1,2024-07-01,not money,one-off\n"
REJECTS_HEADER = ",".join(REJECT_COLUMNS) + "\n"


def _device(folder: Path, name: str, minor: int) -> Path:
    """A character device like /dev/<name> (major 1), in `folder` where mknod is allowed."""
    node = folder / name
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except PermissionError:
        return Path("/dev") / name
    return node


def _is_char_device(path: Path) -> bool:
    return stat.S_ISCHR(os.stat(path).st_mode)


def _with_a_bad_row(folder: Path) -> Path:
    """sample_data plus one payment whose amount is not money: the run exits 1 with rejects."""
    shutil.copytree(SAMPLE, folder)
    with (folder / "payments.csv").open("a") as payments:
        payments.write(BAD_PAYMENT)
    return folder


def _reconcile(data: Path, *args: str) -> list[str]:
    return ["reconcile", "--data", str(data), "--as-of", "2024-07-31", "-q", *args]


def _write(text: bytes) -> Callable[[BinaryIO], None]:
    def fill(sink: BinaryIO) -> None:
        sink.write(text)

    return fill


# --- devices, FIFOs and standard output are written directly --------------------------------


def test_rejects_to_a_null_device_leave_the_device_a_device(tmp_path: Path, invoke) -> None:
    """--rejects /dev/null: the run exits 1 as usual and /dev/null is still a device."""
    null = _device(tmp_path, "null", 3)
    data = _with_a_bad_row(tmp_path / "data")
    result = invoke(*_reconcile(data, "-o", str(tmp_path / "out.csv"), "--rejects", str(null)))
    assert result.exit_code == 1, result.stderr
    assert _is_char_device(null)
    assert (tmp_path / "out.csv").read_text().startswith("customer_id,")
    assert not list(tmp_path.glob(".*"))


def test_output_to_a_null_device_needs_no_extension_and_stays_a_device(
    tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-o /dev/null: CSV as to standard output, exit 1, the device intact, and the rejects go
    to followup-rejects.csv in the working folder, not to a new file beside the device."""
    devices = tmp_path / "dev"
    devices.mkdir()
    null = _device(devices, "null", 3)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    data = _with_a_bad_row(tmp_path / "data")
    result = invoke(*_reconcile(data, "-o", str(null)))
    assert result.exit_code == 1, result.stderr
    assert _is_char_device(null)
    assert sorted(p.name for p in devices.iterdir()) == ["null"]
    assert (work / "followup-rejects.csv").read_text().startswith(REJECTS_HEADER)


def test_output_and_rejects_may_share_a_device(tmp_path: Path, invoke) -> None:
    """-o /dev/null --rejects /dev/null is not "the same file twice": both are thrown away."""
    null = _device(tmp_path, "null", 3)
    data = _with_a_bad_row(tmp_path / "data")
    result = invoke(*_reconcile(data, "-o", str(null), "--rejects", str(null)))
    assert result.exit_code == 1, result.stderr
    assert _is_char_device(null)


def test_a_full_device_is_exit_3_and_keeps_the_old_rejects_file(
    tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-o /dev/full: exit 3, one line naming the device and "No space left", no traceback;
    the device stays a device and the earlier rejects file (the set did not land) stays."""
    full = _device(tmp_path, "full", 7)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    stale = work / "followup-rejects.csv"
    stale.write_text(REJECTS_HEADER + "an earlier run's row,old\n")
    result = invoke(*_reconcile(SAMPLE, "-o", str(full), "--format", "csv"))
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    assert str(full) in result.stderr and "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert _is_char_device(full)
    assert stale.read_text().endswith(",old\n")
    assert sorted(p.name for p in work.iterdir()) == ["followup-rejects.csv"]


def test_a_fifo_gets_the_data_and_stays_a_fifo(tmp_path: Path, invoke) -> None:
    """-o into a FIFO: the reader at its other end gets the golden rows; the FIFO remains."""
    fifo = tmp_path / "live.csv"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as reader:
            received.append(reader.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    result = invoke(*_reconcile(SAMPLE, "-o", str(fifo)))
    reader.join(timeout=10)
    assert result.exit_code == 0, result.stderr
    assert received == [GOLDEN.read_bytes()]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.parametrize("stdout_is", ["a pipe", "a file opened with >>"])
def test_dev_stdout_is_written_to_not_replaced(tmp_path: Path, stdout_is: str) -> None:
    """-o /dev/stdout: the rows reach standard output (appended to a file, as >> asked) and
    /dev/stdout is still the link it was, whatever standard output is."""
    rejects = tmp_path / "rejects.csv"
    args = [sys.executable, "-m", "followup_cli", *_reconcile(SAMPLE, "-o", "/dev/stdout")]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    if stdout_is == "a pipe":
        done = subprocess.run(args, capture_output=True, env=env, check=False, timeout=60)
        written = done.stdout
    else:
        captured = tmp_path / "captured.csv"
        captured.write_bytes(b"earlier\n")
        with captured.open("ab") as sink:
            done = subprocess.run(args, stdout=sink, stderr=subprocess.PIPE, env=env, check=False)
        written = captured.read_bytes().removeprefix(b"earlier\n")
    assert done.returncode == 0, done.stderr
    assert written == GOLDEN.read_bytes()
    assert os.path.islink("/dev/stdout")
    assert not rejects.exists()


def test_nothing_reaches_a_fifo_when_another_file_of_the_set_fails(tmp_path: Path) -> None:
    """A special file is written only after every regular file of the set is complete."""
    fifo = tmp_path / "live.csv"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(OutputError, match="nowhere"):
            write_together(
                [(fifo, _write(b"rows\n")), (tmp_path / "nowhere" / "r.csv", _write(b"r\n"))]
            )
        assert os.read(reader, 100) == b""  # no writer ever opened it
    finally:
        os.close(reader)


# --- the set lands whole or not at all ---------------------------------------------------------


def test_an_unwritable_rejects_folder_leaves_yesterdays_output(tmp_path: Path, invoke) -> None:
    """Rejects that cannot be written (a folder even root cannot write in): exit 2 before any
    work, the output keeps yesterday's bytes, and no temporary file is left beside it."""
    out = tmp_path / "out.csv"
    out.write_bytes(b"yesterday\n")
    data = _with_a_bad_row(tmp_path / "data")
    result = invoke(*_reconcile(data, "-o", str(out), "--rejects", "/proc/self/rejects.csv"))
    assert result.exit_code == 2
    assert "--rejects /proc/self/rejects.csv: the folder /proc/self cannot be written" in (
        result.stderr
    )
    assert out.read_bytes() == b"yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out.csv"]


def test_a_failure_half_way_through_the_renames_puts_the_first_file_back(tmp_path: Path) -> None:
    """If the second rename fails (its target turned into a folder), the first file already
    renamed gets yesterday's bytes back, the error names the second, and nothing is left."""
    first, second = tmp_path / "out.csv", tmp_path / "out-rejects.csv"
    first.write_bytes(b"yesterday\n")

    def fill_then_block_the_second(sink: BinaryIO) -> None:
        sink.write(b"changes\n")
        second.mkdir()

    with pytest.raises(OutputError, match=r"out-rejects\.csv: cannot be written"):
        write_together(
            [
                (first, _write(b"today\n")),
                (second, _write(b"rejects\n")),
                (tmp_path / "changes.csv", fill_then_block_the_second),
            ]
        )
    assert first.read_bytes() == b"yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-rejects.csv", "out.csv"]


def _no_hard_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the kernel's protected_hardlinks does for another user's file (or a file system
    without hard links): every link refused."""

    def refused(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refused)


def test_without_hard_links_a_failed_set_still_puts_yesterdays_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where yesterday's output could not be hard-linked aside, a later file of the set that
    failed to land made the undo remove the output (yesterday's list gone, and the message
    said no file was changed). It is moved aside just before its replacement now, and put
    back, with its bytes and mode."""
    first, second = tmp_path / "out.csv", tmp_path / "out-rejects.csv"
    first.write_bytes(b"yesterday\n")
    first.chmod(0o640)
    _no_hard_links(monkeypatch)
    real_replace = os.replace

    def second_refused(source: object, target: object) -> None:
        if Path(str(target)) == second.resolve():
            raise PermissionError(1, "Operation not permitted")  # a sticky folder's file
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", second_refused)
    with pytest.raises(OutputError, match=r"out-rejects\.csv: cannot be written"):
        write_together([(first, _write(b"today\n")), (second, _write(b"rejects\n"))])
    assert first.read_bytes() == b"yesterday\n"
    assert stat.S_IMODE(first.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_without_hard_links_a_set_still_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No link for any previous file (a file system without them): the set is written, the
    previous files replaced, and no spare file is left."""
    first, second = tmp_path / "out.csv", tmp_path / "out-rejects.csv"
    first.write_bytes(b"yesterday\n")
    second.write_bytes(b"old rejects\n")
    _no_hard_links(monkeypatch)
    write_together([(first, _write(b"today\n")), (second, _write(b"rejects\n"))])
    assert (first.read_bytes(), second.read_bytes()) == (b"today\n", b"rejects\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-rejects.csv", "out.csv"]


def test_a_previous_file_that_cannot_be_moved_aside_fails_the_set_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No link, and the second file cannot be moved aside either: the set fails naming it,
    the first file (already replaced) gets yesterday's bytes back, the second is untouched."""
    first, second = tmp_path / "out.csv", tmp_path / "out-rejects.csv"
    first.write_bytes(b"yesterday\n")
    second.write_bytes(b"old rejects\n")
    _no_hard_links(monkeypatch)
    real_replace = os.replace

    def aside_refused(source: object, target: object) -> None:
        if Path(str(source)) == second.resolve() and ".previous" in str(target):
            raise PermissionError(1, "Operation not permitted")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", aside_refused)
    with pytest.raises(OutputError, match=r"out-rejects\.csv: cannot be written"):
        write_together([(first, _write(b"today\n")), (second, _write(b"rejects\n"))])
    assert first.read_bytes() == b"yesterday\n"
    assert second.read_bytes() == b"old rejects\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-rejects.csv", "out.csv"]


def test_files_to_remove_go_only_with_the_set(tmp_path: Path) -> None:
    """`remove` takes effect when the set lands, and not when it fails."""
    stale = tmp_path / "old-rejects.csv"
    stale.write_text(REJECTS_HEADER)
    with pytest.raises(OutputError):
        write_together([(tmp_path / "no" / "out.csv", _write(b"x"))], remove=[stale])
    assert stale.exists()
    write_together([(tmp_path / "out.csv", _write(b"x"))], remove=[stale])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_replaced_file_keeps_its_owner_and_mode(tmp_path: Path) -> None:
    """Root replacing the gym user's 0640 file leaves it theirs and 0640, as `>` would."""
    target = tmp_path / "out.csv"
    target.write_bytes(b"yesterday\n")
    os.chown(target, 1234, 2345)
    target.chmod(0o640)
    write_atomically(target, _write(b"today\n"))
    status = target.stat()
    assert (status.st_uid, status.st_gid, status.st_mode & 0o7777) == (1234, 2345, 0o640)
    assert target.read_bytes() == b"today\n"


def test_a_link_to_a_file_stays_a_link(tmp_path: Path) -> None:
    """-o through a symbolic link replaces the file it points at and keeps the link."""
    real = tmp_path / "2024-07-31.csv"
    real.write_bytes(b"yesterday\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(real.name)
    write_atomically(link, _write(b"today\n"))
    assert link.is_symlink()
    assert real.read_bytes() == b"today\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-07-31.csv", "latest.csv"]


# --- signals -----------------------------------------------------------------------------------


@pytest.fixture
def restore_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in signals.HANDLED}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("restore_handlers")
def test_a_signal_during_a_set_removes_every_temporary_file(tmp_path: Path) -> None:
    """SIGTERM while the second file is written: Interrupted (exit 143), yesterday's first
    file untouched, no temporary file, and the handlers that were there before are back."""
    first = tmp_path / "out.csv"
    first.write_bytes(b"yesterday\n")
    before = signal.getsignal(signal.SIGTERM)

    def half_then_terminated(sink: BinaryIO) -> None:
        sink.write(b"customer_id\n")
        os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(signals.Interrupted) as caught, signals.handled():
        write_together([(first, _write(b"today\n")), (tmp_path / "r.csv", half_then_terminated)])
    assert caught.value.exit_code == 143
    assert str(caught.value) == "interrupted by SIGTERM; no partial file was left"
    assert first.read_bytes() == b"yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.usefixtures("restore_handlers")
def test_a_signal_while_files_are_renamed_waits_until_the_set_is_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGHUP between the first and the second rename: the set is completed (never half of
    it). The set landing is the commit point (issue 18), so the signal is only noted: the run
    is not stopped and the signal is reported once as late."""
    first, second = tmp_path / "out.csv", tmp_path / "out-rejects.csv"
    first.write_bytes(b"yesterday\n")
    real_replace = os.replace

    def replace_then_hang_up(source: str | Path, target: str | Path) -> None:
        real_replace(source, target)
        if Path(target) == first:
            os.kill(os.getpid(), signal.SIGHUP)

    monkeypatch.setattr(os, "replace", replace_then_hang_up)
    with signals.handled():
        write_together([(first, _write(b"today\n")), (second, _write(b"rejects\n"))])
        assert signals.late_signal() == signal.SIGHUP
        assert signals.late_signal() is None
    assert (first.read_bytes(), second.read_bytes()) == (b"today\n", b"rejects\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-rejects.csv", "out.csv"]


@pytest.mark.usefixtures("restore_handlers")
def test_an_ignored_hangup_stays_ignored() -> None:
    """Under nohup SIGHUP is ignored, and the run must not end when the terminal closes."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with signals.handled():
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_while_python_shuts_down_leaves_the_runs_exit_code(
    tmp_path: Path, signum: int
) -> None:
    """Once the command has ended, Python puts the default action back for its handlers while
    the interpreter shuts down, so a signal then (cron's timeout at the very end) ended a run
    whose files and report were written with 128 + signum. The signal is sent here by an
    object the interpreter lets go only then (one kept in builtins, cleared after Python's
    signal handlers are), after main() has decided exit 1 (the sample with a broken row)."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    with (data / "payments.csv").open("a") as handle:
        handle.write(BAD_PAYMENT)
    script = textwrap.dedent(
        f"""
        import builtins, os, sys

        class Late:
            def __del__(self):
                os.kill(os.getpid(), {int(signum)})

        builtins.late_signal = Late()
        from followup_cli.cli.main import main
        sys.argv = ['followup', *sys.argv[1:]]
        main()
        """
    )
    args = ["reconcile", "--data", str(data), "--as-of", "2024-07-31", "-q"]
    args += ["-o", str(tmp_path / "out.csv"), "--report", str(tmp_path / "report.json")]
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, check=False, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stderr
    assert (tmp_path / "out.csv").read_bytes()


def test_an_ignored_interrupt_stays_ignored_after_polars_puts_its_own_handler_in() -> None:
    """A parent that ignores SIGINT (a script's `cmd &`) must see it ignored for the whole run.
    Importing Polars installs a native SIGINT handler that Python does not see (getsignal still
    says SIG_IGN), so the kernel's own view of the process is what is checked here."""
    child = textwrap.dedent(
        """
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        import polars  # its native handler replaces the ignore behind Python's back
        from followup_cli.outputs import signals

        def ignored():
            status = dict(
                line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines()
            )
            return bool(int(status["SigIgn"], 16) >> (signal.SIGINT - 1) & 1)

        before = ignored()
        with signals.handled():
            during = ignored()
        print(before, during, ignored())
        """
    )
    found = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True
    ).stdout.split()
    # Polars' handler took the place of the ignore; the command ignores the signal again, and
    # leaves it ignored as the parent asked.
    assert found == ["False", "True", "True"]


def test_ctrl_c_without_a_handler_is_exit_130_without_a_traceback(
    invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt that reaches the command is exit 130 and one line, not "Aborted!"."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("followup_cli.job.nightly.run", interrupted)
    result = invoke(*_reconcile(SAMPLE))
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 generated customers and one bad payment, so a rejects file is written."""
    folder = tmp_path_factory.mktemp("export")
    generate(20_000, folder, fmt="csv")
    with (folder / "payments.csv").open("a") as payments:
        payments.write(BAD_PAYMENT)
    return folder


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
)
def test_a_run_stopped_while_writing_leaves_yesterdays_files(
    tmp_path: Path, big_export: Path, signum: int, exit_code: int
) -> None:
    """The real command, stopped by a signal while it writes: 128 + the signal, one line and
    no traceback, yesterday's output byte for byte, and no temporary file in the folder.

    The rejects go to a FIFO nobody reads, so the run holds at the point where the output's
    temporary file exists and waits to open the FIFO: the signal always lands while the set is
    being written, whether it comes during the output's temporary file or at the FIFO.
    """
    out = tmp_path / "followup.csv"
    out.write_bytes(b"yesterday\n")
    fifo = tmp_path / "rejects.csv"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "followup_cli", *_reconcile(big_export, "-o", str(out))]
    process = subprocess.Popen(
        [*command, "--rejects", str(fifo)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".followup.csv.*.part")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.002)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == exit_code, stderr
    assert f"interrupted by {signal.Signals(signum).name}".encode() in stderr
    assert b"Traceback" not in stderr
    assert out.read_bytes() == b"yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["followup.csv", "rejects.csv"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_parquet_output_bytes_do_not_depend_on_how_the_rows_are_chunked(tmp_path: Path) -> None:
    """SPEC 5: the same rows give the same Parquet bytes, however the engine happened to cut
    the frame into chunks (Polars cuts pages at chunk boundaries)."""
    rows = 100_000
    frame = pl.DataFrame({"customer_id": [f"C-{i}" for i in range(rows)], "n": range(rows)})
    cut = pl.concat([frame.slice(0, rows // 3), frame.slice(rows // 3)], rechunk=False)
    assert cut.n_chunks() == 2
    write_frame(frame, tmp_path / "one.parquet", "parquet")
    write_frame(cut, tmp_path / "two.parquet", "parquet")
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "two.parquet").read_bytes()
