"""The CSV reader's cost and its verdicts on hostile files (issue 18).

No input may make reading cost more than its size implies (SPEC 6): unclosed quotes sharing one
far closing line, thousands of columns, long lines. And one rule for a zero byte (NUL), wherever
it is in the file and whichever path splits it: its row is rejected, naming line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from followup_cli.core.errors import InputFileError
from followup_cli.reading import csv_grammar, csv_records
from followup_cli.reading.csv_reader import read_csv
from tests.child import in_child
from tests.conftest import AS_OF, HEADERS, write_exports
from tests.test_multi_line_records import lines_read

PAYMENTS = HEADERS["payments"]

# Reads a file in a child process and says what the reader decided, so that a reader taking
# minutes is stopped by the timeout instead of holding the test run.
_READ_IN_CHILD = """
import sys
from pathlib import Path
from followup_cli.reading.csv_reader import read_csv
frame, rejects = read_csv(Path(sys.argv[1]), "payment_id")
result = {"rows": frame.height, "rejects": rejects.select("line", "reason").rows()}
"""


def read_in_child(path: Path, timeout: float) -> dict[str, Any]:
    return in_child(_READ_IN_CHILD, str(path), timeout=timeout)


def test_100000_unclosed_quotes_sharing_one_closing_line_are_read_in_linear_time(
    tmp_path: Path,
) -> None:
    """Issue 18: 100,000 lines `"x` then `y"` took about 9 minutes (each opening line joined
    every line up to the far closing one); now seconds. A generous 60 s guard, and the verdict:
    every `"x` line is set aside as running on to the closing line, which has too few fields."""
    lines = 100_000
    path = tmp_path / "payments.csv"
    path.write_text(PAYMENTS + "\n" + '"x\n' * lines + 'y"\n')
    closing = lines + 2
    result = read_in_child(path, timeout=60)
    assert result["rows"] == 0
    rejects = result["rejects"]
    assert [line for line, _ in rejects] == list(range(2, closing + 1))
    assert {reason for line, reason in rejects if line < closing} == {
        f"a double quote on this line opens a value that runs on to line {closing} without "
        'making a whole row; check this line\'s quotes (a quote inside a value is written "")'
    }
    assert rejects[-1][1].startswith("row has 1 field but the header has 5")


def test_each_line_is_read_a_bounded_number_of_times_whatever_the_openers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work, not time: 20,000 opening lines whose values each run validly on to one far closing
    line (only the field count fails there) are read once each (the openers sharing a closing
    line share the lines read); the old join read each line once per opening line before it.
    The verdict is the grammar's: the last two openers and the closer make one row, every other
    opener is set aside."""
    read = lines_read(monkeypatch)
    # `x",y,"z` read from its start: fields `x"` and `y`, then a quote left open. Read from
    # inside a quoted value: the value closes, fields `y`, and a new one opens. So every such
    # line opens a value that reaches the closing line `w"` with two more fields per line.
    openers = 20_000
    body = 'x",y,"z\n' * openers + 'w"\n'
    path = tmp_path / "payments.csv"
    path.write_text(PAYMENTS + "\n" + body)
    frame, rejects = read_csv(path, "payment_id")
    closing = openers + 2
    assert frame.rows() == [(closing - 2, 'x"', "y", "z\nx", "y", "z\nw")]
    assert rejects.get_column("line").to_list() == list(range(2, closing - 2))
    assert set(rejects.get_column("reason")) == {csv_records._runaway_reason(closing)}
    assert read == [openers]  # the lines after the first opener, the closing line included


def test_a_quoted_field_among_4000_columns_is_read(tmp_path: Path) -> None:
    """Issue 18: about 4,000 columns and one quoted field gave "internal error" (the pattern
    of one group per column exceeded the regex size limit); now the row is read."""
    width = 4_000
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(width))
    row = ",".join(['"a,b"', '"say ""hi"""', "", *[f"v{i}" for i in range(3, width)]])
    path.write_text(header + "\n" + row + "\n" + ",".join(["x"] * (width + 1)) + "\n")
    frame, rejects = read_csv(path, "c0")
    assert frame.width == width + 1
    assert frame.row(0)[:5] == (2, "a,b", 'say "hi"', None, "v3")
    assert frame.item(0, f"c{width - 1}") == f"v{width - 1}"
    assert rejects.select("line", "reason").rows() == [
        (
            3,
            f"row has {width + 1} fields but the header has {width}; check for a missing or "
            "extra comma (a value with a comma must be in double quotes)",
        )
    ]


def test_a_multi_line_record_among_4000_columns_is_read(tmp_path: Path) -> None:
    """The same width through the multi-line path: a value spanning two lines is one row."""
    width = 4_000
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(width))
    row = ",".join(['"first\nsecond"', *["v"] * (width - 1)])
    path.write_text(header + "\n" + row + "\n")
    frame, rejects = read_csv(path, "c0")
    assert rejects.height == 0
    assert frame.select("_line", "c0", f"c{width - 1}").rows() == [(2, "first\nsecond", "v")]


def _nul_reason(column: str, at: int) -> str:
    return (
        f"column '{column}' holds a zero byte (NUL) at character {at} of its value; a text "
        "export never does (re-export the file as CSV UTF-8)"
    )


# A NUL early (inside the first 4 KB, once a whole-file refusal) and late (after it, once
# copied into the output), in a file without quotes (the fast path) and with a quoted comma
# (the grammar's path).
FILLER = [f"P-{i},C-1,2024-03-01,4.00,recurring" for i in range(200)]


@pytest.mark.parametrize("quoted", [False, True], ids=["fast-path", "grammar-path"])
@pytest.mark.parametrize("early", [True, False], ids=["first-4KB", "after-4KB"])
def test_a_zero_byte_rejects_its_row_wherever_it_is(
    tmp_path: Path, quoted: bool, early: bool
) -> None:
    """Issue 18: one rule for NUL: the row is rejected naming line and column, the rest read."""
    bad = "P-x,C-1,2024-03-01,4\x00.00,recurring"
    rows = [bad, *FILLER] if early else [*FILLER, bad]
    if quoted:
        rows.append('P-q,C-1,2024-03-01,"4.00",recurring')
    path = tmp_path / "payments.csv"
    path.write_text(PAYMENTS + "\n" + "\n".join(rows) + "\n")
    frame, rejects = read_csv(path, "payment_id")
    line = 2 if early else 202
    assert frame.height == len(rows) - 1
    assert (
        not frame.select(pl.any_horizontal(pl.col(pl.String).str.contains("\x00")))
        .to_series()
        .any()
    )
    assert rejects.rows() == [
        (
            "payments.csv",
            line,
            "amount",
            "P-x,C-1,2024-03-01,4\\x00.00,recurring",
            _nul_reason("amount", 2),
        )
    ]


@pytest.mark.parametrize("path", ["fast", "grammar", "wide"])
def test_a_zero_byte_is_placed_in_characters_not_bytes(tmp_path: Path, path: str) -> None:
    """`Zoë Ådams` then a NUL: character 10 of the value (Polars' find counts bytes: 12), on
    each way a file is split: no quotes, a quote, and a header wider than the reader keeps."""
    extra = 1_001 if path == "wide" else 0
    header = "id,name" + "".join(f",x{i}" for i in range(extra))
    name = '"Zoë Ådams\x00"' if path == "grammar" else "Zoë Ådams\x00"
    path_ = tmp_path / "c.csv"
    path_.write_text(f"{header}\nC-1,{name}{',' * extra}\nC-2,Ann{',' * extra}\n")
    needed = None if path != "wide" else (lambda column: not column.startswith("x"))
    frame, rejects = read_csv(path_, "id", needed=needed)
    assert frame.get_column("id").to_list() == ["C-2"]
    assert rejects.select("line", "column", "reason").rows() == [
        (2, "name", _nul_reason("name", 10))
    ]


def test_a_zero_byte_in_a_multi_line_value_rejects_its_record(tmp_path: Path) -> None:
    """The record's first line is named, and the character within the value."""
    path = tmp_path / "c.csv"
    path.write_text('id,note\nC-1,"one\ntw\x00o"\nC-2,fine\n')
    frame, rejects = read_csv(path, "id")
    assert frame.select("_line", "id").rows() == [(4, "C-2")]
    assert rejects.select("line", "column", "reason").rows() == [
        (2, "note", _nul_reason("note", 7))
    ]


def test_a_zero_byte_in_the_header_names_line_1_and_the_column(tmp_path: Path) -> None:
    """Without a header nothing can be read: the file is refused, saying where."""
    path = tmp_path / "c.csv"
    path.write_text("id,na\x00me\nC-1,Ann\n")
    with pytest.raises(
        InputFileError,
        match=r"c\.csv: line 1 \(the header\) holds a zero byte \(NUL\) in column 2",
    ):
        read_csv(path, "id")


def test_every_control_byte_and_a_quoted_comma_are_read(tmp_path: Path) -> None:
    """Issue 18: control bytes 0x01-0x04 and 0x1C-0x1F are text (the existing rule), also in a
    file that holds them all and a quoted comma (once the whole file was refused)."""
    controls = "\x01\x02\x03\x04\x1c\x1d\x1e\x1f"
    path = tmp_path / "c.csv"
    path.write_text(f'id,name\r\nC-1,"Lee, Ann"\r\nC-2,{controls}\r\n\r\nC-3,"a\r\nb"\r\n')
    frame, rejects = read_csv(path, "id")
    assert rejects.height == 0
    assert frame.rows() == [(2, "C-1", "Lee, Ann"), (3, "C-2", controls), (5, "C-3", "a\nb")]


def test_the_run_rejects_a_late_zero_byte_with_exit_1(tmp_path: Path, invoke: Any) -> None:
    """End to end: the payment with a NUL after the first 4 KB is in the rejects file, not
    the output, and the run says exit 1 (it used to reconcile it with the NUL in its value)."""
    rows = [f"P-{i},C-1,2024-03-{1 + i % 28:02d},4.00,recurring" for i in range(150)]
    rows.append("P-\x00nul,C-1,2024-03-29,4.00,recurring")
    folder = write_exports(
        tmp_path / "exports",
        {
            "customers": ["C-1,Ann Lee,web,2024-01-10"],
            "agreements": ["A-1,C-1,2024-03-01,,,active,,4.00,"],
            "payments": rows,
            "events": [],
        },
    )
    assert (folder / "payments.csv").stat().st_size > 4096
    out = tmp_path / "out.csv"
    result = invoke(
        "reconcile", "--data", str(folder), "--as-of", AS_OF.isoformat(), "-o", str(out)
    )
    assert result.exit_code == 1, result.stderr
    rejects = pl.read_csv(tmp_path / "out-rejects.csv", infer_schema=False)
    assert rejects.select("file", "line", "column").rows() == [
        ("payments.csv", "152", "payment_id")
    ]
    assert "\x00" not in out.read_text()


# Reads a file in a child process, with its own peak memory: a reader whose memory grew with
# something other than the file's size showed it as gigabytes.
_PEAK_IN_CHILD = """
import sys
from pathlib import Path
from followup_cli.reading.csv_reader import read_csv
from followup_cli.core.errors import InputFileError
try:
    frame, rejects = read_csv(Path(sys.argv[1]), "payment_id")
    result = {"verdict": [frame.height, rejects.select("line", "reason").rows()]}
except InputFileError as exc:
    result = {"verdict": [str(exc)]}
"""


def peak_in_child(path: Path) -> dict[str, Any]:
    return in_child(_PEAK_IN_CHILD, str(path))


def test_a_line_of_5_million_commas_is_one_reject_in_bounded_memory(tmp_path: Path) -> None:
    """A line of 5 million commas took 2.4 GB (Polars' reader named each field of the first
    row; 20 million took 8.5 GB): now one reject, in memory a small multiple of the file."""
    path = tmp_path / "payments.csv"
    path.write_text(PAYMENTS + "\n" + "," * 5_000_000 + "\n")
    result = peak_in_child(path)
    reason = csv_grammar.field_count_reason(pl.lit(","), 5).alias("r")
    too_many = pl.select(reason).item().replace("2 fields", "5000001 fields")
    assert result["verdict"] == [0, [[2, too_many]]]
    assert result["peak_mb"] < 800


@pytest.mark.parametrize("where", ["header", "multi-line value"])
def test_a_10_mb_quoted_value_is_read_in_bounded_memory(tmp_path: Path, where: str) -> None:
    """Python's regular expressions kept about 100 bytes of backtracking state per character
    of a long quoted value (1.1 GB for 10 MB): the header's and a record's lines are now read
    with possessive patterns, in memory a small multiple of the file."""
    path = tmp_path / "payments.csv"
    long = "a" * 10_000_000
    if where == "header":
        path.write_text('"' + long + "\n")
        expected = [
            "payments.csv: line 1 (the header) cannot be split into column names (a double "
            "quote at character 1 does not close a quoted name); fix the header"
        ]
    else:
        path.write_text(PAYMENTS + '\nP-1,C-1,2024-01-01,1.00,"' + long + "\nb" + long + '"\n')
        expected = [1, []]
    result = peak_in_child(path)
    assert result["verdict"] == expected
    assert result["peak_mb"] < 1000
