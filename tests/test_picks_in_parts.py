"""The rule facts picked a part of the people at a time (issue 23): `_picked` cuts a table by
ranges of cust_idx and sorts one part at a time; the facts must be those of one sort of the
whole table, whatever the cut, ties and range edges included."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

import polars as pl
import pytest

from followup_cli.core import follow_up_tables as tables
from followup_cli.core.schema import CUST

AS_OF = dt.date(2024, 7, 31)


def _events(people: int, rows: int, seed: int) -> pl.DataFrame:
    """Events with many ties: few start times, so a person often has two events at one time
    and only the event id decides; some rows name no one."""
    pick = random.Random(seed)
    starts = [dt.datetime(2024, 7, 1 + day, hour) for day in (0, 29, 30) for hour in (9, 20)]
    starts.append(dt.datetime(2024, 8, 2, 9))  # upcoming
    return pl.DataFrame(
        {
            "event_id": [f"E-{pick.randrange(10**6)}" for _ in range(rows)],
            "starts_at": [pick.choice(starts) for _ in range(rows)],
            "kind": [pick.choice(["class", "trial", "pt"]) for _ in range(rows)],
            "outcome": [
                pick.choice(["attended", "no-show", "canceled", "scheduled"]) for _ in range(rows)
            ],
            CUST: [None if pick.random() < 0.02 else pick.randrange(people) for _ in range(rows)],
        },
        schema_overrides={CUST: pl.UInt32},
    )


def _agreements(people: int, rows: int, seed: int) -> pl.DataFrame:
    pick = random.Random(seed)
    days = [dt.date(2024, 1, 1), dt.date(2024, 3, 1), dt.date(2024, 3, 2)]
    return pl.DataFrame(
        {
            "agreement_id": [f"A-{pick.randrange(10**6)}" for _ in range(rows)],
            "purchase_date": [pick.choice(days) for _ in range(rows)],
            "session_quantity": [pick.choice([1, 10, None]) for _ in range(rows)],
            "sessions_remaining": [pick.choice([0, 1, 5, None]) for _ in range(rows)],
            "status": [
                pick.choice(["active", "inactive", "collections", "suspended"]) for _ in range(rows)
            ],
            "alert": [pick.choice(["canceled", "expired", None]) for _ in range(rows)],
            CUST: [pick.randrange(people) for _ in range(rows)],
        },
        schema_overrides={CUST: pl.UInt32},
    )


def _whole_and_cut(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], pl.LazyFrame], rows: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The facts from one sort of the table, and cut into parts of about a ninth of it."""
    monkeypatch.setattr(tables, "PART_ROWS", 10**9)
    whole = make().collect().sort(CUST, nulls_last=True)
    monkeypatch.setattr(tables, "PART_ROWS", max(1, rows // 9))
    monkeypatch.setattr(tables, "MOST_PARTS", 1000)
    cut = make().collect().sort(CUST, nulls_last=True)
    return whole, cut


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("visits", [False, True])
def test_event_facts_cut_by_people_are_the_whole_tables(
    monkeypatch: pytest.MonkeyPatch, seed: int, visits: bool
) -> None:
    events = _events(people=40, rows=600, seed=seed)
    whole, cut = _whole_and_cut(
        monkeypatch, lambda: tables.event_facts(events.lazy(), AS_OF, visits), 600
    )
    assert whole.height > 30
    assert cut.equals(whole)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agreement_facts_cut_by_people_are_the_whole_tables(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    agreements = _agreements(people=30, rows=400, seed=seed).with_columns(
        pl.col("status").cast(pl.Enum(["active", "collections", "inactive", "suspended"])),
        pl.col("alert").cast(pl.Enum(["canceled", "expired"])),
    )
    whole, cut = _whole_and_cut(
        monkeypatch, lambda: tables.agreement_facts(agreements.lazy(), (1, 5)), 400
    )
    assert cut.equals(whole)


def test_a_part_is_a_range_of_people_and_the_last_one_reaches_the_top(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nine people, one event each, cut into parts of two rows: every person's fact is there,
    the greatest cust_idx included (a range short by one would lose them)."""
    events = pl.DataFrame(
        {
            "event_id": [f"E-{n}" for n in range(9)],
            "starts_at": [dt.datetime(2024, 7, 1, 9)] * 9,
            "kind": ["class"] * 9,
            "outcome": ["attended"] * 9,
            CUST: list(range(9)),
        },
        schema_overrides={CUST: pl.UInt32},
    )
    monkeypatch.setattr(tables, "PART_ROWS", 2)
    found = tables.event_facts(events.lazy(), AS_OF).collect().sort(CUST)
    assert found.get_column(CUST).to_list() == list(range(9))
    assert found.get_column("last_event_id").to_list() == [f"E-{n}" for n in range(9)]


def _picked_by_hand(events: pl.DataFrame) -> dict[int, dict[str, object]]:
    """Per person, by plain Python: the latest past event (canceled ones aside), the earliest
    upcoming one and the latest attended one, "latest" by starts_at, then event_id."""
    found: dict[int, dict[str, object]] = {}
    for row in sorted(events.iter_rows(named=True), key=lambda r: (r["starts_at"], r["event_id"])):
        person = row[CUST]
        if person is None or row["outcome"] == "canceled":
            continue
        fact = found.setdefault(person, {"next_event_id": None})
        if row["starts_at"].date() > AS_OF:
            if fact["next_event_id"] is None:  # the earliest upcoming: the first met
                fact["next_event_id"] = row["event_id"]
        else:
            fact["last_event_id"] = row["event_id"]  # the latest past: the last met
            if row["outcome"] == "attended":
                fact["attended_event_at"] = row["starts_at"]
    return found


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("part_rows", [10**9, 50])
def test_a_persons_picks_are_their_own_latest_rows_whatever_other_people_hold(
    monkeypatch: pytest.MonkeyPatch, seed: int, part_rows: int
) -> None:
    """The picks read each person's rows in the order starts_at, then event_id, although the
    rows are sorted by person first: other people's events at the same times (most of the
    table here) never change whose event is picked. Checked against plain Python."""
    events = _events(people=25, rows=500, seed=seed)
    monkeypatch.setattr(tables, "PART_ROWS", part_rows)
    # The rows of no one are a group of their own, left out here as validated tables have none.
    found = tables.event_facts(events.lazy(), AS_OF).collect().drop_nulls(CUST)
    expected = _picked_by_hand(events)
    assert sorted(found.get_column(CUST).to_list()) == sorted(expected)
    for row in found.iter_rows(named=True):
        wanted = expected[row[CUST]]
        assert row["next_event_id"] == wanted["next_event_id"]
        assert row["last_event_id"] == wanted.get("last_event_id")
        assert row["attended_event_at"] == wanted.get("attended_event_at")
