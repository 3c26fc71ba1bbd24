"""The tool's own stored state, damaged or odd as real operations leave it (a fresh-eyes hunt
over `changes`, `history`, `trends` and the night before, round five).

A history folder, its snapshots and the run reports beside them are followup's own files, but
a person can chmod them, edit them, point options into them or keep years of them. Each test
below failed before its fix: an internal error, a comparison with a file that held only part
of the people, a date taken from the wrong name, or a cost that grew with the square of the
nights.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from followup_cli.nightly import history as snapshots
from followup_cli.nightly import stored_nights
from tests.conftest import SAMPLE

Invoke = Callable[..., Any]


def _night(invoke: Invoke, history: Path, day: str, *options: str) -> Any:
    out = history.parent / f"out-{day}.csv"
    result = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", day, "-q", "-o", str(out),
        "--history", str(history), *options,
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    return result


def _said(result: Any) -> str:
    for bad in ("internal error", "Traceback", "PanicException"):
        assert bad not in result.output, result.output
    return " ".join(result.output.split())


def test_a_snapshot_folder_that_cannot_be_read_is_named(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot folder the user may not enter (chmod 000, another owner) made every command
    reading the history an internal error (PermissionError). It is now one sentence naming
    the folder, exit 3, for the nightly run and the three commands alike."""
    history = tmp_path / "H"
    for day in ("2024-07-20", "2024-07-31"):
        _night(invoke, history, day)
    locked = history / "as_of=2024-07-31" / snapshots.SNAPSHOT_FILE
    is_file = Path.is_file

    def refused(path: Path) -> bool:  # what a folder without the x bit does to a non-root user
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", refused)
    for command in (
        ("changes", "--history", str(history)),
        ("history", "C-5", "--history", str(history)),
        ("trends", "--history", str(history)),
        ("reconcile", "--data", str(SAMPLE), "--as-of", "2024-08-05", "-q", "-o",
         str(tmp_path / "o.csv"), "--history", str(history)),
    ):  # fmt: skip
        result = invoke(*command)
        assert result.exit_code == 3, (command, result.output)
        said = _said(result)
        assert f"{history / 'as_of=2024-07-31'}: cannot be read (Permission denied)" in said


def test_one_file_of_a_split_run_is_no_previous_output(invoke: Invoke, tmp_path: Path) -> None:
    """`--previous prev/lists-web.csv`, one club's file of a `--split-by` run: compared as a
    whole output, everyone in the other files was reported new (exit 0). Its run report says
    it was split, as it says --status, and the comparison is refused (exit 2)."""
    prev = tmp_path / "prev"
    prev.mkdir()
    made = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-07-20", "-q",
        "-o", str(prev / "lists.csv"), "--split-by", "origin",
        "--report", str(prev / "report.json"),
    )  # fmt: skip
    assert made.exit_code in (0, 1), made.output
    one = prev / "lists-web.csv"
    assert one.is_file()
    out = tmp_path / "tonight.csv"
    result = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-07-31", "-q", "-o", str(out),
        "--previous", str(one),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "holds only the people of one value of --split-by origin" in _said(result)
    assert not out.exists()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda r: r["inputs"][0].update(table=["customers"]), id="table-a-list"),
        pytest.param(lambda r: r["inputs"][0].update(rows_read=10**400), id="count-400-digits"),
        pytest.param(lambda r: r["outputs"][0].update(sha256=["x"]), id="digest-a-list"),
        pytest.param(None, id="nested-100000-deep"),
    ],
)
def test_an_edited_run_report_beside_the_night_before_is_not_trusted(
    invoke: Invoke, tmp_path: Path, damage: Callable[[dict[str, Any]], None] | None
) -> None:
    """The run report stored beside the night before, edited into shapes no run writes, made
    the next night (and `followup trends`) an internal error: a list where a table's name
    goes, a count of 400 digits, a list where a digest goes, a JSON document nested 100,000
    deep. Such a report is now not trusted: the nights run and the trends are counted."""
    history = tmp_path / "H"
    _night(invoke, history, "2024-07-30", "--status", "Active Customer")
    report = history / "as_of=2024-07-30" / snapshots.REPORT_FILE
    if damage is None:
        report.write_text("[" * 100_000 + "]" * 100_000)
    else:
        document = json.loads(report.read_text())
        damage(document)
        report.write_text(json.dumps(document))
    _said(_night(invoke, history, "2024-07-31"))
    beside = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-08-01", "-q",
        "-o", str(tmp_path / "b.csv"),
        "--previous", str(history / "as_of=2024-07-30" / snapshots.SNAPSHOT_FILE),
    )  # fmt: skip
    assert beside.exit_code in (0, 1), _said(beside)
    trends = invoke("trends", "--history", str(history))
    assert trends.exit_code == 0, _said(trends)


@pytest.mark.parametrize(
    ("path", "day"),
    [
        ("backup-2024-08-01/followup-2024-07-20.csv", "2024-07-20"),
        ("H/as_of=2024-07-31/followup.parquet", "2024-07-31"),
        ("nights/2024-07-30/followup.csv", "2024-07-30"),
        ("as_of=2024-07-29/followup-2024-07-01.csv", "2024-07-29"),
        ("followup.csv", None),
    ],
)
def test_a_previous_output_is_as_of_its_folder_then_its_name(path: str, day: str | None) -> None:
    """The date in a file's own name comes before a plain date in its folder's name: a backup
    folder dated the 1st of August holding the output of the 20th of July was compared as of
    August ("Changes since 2024-08-01" in a run as of July 31st). An `as_of=` folder, which
    only the history writes, still comes first."""
    expected = None if day is None else dt.date.fromisoformat(day)
    assert snapshots.as_of_of(Path(path)) == expected


def test_a_history_inside_a_snapshot_folder_is_refused(invoke: Invoke, tmp_path: Path) -> None:
    """`--history runs/as_of=2024-07-31` (a slip of tab completion) made a history inside that
    snapshot, and the next rerun of the 31st replaced the folder as a whole, with the nights
    stored in it. Refused now, exit 2, before anything is made there."""
    runs = tmp_path / "runs"
    _night(invoke, runs, "2024-07-31")
    inside = runs / "as_of=2024-07-31"
    before = sorted(p.name for p in inside.iterdir())
    result = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-08-01", "-q",
        "-o", str(tmp_path / "o.csv"), "--history", str(inside),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "is a snapshot folder of another history" in _said(result)
    assert sorted(p.name for p in inside.iterdir()) == before
    assert not (tmp_path / "o.csv").exists()


def test_a_snapshot_of_people_on_no_list_is_named_by_trends(invoke: Invoke, tmp_path: Path) -> None:
    """A snapshot whose follow_up_status is all empty (stored as Parquet's Null type), without
    its report: `followup trends` failed inside a query plan (internal error). It names the
    night and the way out, exit 3."""
    history = tmp_path / "H"
    for day in ("2024-07-30", "2024-07-31"):
        _night(invoke, history, day)
    night = history / "as_of=2024-07-31"
    frame = pl.read_parquet(night / snapshots.SNAPSHOT_FILE)
    frame.with_columns(pl.lit(None).alias("follow_up_status")).write_parquet(
        night / snapshots.SNAPSHOT_FILE
    )
    (night / snapshots.REPORT_FILE).unlink()
    result = invoke("trends", "--history", str(history))
    assert result.exit_code == 3, result.output
    said = _said(result)
    assert "the snapshot of 2024-07-31 has people on no list" in said
    assert f"move that snapshot out of {history}, or reconcile 2024-07-31 again" in said


def test_a_damaged_night_before_says_the_way_out(invoke: Invoke, tmp_path: Path) -> None:
    """The night before in --history truncated: every later night stopped with "cannot be read
    as a followup output", or "pass a file that followup reconcile wrote" though no file was
    passed. It now says what `followup changes` says: move the night out, or run it again."""
    history = tmp_path / "H"
    _night(invoke, history, "2024-07-31")
    stored = history / "as_of=2024-07-31" / snapshots.SNAPSHOT_FILE
    stored.write_bytes(stored.read_bytes()[:100])
    result = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-08-01", "-q",
        "-o", str(tmp_path / "o.csv"), "--history", str(history),
    )  # fmt: skip
    assert result.exit_code == 3
    said = _said(result)
    assert f"it is the night before in --history {history}: move {stored.parent} out of" in said
    assert "reconcile 2024-07-31 again with --history" in said
    assert "pass a file" not in said


@pytest.mark.parametrize("command", ["changes", "history", "trends"])
def test_commands_without_format_do_not_suggest_it(
    invoke: Invoke, tmp_path: Path, command: str
) -> None:
    """`-o moved.txt` on `changes`, `history` or `trends` said "or pass --format", an option
    these commands do not have."""
    history = tmp_path / "H"
    for day in ("2024-07-30", "2024-07-31"):
        _night(invoke, history, day)
    who = ["C-5"] if command == "history" else []
    result = invoke(command, *who, "--history", str(history), "-o", str(tmp_path / "moved.txt"))
    assert result.exit_code == 2
    said = _said(result)
    assert "end the name in .csv, .parquet, .jsonl or .xlsx" in said
    assert "--format" not in said


def test_many_nights_are_read_in_turn_and_all_counted(invoke: Invoke, tmp_path: Path) -> None:
    """`followup history` read every night as one plan of N scans, whose cost grew with N
    squared (1,600 nights of 18 people: 25 s; 2 s now), and `trends` ran Polars out of
    threads. Read a few dozen nights at a time, every night is still read: 70 nights (more
    than two turns) of the same people give one period over all of them and 70 rows."""
    seed = tmp_path / "seed"
    _night(invoke, seed, "2024-07-31")
    history = tmp_path / "H"
    nights = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(70)]
    assert len(nights) > 2 * stored_nights.NIGHTS_AT_A_TIME
    for day in nights:
        folder = history / f"as_of={day.isoformat()}"
        folder.mkdir(parents=True)
        shutil.copy(seed / "as_of=2024-07-31" / snapshots.SNAPSHOT_FILE, folder)
    result = invoke("history", "C-5", "--history", str(history))
    assert result.exit_code == 0, _said(result)
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [(r["from"], r["to"]) for r in rows] == [(str(nights[0]), str(nights[-1]))]
    trends = invoke("trends", "--history", str(history))
    assert trends.exit_code == 0, _said(trends)
    table = list(csv.DictReader(trends.stdout.splitlines()))
    assert [r["as_of"] for r in table] == [str(day) for day in nights]
    assert len({tuple(r.values())[1:] for r in table}) == 1  # the same people every night
