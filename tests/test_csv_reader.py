"""The CSV reader (SPEC 2 and 6): one grammar decides every row's fields; a stray quote sets
aside its own line only; nothing is padded, truncated, merged or lost, at any size."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followup_cli.core.errors import InputFileError
from followup_cli.reading.csv_grammar import field
from followup_cli.reading.csv_reader import _set_aside_zero_bytes, read_csv
from followup_cli.synthetic.generate import generate
from tests.conftest import HEADERS, write_exports
from tests.test_bad_input import BASE, Invoke, flat, output_of, rows_per_file, run, with_rows


def rejects(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def test_a_stray_quote_does_not_swallow_the_rows_after_it(tmp_path: Path, invoke: Invoke) -> None:
    """Issue 9.2: an unclosed quote on C-1's line sets aside that line; C-2 and C-3 are read."""
    data = write_exports(
        tmp_path / "exports",
        with_rows(
            customers=[
                'C-3,"Bob,web,2024-01-01',
                "C-4,Carol,web,2024-01-02",
                'C-5,"Dave",web,2024-01-03',
            ]
        ),
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    assert output_of(tmp_path / "out.csv").get_column("customer_id").to_list() == [
        "C-1",
        "C-2",
        "C-4",
        "C-5",
    ]
    found = rejects(tmp_path / "out-rejects.csv")
    assert found.select("file", "line", "column").rows() == [("customers.csv", "4", "*")]
    assert "swallow" in found.item(0, "reason")
    assert rows_per_file(result.stderr)["customers.csv"] == (5, 4, 1, 0)


def test_a_stray_quote_in_a_note_column_loses_no_payment(tmp_path: Path, invoke: Invoke) -> None:
    """Issue 9.2: a free-text note with an unclosed quote costs that payment only, so the
    customer's later payments still count and a paid-up customer is not in arrears."""
    data = write_exports(tmp_path / "exports", BASE)
    (data / "payments.csv").write_text(
        "payment_id,customer_id,paid_on,amount,kind,note\n"
        'P-1,C-1,2024-03-29,4.00,recurring,"paid at the desk\n'
        "P-2,C-1,2024-04-30,4.00,recurring,\n"
        "P-3,C-1,2024-05-31,4.00,recurring,ok\n"
        'P-4,C-1,2024-06-28,4.00,recurring,"said ""thanks"""\n'
        "P-5,C-1,2024-07-31,4.00,recurring,\n"
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    assert rejects(tmp_path / "out-rejects.csv").select("line").to_series().to_list() == ["2"]
    out = output_of(tmp_path / "out.csv").row(0, named=True)
    # Five monthly charges of 4.00 (March to July); P-2..P-5 pay four: 4.00 owed, due today.
    assert (out["account_status"], out["balance"], out["past_due"]) == ("Due", "-4.00", "0.00")
    assert rows_per_file(result.stderr)["payments.csv"] == (5, 4, 1, 0)


def test_a_quote_inside_an_unquoted_value_is_rejected_when_it_breaks_the_count(
    tmp_path: Path, invoke: Invoke
) -> None:
    """Issue 9.3: `Ben "Benny, B" Adeyemi` unquoted makes five fields under a four-column
    header: the row is set aside, never read with a shifted origin."""
    data = write_exports(tmp_path / "exports", BASE)
    (data / "customers.csv").write_text(
        "customer_id,created_on,name,origin\n"
        "C-1,2024-01-10,Ann Lee,web\n"
        "C-2,2024-02-01,Bo Chen,referral\n"
        'C-17,2024-07-29,Ben "Benny, B" Adeyemi,Website\n'
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    found = rejects(tmp_path / "out-rejects.csv").row(0, named=True)
    assert (found["line"], found["column"]) == ("4", "*")
    assert found["reason"].startswith("row has 5 fields but the header has 4")
    assert "C-17" not in output_of(tmp_path / "out.csv").get_column("customer_id").to_list()


def test_a_quote_inside_an_unquoted_value_without_a_comma_is_an_ordinary_character(
    tmp_path: Path,
) -> None:
    """RFC 4180 readers agree on this one: the quotes are part of the value."""
    path = write(tmp_path / "c.csv", 'id,name\nC-1,Bob "the builder" Ray\n')
    frame, structural = read_csv(path, "id")
    assert frame.get_column("name").to_list() == ['Bob "the builder" Ray']
    assert structural.height == 0


def test_text_after_a_closing_quote_is_rejected(tmp_path: Path) -> None:
    """`"Bob"x` is neither a quoted nor an unquoted value."""
    path = write(tmp_path / "c.csv", 'id,name\nC-1,"Bob"x\nC-2,Ann\n')
    frame, structural = read_csv(path, "id")
    assert frame.get_column("id").to_list() == ["C-2"]
    assert structural.get_column("line").to_list() == [2]
    assert "closes a value but more text follows" in structural.item(0, "reason")


def test_a_carriage_return_alone_ends_a_line(tmp_path: Path, invoke: Invoke) -> None:
    """Issue 9.12: a CR-only line ending mid-file separates rows; it never merges three rows
    into one reject. Each is used or rejected on its own line number."""
    data = write_exports(tmp_path / "exports", BASE)
    (data / "payments.csv").write_bytes(
        b"payment_id,customer_id,paid_on,amount,kind\n"
        b"P-1,C-1,2024-03-29,4.00,recurring\r"
        b"P-2,C-1,2024-04-31,4.00,recurring\r"
        b"P-3,C-1,2024-05-31,4.00,recurring\n"
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    assert rejects(tmp_path / "out-rejects.csv").select("line", "column").rows() == [
        ("3", "paid_on")
    ]
    assert rows_per_file(result.stderr)["payments.csv"] == (3, 2, 1, 0)


def test_old_mac_line_endings_are_read(tmp_path: Path) -> None:
    """A file with CR line endings throughout is rows, not one long header."""
    path = tmp_path / "c.csv"
    path.write_bytes(b"id,name\rC-1,Ann\rC-2,Bo\r")
    frame, structural = read_csv(path, "id")
    assert frame.select("_line", "id").rows() == [(2, "C-1"), (3, "C-2")]
    assert structural.height == 0


@pytest.mark.parametrize(
    "encoded",
    [
        "id,name\nC-1,Ann\n".encode("utf-16-le"),
        "id,name\nC-1,Ann\n".encode("utf-16-be"),
        "id,name\nC-1,Ann\n".encode("utf-16"),  # with a byte order mark
    ],
    ids=["le-no-bom", "be-no-bom", "bom"],
)
def test_a_utf16_file_is_named_as_utf16(tmp_path: Path, encoded: bytes) -> None:
    """Issue 9.12: the message says UTF-16, which is what a person must change."""
    path = tmp_path / "c.csv"
    path.write_bytes(encoded)
    with pytest.raises(InputFileError, match=r"c\.csv: the file is UTF-16, not UTF-8"):
        read_csv(path, "id")


def test_a_file_holding_the_reader_s_own_separator_byte_is_read(tmp_path: Path) -> None:
    """The lines are split with a byte the file does not hold, whichever that is."""
    path = write(tmp_path / "c.csv", "id,name\nC-1,A\x1fB\nC-2,\x1eC\n")
    frame, _ = read_csv(path, "id")
    assert frame.get_column("name").to_list() == ["A\x1fB", "\x1eC"]


def test_a_multi_line_value_then_a_stray_quote(tmp_path: Path) -> None:
    """A real two-line value is one row; a later unclosed quote costs its own line only."""
    path = write(
        tmp_path / "c.csv",
        'id,name\nC-1,"Ann\nLee"\nC-2,Bo\nC-3,"Cy\nC-4,Di\nC-5,"Ed\n Fox"\n',
    )
    frame, structural = read_csv(path, "id")
    assert frame.select("_line", "id", "name").rows() == [
        (2, "C-1", "Ann\nLee"),
        (4, "C-2", "Bo"),
        (6, "C-4", "Di"),
        (7, "C-5", "Ed\n Fox"),
    ]
    assert structural.get_column("line").to_list() == [5]


def test_a_quoted_value_spanning_non_row_lines_is_one_row(tmp_path: Path) -> None:
    """Lines that are not rows in their own right (no key, wrong count) may be inside a value."""
    path = write(tmp_path / "c.csv", 'id,name,note\nC-1,Ann,"first\n\nsecond, third\nend"\n')
    frame, structural = read_csv(path, "id")
    assert frame.get_column("note").to_list() == ["first\n\nsecond, third\nend"]
    assert structural.height == 0


# Values a spreadsheet might write: commas, quotes, spaces, unicode, empty; or line breaks and
# quotes. (A value holding both a line break and commas can make a line inside it look like a
# whole row, which SPEC 6 reads as a stray quote: the trade that keeps stray quotes harmless.)
VALUE = st.text(alphabet=st.sampled_from(list('ab ,"Zé-1')), max_size=8) | st.text(
    alphabet=st.sampled_from(list('ab "\nZ')), max_size=8
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"K[0-9]{1,4}", fullmatch=True), VALUE, VALUE), max_size=8))
def test_any_file_a_csv_writer_makes_is_read_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, records: list[tuple[str, str, str]]
) -> None:
    """Round trip against Python's csv writer: the same records, empty values as null."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "a", "b"])
    writer.writerows(records)
    path = tmp_path_factory.mktemp("rt") / "t.csv"
    path.write_text(buffer.getvalue())
    frame, structural = read_csv(path, "id")
    assert structural.height == 0, structural.rows()
    expected = [tuple(v or None for v in record) for record in records]
    # A record whose every value is blank is a blank line, not a row (our ids never are).
    assert frame.select("id", "a", "b").rows() == expected


@pytest.fixture(scope="module")
def export_100k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export100k")
    generate(100_000, folder, seed=3, fmt="csv")
    return folder


def break_lines(path: Path, changes: dict[int, tuple[str, str]]) -> None:
    """Replace text on the given 1-based physical lines (old -> new, first occurrence)."""
    lines = path.read_text().split("\n")
    for number, (old, new) in changes.items():
        assert old in lines[number - 1], (number, lines[number - 1])
        lines[number - 1] = lines[number - 1].replace(old, new, 1)
    path.write_text("\n".join(lines))


def test_extra_fields_in_a_100k_export_are_rejects_not_a_panic(
    export_100k: Path, tmp_path: Path, invoke: Invoke
) -> None:
    """Issue 9.1: two amounts written `49,00` (an extra field) on lines 11 and 2000 of
    payments.csv, and two extra-field rows in customers.csv: exit 1, four rows set aside."""
    data = tmp_path / "exports"
    data.mkdir()
    for name in HEADERS:
        (data / f"{name}.csv").write_bytes((export_100k / f"{name}.csv").read_bytes())
    payments = (data / "payments.csv").read_text().split("\n")
    amounts = {n: payments[n - 1].split(",")[3] for n in (11, 2000)}
    break_lines(data / "payments.csv", {n: (a, a.replace(".", ",")) for n, a in amounts.items()})
    break_lines(data / "customers.csv", {500: (",", ",,"), 70_000: (",", ",x,")})
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    found = rejects(tmp_path / "out-rejects.csv")
    whole_rows = found.filter(pl.col("column") == "*").select("file", "line")
    assert sorted(whole_rows.rows()) == [
        ("customers.csv", "500"),
        ("customers.csv", "70000"),
        ("payments.csv", "11"),
        ("payments.csv", "2000"),
    ]
    # Everything else set aside names one of the two broken customers.
    others = found.filter(pl.col("column") != "*").get_column("reason")
    assert others.str.contains("was set aside").all(), others.to_list()
    counts = rows_per_file(result.stderr)
    assert counts["customers.csv"][0] == 100_000
    assert counts["customers.csv"][2] == 2
    for read, used, rejected, left_out in counts.values():
        assert read == used + rejected + left_out
    reasons = found.filter(pl.col("file") == "payments.csv", pl.col("column") == "*")
    assert (
        reasons.get_column("reason").str.starts_with("row has 6 fields but the header has 5").all()
    )


def test_header_names_that_look_like_patterns_are_plain_names(
    tmp_path: Path, invoke: Invoke
) -> None:
    """`*` and `^x$` are column names, never a wildcard or a pattern (the fuzzer found `*`)."""
    data = write_exports(tmp_path / "exports", BASE)
    (data / "customers.csv").write_text(
        "customer_id,*,name,^x$,origin,created_on\n"
        "C-1,a,Ann Lee,b,web,2024-01-10\n"
        "C-2,c,Bo Chen,d,referral,2024-02-01\n"
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.stderr
    out = output_of(tmp_path / "out.csv")
    assert out.select("customer_id", "name").rows() == [("C-1", "Ann Lee"), ("C-2", "Bo Chen")]
    assert "'*', '^x$'" in flat(result.stderr)


def test_an_odd_quote_inside_an_unquoted_value_opens_nothing(tmp_path: Path) -> None:
    """Review: `size 5" mat` is one value (the quote is not at a field's start), so a line
    with one quote is a row like any other, not the start of a value spanning lines."""
    path = write(
        tmp_path / "p.csv",
        'id,name,note\nC-1,Ben 6" Adeyemi,ok\nC-2,Ann,size 5" mat\nC-3,"Cy\nDi",x\nC-4,Ed,y\n',
    )
    frame, structural = read_csv(path, "id")
    assert frame.select("_line", "id", "name", "note").rows() == [
        (2, "C-1", 'Ben 6" Adeyemi', "ok"),
        (3, "C-2", "Ann", 'size 5" mat'),
        (4, "C-3", "Cy\nDi", "x"),
        (6, "C-4", "Ed", "y"),
    ]
    assert structural.height == 0


def test_a_line_inside_a_value_may_close_one_value_and_open_the_next(tmp_path: Path) -> None:
    """Two values spanning lines in one record: the middle line closes one and opens another."""
    path = write(tmp_path / "p.csv", 'id,a,b\nK1,"x\ny","z\nw"\nK2,p,q\n')
    frame, structural = read_csv(path, "id")
    assert frame.select("id", "a", "b").rows() == [("K1", "x\ny", "z\nw"), ("K2", "p", "q")]
    assert structural.height == 0


def test_zero_bytes_in_rows_of_a_many_chunk_frame_are_set_aside() -> None:
    """Rows with a NUL filtered out of values in three chunks beside a line column of one
    keep an empty chunk between them, over which Polars 2.1's pl.format panicked ("assertion
    failed: i < self.len()") while their rejects were written; the fuzz test met it at
    100,000 customers."""

    def chunk(start: int) -> pl.DataFrame:
        ids = [f"P-{i}" for i in range(start, start + 10)]
        ids = [f"\x00{i}" if i in ("P-0", "P-25") else i for i in ids]
        return pl.DataFrame({field(0): ids, field(1): ["recurring"] * 10})

    values = pl.concat([chunk(0), chunk(10), chunk(20)], rechunk=False)
    line = pl.Series("_line", range(2, 32), dtype=pl.Int64)
    frame = pl.DataFrame([line, *values.get_columns()])  # as the fast path makes it
    assert [c.n_chunks() for c in frame.get_columns()] == [1, 3, 3]
    path = Path("payments.csv")
    names = ["payment_id", "kind"]
    kept, rejects = _set_aside_zero_bytes(path, frame, names, True)
    assert kept.height == 28
    assert rejects.get_column("line").to_list() == [2, 27]
    assert rejects.get_column("column").to_list() == ["payment_id", "payment_id"]
    assert rejects.get_column("value").to_list() == ["\\x00P-0,recurring", "\\x00P-25,recurring"]


# Names the reader gives columns of its own while it splits a file: a header may hold them.
_READERS_NAMES = ["_raw", "_parts", "_ok", "_nul_column", "_nul_at", "_nul_place", "_field_0"]


@pytest.mark.parametrize(
    "row",
    [
        pytest.param("1,a,b,c,d,e,f,g", id="fast path"),
        pytest.param('1,"a",b,c,d,e,f,g', id="grammar"),
        pytest.param("1,a,b,c,d,e,f,g\n2,\x00,b,c,d,e,f,g", id="fast path, a NUL"),
        pytest.param('1,"a",b,c,d,e,f,g\n2,\x00,b,c,d,e,f,g', id="grammar, a NUL"),
    ],
)
def test_a_header_may_use_the_readers_own_column_names(tmp_path: Path, row: str) -> None:
    """A column named `_raw` (or any name the reader uses while it splits) is a column like
    any other: its values under its name, whichever path reads the file. It crashed the run
    ("internal error", exit 3) or was dropped without a word before."""
    path = tmp_path / "t.csv"
    path.write_text("id," + ",".join(_READERS_NAMES) + "\n" + row + "\n")
    frame, rejects = read_csv(path, "id")
    assert frame.columns == ["_line", "id", *_READERS_NAMES]
    assert frame.row(0) == (2, "1", "a", "b", "c", "d", "e", "f", "g")
    if "\x00" in row:
        assert rejects.select("line", "column").rows() == [(3, "_raw")]
    else:
        assert rejects.is_empty()


def test_an_export_column_named_raw_is_an_ignored_column(tmp_path: Path, invoke: Invoke) -> None:
    """The run goes on, naming the column as not in the contract (a quote in the file: the
    grammar's path, where the run stopped with an internal error)."""
    tables = with_rows(customers=['C-99,"Ann",walk-in,2024-01-05'])
    tables["customers"] = [f"{row},x" for row in tables["customers"]]
    data = write_exports(tmp_path / "data", tables)
    path = data / "customers.csv"
    path.write_text(path.read_text().replace("created_on\n", "created_on,_raw\n", 1))
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.stderr
    assert "'_raw'" in result.stderr
    assert "C-99" in output_of(tmp_path / "out.csv").get_column("customer_id").to_list()
