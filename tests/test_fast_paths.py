"""Fast paths (issue 13) against the slow, obviously-correct ones: the same frames, row for row.

Each fast path is a shortcut taken only when a cheap whole-file or whole-column test proves it
gives what the general path would; these tests pin both halves: the shortcut is taken on clean
input, declined on input it cannot handle, and equal to the general path whenever taken.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup_cli import csv_reader, followup
from followup_cli.csv_reader import read_csv
from followup_cli.schema import CUST


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def by_grammar(path: Path, key: str | None, monkeypatch: pytest.MonkeyPatch) -> object:
    """read_csv with the fast path switched off: the grammar splits every line."""
    with monkeypatch.context() as patched:
        patched.setattr(csv_reader, "_plain_rows", lambda _path: None)
        try:
            return read_csv(path, key)
        except Exception as exc:  # compared by type and message below
            return (type(exc).__name__, str(exc))


def test_a_clean_export_is_split_by_the_fast_reader(tmp_path: Path) -> None:
    """No quotes, no carriage returns, every row complete: Polars' reader splits the file, with
    physical line numbers and empty values as null, exactly as the grammar would."""
    path = write(tmp_path / "customers.csv", "customer_id,name\nC-1,Ann\nC-2,\n")
    fast = csv_reader._plain_rows(path)
    assert fast is not None
    expected = pl.DataFrame(
        {"_line": [2, 3], "customer_id": ["C-1", "C-2"], "name": ["Ann", None]},
        schema={"_line": pl.Int64, "customer_id": pl.String, "name": pl.String},
    )
    assert fast.equals(expected)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('id,name\n1,"Ann"\n', id="a quote"),
        pytest.param("id,name\r\n1,Ann\r\n", id="CRLF"),
        pytest.param("id,name\n1,Ann\n\n2,Bob\n", id="a blank line"),
        pytest.param("id,name\n1\n2,Bob\n", id="a short row"),
        pytest.param("id,name\n1,Ann,x\n", id="a long row"),
        # The short row's missing comma and the long row's extra one cancel out in a count of
        # commas; Polars forgives an extra empty field on a last line without a line break.
        pytest.param("id,a,b\n1,2\n3,4,5,", id="short and long cancel out"),
        pytest.param("id,name\n1,Ann", id="no final line break"),
        pytest.param("id\n1\n\n2\n", id="one column"),
    ],
)
def test_the_fast_reader_declines_what_only_the_grammar_decides(tmp_path: Path, text: str) -> None:
    """Anything but complete rows of plain fields goes to the grammar, which names the bad
    lines; the fast reader never guesses."""
    assert csv_reader._plain_rows(write(tmp_path / "t.csv", text)) is None


_FIELDS = st.sampled_from(["a", "", " ", "x y", "é", "1", " C-1 ", "\t", "ß", "_line"])


@st.composite
def quote_free_files(draw: st.DrawFn) -> str:
    """Small CSV texts without quotes or carriage returns: mostly whole rows, some short, long
    or blank, with or without a BOM and a final line break."""
    width = draw(st.integers(1, 4))
    header = ",".join(
        draw(
            st.lists(
                st.sampled_from(["id", "x", "ID", " y", "_line", ""]),
                min_size=width,
                max_size=width,
            )
        )
    )
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        count = draw(st.sampled_from([width, width, width, 0, width - 1, width + 1]))
        lines.append(",".join(draw(st.lists(_FIELDS, min_size=count, max_size=count))))
    body = "".join(f"\n{line}" for line in lines)
    return (
        draw(st.sampled_from(["", "\ufeff"]))
        + header
        + body
        + draw(st.sampled_from(["", "\n", "\n\n"]))
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=quote_free_files())
def test_the_fast_reader_agrees_with_the_grammar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """Whenever the fast reader takes a file, its rows are the grammar's, and nothing is set
    aside by the grammar."""
    path = write(tmp_path / "t.csv", text)
    fast = csv_reader._plain_rows(path)
    if fast is None:
        return
    slow = by_grammar(path, "id", monkeypatch)
    assert isinstance(slow, tuple) and isinstance(slow[0], pl.DataFrame), slow
    frame, structural = slow
    assert structural.height == 0
    assert fast.schema == frame.schema
    assert fast.equals(frame)


_STATUS = pl.Enum(["active", "collections", "inactive", "suspended"])
_ALERT = pl.Enum(["canceled", "expired"])


@st.composite
def agreement_rows(draw: st.DrawFn) -> list[dict[str, object]]:
    """A few people's agreements in any order, with purchase dates that tie."""
    count = draw(st.integers(0, 12))
    numbers = draw(st.lists(st.integers(1, 99), min_size=count, max_size=count, unique=True))
    return [
        {
            CUST: draw(st.integers(0, 3)),
            "agreement_id": f"A-{number}",
            "purchase_date": dt.date(2024, 1, draw(st.integers(1, 3))),
            "session_quantity": draw(st.sampled_from([None, 0, 1, 2])),
            "sessions_remaining": draw(st.sampled_from([None, 0, 1, 3])),
            "status": draw(st.sampled_from(_STATUS.categories.to_list())),
            "alert": draw(st.sampled_from([None, "canceled", "expired"])),
        }
        for number in numbers
    ]


def _most_recent_by_hand(rows: list[dict[str, object]]) -> dict[int, dict[str, object]]:
    """SPEC 4's "most recent" per rule, one person at a time: the obviously-correct version."""

    def latest(mine: list[dict[str, object]], keep: object) -> dict[str, object] | None:
        matching = [r for r in mine if keep(r)]  # type: ignore[operator]
        return max(matching, key=lambda r: (r["purchase_date"], r["agreement_id"]), default=None)

    def single(r: dict[str, object]) -> bool:
        return r["session_quantity"] == 1

    def left(r: dict[str, object]) -> int:
        return int(r["sessions_remaining"] or 0)  # type: ignore[call-overload]

    rules = {
        "collections_id": lambda r: r["status"] == "collections",
        "suspended_id": lambda r: r["status"] == "suspended",
        "active_id": lambda r: r["status"] == "active" and not single(r),
        "renewal_id": lambda r: r["status"] == "active" and single(r) and left(r) >= 1,
        "drop_in_id": lambda r: r["status"] == "active" and single(r) and left(r) == 0,
        "inactive_id": lambda r: r["status"] == "inactive",
    }
    facts: dict[int, dict[str, object]] = {}
    for person in sorted({int(r[CUST]) for r in rows}):  # type: ignore[call-overload]
        mine = [r for r in rows if r[CUST] == person]
        fact: dict[str, object] = {}
        for name, keep in rules.items():
            found = latest(mine, keep)
            fact[name] = found["agreement_id"] if found else None
        renewal = latest(mine, rules["renewal_id"])
        fact["renewal_left"] = renewal["sessions_remaining"] if renewal else None
        inactive = latest(mine, rules["inactive_id"])
        fact["inactive_alert"] = inactive["alert"] if inactive else None
        facts[person] = fact
    return facts


@settings(max_examples=200, deadline=None)
@given(rows=agreement_rows())
def test_the_deciding_agreements_are_the_most_recent_of_each_sort(
    rows: list[dict[str, object]],
) -> None:
    """Per person and rule, the agreement picked is the latest purchase_date, then the
    greatest agreement_id, among those the rule matches, whatever the rows' order."""
    frame = pl.DataFrame(
        rows,
        schema={
            CUST: pl.UInt32,
            "agreement_id": pl.String,
            "purchase_date": pl.Date,
            "session_quantity": pl.Int64,
            "sessions_remaining": pl.Int64,
            "status": _STATUS,
            "alert": _ALERT,
        },
    )
    found = followup.agreement_facts(frame.lazy()).collect().sort(CUST)
    expected = _most_recent_by_hand(rows)
    assert found.get_column(CUST).to_list() == list(expected)
    for row in found.iter_rows(named=True):
        wanted = expected[row[CUST]]
        assert {k: row[k] for k in wanted} == wanted
        assert row["has_agreement"] is True
