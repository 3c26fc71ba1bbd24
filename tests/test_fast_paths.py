"""Fast paths (issue 13) against the slow, obviously-correct ones: the same frames, row for row.

Each fast path is a shortcut taken only when a cheap whole-file or whole-column test proves it
gives what the general path would; these tests pin both halves: the shortcut is taken on clean
input, declined on input it cannot handle, and equal to the general path whenever taken.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup_cli import csv_reader
from followup_cli.csv_reader import read_csv


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
