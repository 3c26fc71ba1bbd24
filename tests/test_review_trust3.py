"""Review, trust round three: the files a run writes that are new this round (a backfill's
dated files, --split-by's club files) are checked as -o is: none may lie in a snapshot folder
of --history (a link there overwrote a later night's snapshot, exit 0, and every later run
then failed), and none may be the run's report or metrics file (the report replaced the
backfill's output with exit 0, or a refused run's report replaced a club's earlier list)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from followup_cli.synthetic.generate import generate

PEOPLE = 300


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trust3") / "exports"
    generate(PEOPLE, folder, seed=3, fmt="csv")
    return folder


def _followup(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "followup_cli", *args, "-q"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _night(cwd: Path, exports: Path, as_of: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _followup(
        cwd, "reconcile", "--data", str(exports), "--as-of", as_of, "--history", "h", *args
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_backfill_dated_output_linked_into_a_later_snapshot_is_refused(
    tmp_path: Path, exports: Path
) -> None:
    assert _night(tmp_path, exports, "2024-07-31", "-o", "followup.csv").returncode == 0
    snapshot = tmp_path / "h" / "as_of=2024-07-31" / "followup.parquet"
    before = _digest(snapshot)
    (tmp_path / "followup-2024-07-29.csv").symlink_to("h/as_of=2024-07-31/followup.parquet")
    done = _night(tmp_path, exports, "2024-07-29", "-o", "followup.csv")
    assert done.returncode == 2, done.stderr
    assert "inside h/as_of=2024-07-31" in done.stderr
    assert _digest(snapshot) == before
    later = _night(tmp_path, exports, "2024-08-01", "-o", "followup.csv")
    assert later.returncode == 0, later.stderr


@pytest.mark.parametrize("option", ["--report", "--metrics"])
def test_backfill_dated_output_that_is_the_report_is_refused(
    tmp_path: Path, exports: Path, option: str
) -> None:
    assert _night(tmp_path, exports, "2024-07-31", "-o", "followup.csv").returncode == 0
    dated = tmp_path / "followup-2024-07-29.csv"
    dated.write_text("an earlier backfill's lists\n")
    done = _night(tmp_path, exports, "2024-07-29", "-o", "followup.csv", option, dated.name)
    assert done.returncode == 2, done.stderr
    assert f"{option} followup-2024-07-29.csv is also the --output file" in done.stderr
    assert dated.read_text() == "an earlier backfill's lists\n"


def test_club_file_linked_into_a_snapshot_is_refused(tmp_path: Path, exports: Path) -> None:
    assert _night(tmp_path, exports, "2024-07-31", "-o", "followup.csv").returncode == 0
    snapshot = tmp_path / "h" / "as_of=2024-07-31" / "followup.parquet"
    before = _digest(snapshot)
    (tmp_path / "lists-Downtown.csv").symlink_to("h/as_of=2024-07-31/followup.parquet")
    done = _night(tmp_path, exports, "2024-08-01", "-o", "lists.csv", "--split-by", "home_club")
    assert done.returncode == 2, done.stderr
    assert "--split-by lists-Downtown.csv is inside h/as_of=2024-07-31" in done.stderr
    assert _digest(snapshot) == before
    assert not (tmp_path / "lists-Riverside.csv").exists()
    later = _night(tmp_path, exports, "2024-08-02", "-o", "followup.csv")
    assert later.returncode == 0, later.stderr


@pytest.mark.parametrize("option", ["--report", "--metrics"])
def test_club_file_that_is_the_report_keeps_the_earlier_list(
    tmp_path: Path, exports: Path, option: str
) -> None:
    club = tmp_path / "lists-Downtown.csv"
    club.write_text("yesterday's Downtown list\n")
    done = _followup(
        tmp_path,
        "reconcile",
        "--data",
        str(exports),
        "--as-of",
        "2024-07-31",
        "-o",
        "lists.csv",
        "--split-by",
        "home_club",
        option,
        club.name,
    )
    assert done.returncode == 2, done.stderr
    assert "is also the run's report or metrics file" in done.stderr
    assert club.read_text() == "yesterday's Downtown list\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lists-Downtown.csv"]


@pytest.mark.parametrize("command", [["init"], ["show"], ["check", "rules.toml"]])
def test_rules_commands_on_a_full_disk_say_so_in_one_sentence(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "rules.toml").write_bytes(
        subprocess.run(
            [sys.executable, "-m", "followup_cli", "rules", "init"],
            capture_output=True,
            check=True,
        ).stdout
    )
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "followup_cli", "rules", *command],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 3
    assert done.stderr == (
        "followup: error: standard output cannot be written (No space left on device)\n"
    )
