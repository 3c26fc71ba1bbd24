"""The history folder kept safe (SPEC 8): nothing written into a snapshot, a broken snapshot
named, one run at a time, and a snapshot always in place while it is replaced."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from followup_cli.nightly import history, snapshot_folder
from followup_cli.nightly.changes import changes
from followup_cli.outputs import signals
from followup_cli.synthetic.generate import generate

DAY1, DAY2, DAY3 = "2024-07-29", "2024-07-30", "2024-07-31"
Invoke = Callable[..., Any]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate(120, folder, seed=5, fmt="csv")
    return folder


def nightly(invoke: Invoke, data: Path, work: Path, as_of: str, *extra: str) -> Any:
    """One run with `work/history`; its output beside it unless `extra` says otherwise."""
    output = [] if "-o" in extra else ["-o", str(work / f"out-{as_of}.csv")]
    return invoke(
        "reconcile",
        "--data",
        str(data),
        "--as-of",
        as_of,
        *output,
        "--history",
        str(work / "history"),
        *extra,
    )


@pytest.fixture
def stored(invoke: Invoke, generated: Path, tmp_path: Path) -> Path:
    """A history of three nights, DAY1 to DAY3."""
    for day in (DAY1, DAY2, DAY3):
        result = nightly(invoke, generated, tmp_path, day)
        assert result.exit_code == 0, result.stderr
    return tmp_path / "history"


def snapshot(folder: Path, day: str) -> Path:
    return folder / f"as_of={day}" / "followup.parquet"


def everything_in(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links followed) and its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("command", ["changes", "history"])
def test_changes_and_history_refuse_to_write_over_a_snapshot(
    invoke: Invoke, stored: Path, command: str
) -> None:
    """`-o DIR/as_of=.../followup.parquet` is exit 2 and the snapshot is untouched."""
    before = everything_in(stored)
    target = snapshot(stored, DAY2)
    person = pl.read_parquet(target)["customer_id"][0]
    args = (
        ["--history", str(stored)] if command == "changes" else [person, "--history", str(stored)]
    )
    result = invoke(command, *args, "-o", str(target))
    assert result.exit_code == 2, result.stderr
    assert f"--output {target} is inside {target.parent}" in result.stderr
    assert everything_in(stored) == before
    # The history still compares.
    assert invoke("changes", "--history", str(stored)).exit_code == 0


@pytest.mark.parametrize("option", ["-o", "--rejects", "--changes", "--report", "--metrics"])
def test_reconcile_refuses_any_file_inside_the_snapshot_it_replaces(
    invoke: Invoke, generated: Path, stored: Path, tmp_path: Path, option: str
) -> None:
    """A rerun would swap the folder away with the file it just wrote there: exit 2, nothing
    read or written."""
    before = everything_in(tmp_path)
    inside = stored / f"as_of={DAY3}" / ("out.csv" if option != "--report" else "run.json")
    result = nightly(invoke, generated, tmp_path, DAY3, option, str(inside))
    assert result.exit_code == 2, result.stderr
    named = "--output" if option == "-o" else option
    assert f"{named} {inside} is inside {inside.parent}" in result.stderr
    assert everything_in(tmp_path) == before


def test_reconcile_refuses_an_output_in_the_folder_a_snapshot_link_points_to(
    invoke: Invoke, generated: Path, stored: Path, tmp_path: Path
) -> None:
    """An as_of= folder that is a link counts as the snapshot: its target is refused too."""
    elsewhere = tmp_path / "elsewhere"
    shutil.move(stored / f"as_of={DAY3}", elsewhere)
    (stored / f"as_of={DAY3}").symlink_to(elsewhere, target_is_directory=True)
    before = everything_in(tmp_path)
    result = nightly(invoke, generated, tmp_path, DAY3, "-o", str(elsewhere / "out.csv"))
    assert result.exit_code == 2, result.stderr
    assert "is inside" in result.stderr
    assert everything_in(tmp_path) == before


@pytest.mark.parametrize("option", ["--report", "--metrics", "-o"])
def test_a_file_named_as_the_history_folder_is_refused(
    invoke: Invoke, generated: Path, tmp_path: Path, option: str
) -> None:
    """`--report runs --history runs` (runs not made yet) is exit 2 at once, not a report or
    a history that is never written."""
    folder = tmp_path / "runs"
    result = invoke(
        "reconcile",
        "--data",
        str(generated),
        "--as-of",
        DAY3,
        *(["--format", "csv"] if option == "-o" else ["-o", str(tmp_path / "out.csv")]),
        "--history",
        str(folder),
        option,
        str(folder),
    )
    assert result.exit_code == 2, result.stderr
    named = "--output" if option == "-o" else option
    assert f"{named} {folder} is the --history folder" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _foreign_changes(path: Path) -> None:
    """What `followup changes -o` wrote there before it was refused (issue 18, item 5)."""
    frame = pl.read_parquet(path)
    previous = frame.head(3).with_columns(pl.lit("Lead").alias("follow_up_status"))
    changes(previous, frame, dt.date(2024, 7, 29), dt.date(2024, 7, 30)).write_parquet(path)


def _garbage(path: Path) -> None:
    path.write_bytes(b"not parquet at all\n" * 50)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damaged_pages(path: Path) -> None:
    """The footer intact, the data after the magic bytes overwritten: found only on reading."""
    data = bytearray(path.read_bytes())
    data[8 : len(data) // 3] = b"\xff" * (len(data) // 3 - 8)
    path.write_bytes(bytes(data))


def _numeric_ids(path: Path) -> None:
    frame = pl.read_parquet(path)
    frame.with_columns(pl.int_range(pl.len()).alias("customer_id")).write_parquet(path)


def _no_name(path: Path) -> None:
    pl.read_parquet(path).drop("name").write_parquet(path)


BREAKAGES = [_foreign_changes, _garbage, _truncated, _damaged_pages, _numeric_ids, _no_name]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("command", ["changes", "history"])
def test_a_broken_snapshot_is_a_sentence_naming_it(
    invoke: Invoke, stored: Path, breakage: Callable[[Path], None], command: str
) -> None:
    """A snapshot overwritten, cut short or from another tool: exit 3 naming the file, never
    "internal error" with a query plan."""
    broken = snapshot(stored, DAY2)
    person = pl.read_parquet(broken)["customer_id"][0]
    breakage(broken)
    args = (
        ["--history", str(stored), "--from", DAY2]
        if command == "changes"
        else [person, "--history", str(stored)]
    )
    result = invoke(command, *args)
    assert result.exit_code == 3, result.stderr
    assert result.stderr.startswith(f"followup: error: {broken}: ")
    assert "internal error" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _numeric_statuses(path: Path) -> None:
    frame = pl.read_parquet(path)
    frame.with_columns(pl.int_range(pl.len()).alias("follow_up_status")).write_parquet(path)


@pytest.mark.parametrize(
    "breakage", [_numeric_ids, _numeric_statuses], ids=["numeric_ids", "numeric_statuses"]
)
def test_reconcile_names_a_foreign_previous_snapshot(
    invoke: Invoke, generated: Path, stored: Path, tmp_path: Path, breakage: Callable[[Path], None]
) -> None:
    """The snapshot compared with has the columns' names but not what they hold: exit 3 naming
    it, not an internal error."""
    broken = snapshot(stored, DAY3)
    breakage(broken)
    result = nightly(invoke, generated, tmp_path, "2024-08-01")
    assert result.exit_code == 3, result.stderr
    assert f"{broken}: not a followup output" in result.stderr
    assert "internal error" not in result.stderr


HOLDER = """
import sys
from pathlib import Path
from followup_cli.nightly import history, snapshot_folder
with history.locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_history_in_use_by_another_run_is_refused(
    invoke: Invoke, generated: Path, stored: Path, tmp_path: Path
) -> None:
    """A second run on one history is exit 3 naming the first one's pid, and reads and
    writes nothing; once the first has ended, runs go on and no lock file is left."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(stored)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        before = everything_in(tmp_path)
        result = nightly(invoke, generated, tmp_path, "2024-08-01")
        assert result.exit_code == 3, result.stderr
        assert f"--history {stored} is in use by another run (pid {holder.pid})" in result.stderr
        assert everything_in(tmp_path) == before
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert nightly(invoke, generated, tmp_path, "2024-08-01").exit_code == 0
    assert sorted(p.name for p in stored.iterdir()) == [
        f"as_of={day}" for day in (DAY1, DAY2, DAY3, "2024-08-01")
    ]


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two_renames"])
def test_a_signal_during_the_swap_leaves_a_snapshot_in_place(
    stored: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    """SIGTERM right after any rename of the swap: the old snapshot or the new one is there,
    whole, and no staging folder is left."""
    if not exchange:
        monkeypatch.setattr(snapshot_folder, "_RENAMEAT2", None, raising=False)
    old = snapshot(stored, DAY3).read_bytes()
    real_rename = os.rename

    def rename_then_signal(source: Any, destination: Any) -> None:
        real_rename(source, destination)
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(os, "rename", rename_then_signal)
    new_rows = pl.DataFrame({"customer_id": ["C-NEW"]})
    # With the two renames, the signal held back during them is raised once they are done.
    with signals.handled(), contextlib.suppress(signals.Interrupted):
        history.store(stored, dt.date.fromisoformat(DAY3), new_rows, b"{}")
    monkeypatch.setattr(os, "rename", real_rename)
    in_place = snapshot(stored, DAY3)
    assert in_place.is_file()
    assert in_place.read_bytes() == old or pl.read_parquet(in_place).equals(new_rows)
    assert sorted(p.name for p in stored.iterdir()) == [f"as_of={d}" for d in (DAY1, DAY2, DAY3)]


KILLED = """
import datetime as dt, os, signal, sys
from pathlib import Path
import polars as pl
from followup_cli.nightly import history, snapshot_folder
snapshot_folder._RENAMEAT2 = None  # the two renames, as on a file system without the exchange
real = os.rename
def rename(source, destination):
    real(source, destination)
    if Path(source).name.startswith("as_of="):  # the old snapshot has just been moved aside
        os.kill(os.getpid(), signal.SIGKILL)
os.rename = rename
folder = Path(sys.argv[1])
history.store(folder, dt.date.fromisoformat(sys.argv[2]), pl.DataFrame({"x": [1]}), b"{}")
"""


def test_the_next_run_puts_back_a_snapshot_a_killed_run_moved_aside(
    invoke: Invoke, generated: Path, stored: Path, tmp_path: Path
) -> None:
    """A run killed between the two renames left no as_of=DAY3: the next run restores it and
    clears the staging folder."""
    old = everything_in(stored / f"as_of={DAY3}")
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED), str(stored), DAY3],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if (stored / f"as_of={DAY3}").exists():
        pytest.fail("the killed run was meant to stop between the renames")
    result = nightly(invoke, generated, tmp_path, "2024-08-01")
    assert result.exit_code == 0, result.stderr
    assert everything_in(stored / f"as_of={DAY3}") == old
    assert sorted(p.name for p in stored.iterdir()) == [
        f"as_of={day}" for day in (DAY1, DAY2, DAY3, "2024-08-01")
    ]


def test_a_snapshot_folder_that_is_a_link_is_replaced_by_the_new_folder(
    invoke: Invoke, generated: Path, stored: Path, tmp_path: Path
) -> None:
    """A rerun replaces the link itself; the folder it pointed to is left as it was, and no
    stale link stays behind in the history."""
    elsewhere = tmp_path / "elsewhere"
    shutil.move(stored / f"as_of={DAY3}", elsewhere)
    (stored / f"as_of={DAY3}").symlink_to(elsewhere, target_is_directory=True)
    kept = everything_in(elsewhere)
    result = nightly(invoke, generated, tmp_path, DAY3)
    assert result.exit_code == 0, result.stderr
    replaced = stored / f"as_of={DAY3}"
    assert replaced.is_dir() and not replaced.is_symlink()
    assert (replaced / "followup.parquet").is_file()
    assert everything_in(elsewhere) == kept
    assert sorted(p.name for p in stored.iterdir()) == [f"as_of={d}" for d in (DAY1, DAY2, DAY3)]
