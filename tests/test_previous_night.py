"""The night before (SPEC 8), as the nightly job holds it: checked before any work, read only
when compared and only the columns compared, and compared by a join of ids and statuses alone
(issue 23: the previous output held through the run, and every column through the join, took
the nightly job's peak at a million people from 0.95 to 1.2 GB)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followup_cli.core.money import MONEY_DTYPE
from followup_cli.core.schema import normalise_id
from followup_cli.job import nightly as job
from followup_cli.job import previous as previous_module
from followup_cli.nightly.changes import CHANGE_COLUMNS, GONE_REASON, changes
from followup_cli.nightly.earlier_output import REQUIRED, read_output
from followup_cli.synthetic.generate import generate

Invoke = Callable[..., Any]
DAY1, DAY2 = "2024-07-30", "2024-07-31"

# --- the changes, against an oracle that walks both runs row by row ---------------------------

STATUSES = st.sampled_from([None, "Lead", "Active Customer", "Delinquent Customer"])
ACCOUNTS = st.sampled_from([None, "Paid in Full", "Due", "Disabled"])
# Ids that match only as validation matches them: case and the spaces around them differ.
SPELLINGS = st.sampled_from(["c-{}", "C-{}", " c-{} ", "C-{}  "])


@st.composite
def night(draw: st.DrawFn, people: list[int]) -> pl.DataFrame:
    """An output of `people` (distinct numbers, in the order given), its columns drawn."""
    rows = [
        {
            "customer_id": draw(SPELLINGS).format(n),
            "name": draw(st.sampled_from([None, f"Person {n}", f"P. {n}"])),
            "follow_up_status": draw(STATUSES),
            "account_status": draw(ACCOUNTS),
            "balance": Decimal(draw(st.integers(-50_000, 50_000))) / 100,
            "reason": draw(st.sampled_from([None, "because", f"rule {n}"])),
        }
        for n in people
    ]
    schema = {c: pl.String for c in REQUIRED if c != "balance"} | {"balance": MONEY_DTYPE}
    return pl.DataFrame(rows, schema=schema).select(
        "customer_id", "name", "follow_up_status", "reason", "account_status", "balance"
    )


@st.composite
def two_nights(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two nights of some of the same people, each in an order of its own."""
    everyone = draw(st.lists(st.integers(0, 60), unique=True, max_size=40))
    before = draw(st.permutations([n for n in everyone if draw(st.booleans())]))
    after = draw(st.permutations([n for n in everyone if draw(st.booleans())]))
    return draw(night(list(before))), draw(night(list(after)))


def oracle(before: pl.DataFrame, after: pl.DataFrame) -> list[dict[str, Any]]:
    """SPEC 8's changes, one person at a time: tonight's people in tonight's order (a newcomer,
    or a status moved), then those gone, in last night's order."""
    then = dict(
        zip(
            normalise_id(before["customer_id"]).to_list(), before.iter_rows(named=True), strict=True
        )
    )
    now = dict(
        zip(normalise_id(after["customer_id"]).to_list(), after.iter_rows(named=True), strict=True)
    )
    found = []
    for key, row in now.items():
        old = then.get(key)
        if old is not None and (old["follow_up_status"], old["account_status"]) == (
            row["follow_up_status"],
            row["account_status"],
        ):
            continue
        found.append(
            {
                "customer_id": row["customer_id"],
                "name": row["name"] if row["name"] is not None or old is None else old["name"],
                "from_status": old and old["follow_up_status"],
                "to_status": row["follow_up_status"],
                "from_account_status": old and old["account_status"],
                "to_account_status": row["account_status"],
                "previous_balance": old and old["balance"],
                "balance": row["balance"],
                "reason": row["reason"],
            }
        )
    for key, old in then.items():
        if key not in now:
            found.append(
                {
                    "customer_id": old["customer_id"],
                    "name": old["name"],
                    "from_status": old["follow_up_status"],
                    "to_status": None,
                    "from_account_status": old["account_status"],
                    "to_account_status": None,
                    "previous_balance": old["balance"],
                    "balance": None,
                    "reason": GONE_REASON,
                }
            )
    return found


@settings(max_examples=300, deadline=None)
@given(two_nights())
def test_the_changes_are_the_oracles_row_for_row(nights: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    before, after = nights
    day1, day2 = dt.date(2024, 7, 30), dt.date(2024, 7, 31)
    # The night before as a run reads it back: without its reasons, which no change shows.
    read_back = before.drop("reason")
    for previous, current in ((before, after), (before.lazy(), after.lazy()), (read_back, after)):
        found = changes(previous, current, day1, day2)
        assert found.columns == list(CHANGE_COLUMNS)
        assert found.schema["balance"] == MONEY_DTYPE == found.schema["previous_balance"]
        assert set(found["previous_as_of"]) <= {day1} and set(found["as_of"]) <= {day2}
        assert found.drop("previous_as_of", "as_of").to_dicts() == oracle(before, after)


def test_changes_over_many_chunks_take_each_row_from_its_own_place() -> None:
    """Rows gathered by place from frames in many chunks (as a run's output is) are the rows of
    those places, not of the first chunk's."""
    people = list(range(3_000))
    day = pl.DataFrame(
        {
            "customer_id": [f"C-{n}" for n in people],
            "name": [f"Person {n}" for n in people],
            "follow_up_status": ["Lead"] * len(people),
            "reason": [f"because {n}" for n in people],
            "account_status": [None] * len(people),
            "balance": [Decimal(n) for n in people],
        },
        schema_overrides={"balance": MONEY_DTYPE, "account_status": pl.String},
    )
    chunked = pl.concat([day.slice(n, 100) for n in range(0, len(people), 100)], rechunk=False)
    assert chunked.n_chunks() == 30
    moved = chunked.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 3)
        .then(pl.lit("Active Customer"))
        .otherwise("follow_up_status")
        .alias("follow_up_status")
    )
    tonight = pl.concat([moved.slice(n, 300) for n in range(0, len(people), 300)], rechunk=False)
    found = changes(chunked, tonight.reverse(), None, None)
    assert found.height == len(range(3, 3_000, 7))
    for row in found.iter_rows(named=True):
        n = int(row["customer_id"].removeprefix("C-"))
        assert n % 7 == 3
        assert row["name"] == f"Person {n}" and row["reason"] == f"because {n}"
        assert row["balance"] == row["previous_balance"] == Decimal(n)
    # Tonight's order: the frame was reversed.
    assert found["customer_id"].to_list() == [f"C-{n}" for n in reversed(range(3, 3_000, 7))]


# --- read when compared, and only the columns compared ---------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_only_the_compared_columns_are_read_back(tmp_path: Path, fmt: str) -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["007", "C-2"],
            "name": ["Ann", None],
            "customer_type": ["Customer", "Prospect"],
            "follow_up_status": ["Lead", "Drop-In"],
            "reason": ['a, quoted "one"', "b"],
            "account_status": [None, "Due"],
            "balance": [Decimal("1.50"), Decimal("-0.25")],
            "phone": ["555", "556"],
        },
        schema_overrides={"balance": MONEY_DTYPE, "account_status": pl.String},
    )
    path = tmp_path / f"out.{fmt}"
    if fmt == "csv":
        frame.write_csv(path)
    elif fmt == "parquet":
        frame.write_parquet(path)
    else:
        frame.with_columns(pl.col("balance").cast(pl.String)).write_ndjson(path)
    whole = read_output(path)
    compared = read_output(path, compared_only=True)
    # The reasons a change gives are tonight's: the night before's are not read at all.
    assert "reason" in REQUIRED
    assert sorted(compared.columns) == sorted(set(REQUIRED) - {"reason"})
    assert compared.equals(whole.select(compared.columns))
    assert compared["customer_id"].to_list() == ["007", "C-2"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate(200, folder, seed=5, fmt="csv")
    return folder


def _night(invoke: Invoke, data: Path, work: Path, day: str, *extra: str) -> Any:
    return invoke(
        "reconcile", "--data", str(data), "--as-of", day, "-o", str(work / f"out-{day}.csv"), *extra
    )


def test_the_previous_night_is_read_after_the_reconciliation(
    invoke: Invoke, generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not held while the exports are read and reconciled: its rows are read once the run is
    done, only the compared columns."""
    history = str(tmp_path / "runs")
    assert _night(invoke, generated, tmp_path, DAY1, "--history", history).exit_code == 0
    done: list[str] = []
    reconcile, read = job.run, previous_module.read_output

    def run(*args: Any, **kwargs: Any) -> Any:
        found = reconcile(*args, **kwargs)
        done.append("reconciled")
        return found

    def read_back(path: Path, compared_only: bool = False) -> pl.DataFrame:
        done.append(f"read compared_only={compared_only}")
        return read(path, compared_only)

    monkeypatch.setattr(job, "run", run)
    monkeypatch.setattr(previous_module, "read_output", read_back)
    result = _night(invoke, generated, tmp_path, DAY2, "--history", history)
    assert result.exit_code == 0, result.stderr
    assert done == ["reconciled", "read compared_only=True"]
    assert (tmp_path / f"out-{DAY2}-changes.csv").is_file()


def test_a_previous_file_that_is_not_an_output_is_refused_before_any_work(
    invoke: Invoke, generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its footer (Parquet), header (CSV) or first line (JSON Lines) says so: refused before
    the exports are read."""
    reconciled: list[bool] = []
    reconcile = job.run
    monkeypatch.setattr(job, "run", lambda *a, **k: reconciled.append(True) or reconcile(*a, **k))
    foreign = tmp_path / "foreign.parquet"
    pl.DataFrame({"customer_id": ["C-1"], "total": [3]}).write_parquet(foreign)
    text = tmp_path / "foreign.csv"
    text.write_text("customer_id,follow_up_status\nC-1,Lead\n")
    lines = tmp_path / "events.jsonl"  # an export, not an output
    lines.write_text('{"event_id": "E-1", "customer_id": "C-1"}\n')
    for path in (foreign, text, lines):
        result = _night(invoke, generated, tmp_path, DAY2, "--previous", str(path))
        assert result.exit_code == 3, result.stderr
        assert f"{path}: not a followup output (no column" in result.stderr
    assert reconciled == []
    assert not (tmp_path / f"out-{DAY2}.csv").exists()


@pytest.mark.parametrize("change", ["grown", "same size and time", "gone"])
def test_a_previous_night_changed_during_the_run_is_refused(
    invoke: Invoke,
    generated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """Checked before the work, read after it: a file rewritten in between (even to the same
    size, its modified time put back, as `cp -p` or `touch -r` leave it) would be compared
    unchecked, so the run stops, nothing written, as for an export that changed; a file gone
    is named as gone."""
    first = tmp_path / "first"
    first.mkdir()
    assert _night(invoke, generated, first, DAY1).exit_code == 0
    previous = first / f"out-{DAY1}.csv"
    reconcile = job.run

    def run(*args: Any, **kwargs: Any) -> Any:
        found = reconcile(*args, **kwargs)
        text = previous.read_text()
        if change == "grown":
            previous.write_text(text + text.splitlines()[-1] + "\n")
        elif change == "same size and time":
            times = os.stat(previous)
            moved = text.replace("Active Customer", "Active Custumer", 1)
            assert moved != text and len(moved) == len(text)
            previous.write_text(moved)
            os.utime(previous, ns=(times.st_atime_ns, times.st_mtime_ns))
        else:
            previous.unlink()
        return found

    monkeypatch.setattr(job, "run", run)
    result = _night(invoke, generated, tmp_path, DAY2, "--previous", str(previous))
    assert result.exit_code == 3, result.stderr
    if change == "gone":
        assert f"{previous}: no such file (given for --previous)" in result.stderr
    else:
        assert f"{previous}: changed while reading; run again" in result.stderr
    assert not (tmp_path / f"out-{DAY2}.csv").exists()


def test_a_balance_that_is_not_money_is_refused_whoever_moved() -> None:
    """`followup changes` compares two snapshots as they are stored: a balance column of text
    is refused even when nobody with a bad balance moved (as when every column went through
    the join)."""
    night = pl.DataFrame(
        {
            "customer_id": ["C-1", "C-2"],
            "name": ["A", "B"],
            "follow_up_status": ["Lead", "Lead"],
            "account_status": [None, None],
            "balance": ["1.00", "abc"],
            "reason": ["r", "r"],
        },
        schema_overrides={"account_status": pl.String},
    )
    tonight = night.with_columns(
        pl.when(pl.col("customer_id") == "C-1")
        .then(pl.lit("Drop-In"))
        .otherwise("follow_up_status")
        .alias("follow_up_status")
    )
    with pytest.raises(pl.exceptions.InvalidOperationError):
        changes(night.lazy(), tonight.lazy(), None, None)
