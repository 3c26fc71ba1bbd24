"""A CSV export's dates, amounts and words read as categories, and its files looked at without a
memory map (issue 23, the CSV run's peak memory).

The columns whose values repeat (every DATE, DATETIME, COUNT, MONEY and VOCAB column of the
contract) come from the reader as `pl.Categorical`, four bytes a row instead of a 16-byte string
view; validation judges each distinct value once and maps the verdicts back by category. These
tests pin that the types are what the design says, by either reading path, and that nothing a
person sees changes: the same typed rows, the same rejects, word for word.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import polars as pl
import pytest

from followup_cli.core.schema import TABLES
from followup_cli.reading import csv_fast_path, csv_lines, loading
from followup_cli.reading.csv_lines import bytes_in
from followup_cli.reading.loading import read_table
from followup_cli.reading.parsing import DISTINCT_KINDS
from followup_cli.reading.run import load as load_exports
from tests.conftest import AS_OF, HEADERS, reconcile_rows, write_exports

PAYMENTS = ["P-1,C-1,2024-03-03,39.99,recurring", "P-2,C-1,2024-04-30,39.99,one-off"]


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param("", id="fast path"),
        pytest.param('P-3,C-1,2024-05-01,"5.00",recurring', id="grammar"),
    ],
)
def test_repeating_columns_come_as_categories_by_either_path(tmp_path: Path, extra: str) -> None:
    """Dates, amounts and words are categories; ids and free text stay text. A quote anywhere
    sends the file to the grammar's path, which gives the same types."""
    rows = [*PAYMENTS, extra] if extra else PAYMENTS
    folder = write_exports(tmp_path, {"payments": rows})
    raw = read_table(TABLES["payments"], folder / "payments.csv")
    assert raw.schema["payment_id"] == pl.String
    assert raw.schema["customer_id"] == pl.String
    for name in ("paid_on", "amount", "kind"):
        assert isinstance(raw.schema[name], pl.Categorical), name
    frame = raw.frame.collect().with_columns(pl.col(pl.Categorical).cast(pl.String))
    assert frame.row(0, named=True) == {
        "_line": 2,
        "payment_id": "P-1",
        "customer_id": "C-1",
        "paid_on": "2024-03-03",
        "amount": "39.99",
        "kind": "recurring",
    }
    if extra:
        assert frame.row(2)[4] == "5.00"  # the quotes taken off, as for text


def test_each_file_has_its_own_categories(tmp_path: Path) -> None:
    """One mapping per file, not Polars' global one (which is never let go): a file's
    categories go with its rows."""
    folder = write_exports(tmp_path, {"payments": PAYMENTS})
    first = read_table(TABLES["payments"], folder / "payments.csv").schema["paid_on"]
    second = read_table(TABLES["payments"], folder / "payments.csv").schema["paid_on"]
    assert isinstance(first, pl.Categorical) and isinstance(second, pl.Categorical)
    assert first.categories != second.categories
    assert first.categories != pl.Categories()


# Every kind of refused value in every repeating column, beside good ones, padded ones and
# empty ones, so that each verdict is taken from the categories and mapped back.
MESSY = {
    "customers": [
        "C-1,Ann,walk-in,2024-01-05",
        "C-2,Bob, Web ,2024-02-30",
        "C-3,Cy,,  2024-03-01 ",
        "C-4,Di,referral,",
        "C-5,Ed,walk-in,1024-01-01",
        "C-6,Flo,walk-in,2024-08-15",
    ],
    "agreements": [
        "A-1,C-1,2024-01-05,10,4,active,,39.99,",
        "A-2,C-1,2024-01-06,x,4,Active ,,39.999,2024-01-01",
        "A-3,C-2,2024-13-01,10,-1,pending,overdue,£12,",
        "A-4,C-3,2024-03-01,,,suspended,expired,$0.5,2025-03-01",
        "A-5,C-4,2024-03-01,1000000000,3,active,,¥5,",
        "A-6,C-5,2024-03-01,3,3,active,,39.99,2024-02-01",
    ],
    "payments": [
        "P-1,C-1,2024-03-03,39.99,recurring",
        "P-2,C-1,2024-04-31,39.99,recurring",
        "P-3,C-1, 2024-05-01 ,-5,one off",
        "P-4,C-2,2024-05-01,0.00,refund",
        "P-5,C-3,2024-05-01,,One-Off",
        "P-6,C-9,2024-05-01,12.5,recurring",
        "P-1,C-1,2024-03-03,39.99,recurring",
        "P-7,C-1,2124-09-01,1e3,recurring",
    ],
    "events": [
        "E-1,C-1,2024-07-01 10:00,class,attended",
        "E-2,C-1,2024-07-01T25:00,class,attended",
        "E-3,C-2,2024-07-02,trial,no show",
        "E-4,C-3,,class,No-Show",
        "E-5,C-4,2024-07-03 09:30:00,visit,maybe",
        'E-6,C-1,"2024-07-04 10:00",class," Attended"',  # a quote: the grammar's path
    ],
}


def test_the_categories_give_the_same_rows_and_rejects_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation of a messy export read with categories equals its validation read as text:
    the same typed rows, the same rejects (line, column, value, reason), the same output."""
    folder = write_exports(tmp_path / "exports", MESSY)
    with_categories, _ = load_exports(folder, {}, AS_OF)
    output = reconcile_rows(folder)
    repeating = [c for t in TABLES.values() for c in t.columns if c.kind in DISTINCT_KINDS]
    assert repeating, "the contract has repeating columns"
    with monkeypatch.context() as patched:
        patched.setattr(loading, "DISTINCT_KINDS", frozenset())  # every column as text
        as_text, _ = load_exports(folder, {}, AS_OF)
        assert isinstance(
            read_table(TABLES["payments"], folder / "payments.csv").schema["paid_on"], pl.String
        )
        output_as_text = reconcile_rows(folder)
    assert with_categories.rejects.height >= 20  # the file is as messy as it looks
    assert with_categories.rejects.equals(as_text.rejects)
    for name in TABLES:
        # A table's typed rows come in no particular order (the pipeline orders them).
        ours, theirs = getattr(with_categories, name), getattr(as_text, name)
        assert ours.sort(ours.columns).equals(theirs.sort(theirs.columns)), name
    assert with_categories.counts == as_text.counts
    assert output.equals(output_as_text)


def test_a_file_is_looked_at_without_a_memory_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages of a mapped file count in the run's resident memory while they are looked
    at (the 1,000,000-customer payments file: 0.43 GB at the run's peak), so the reader looks
    for zero bytes, quotes and carriage returns by reading, on both paths."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a file was memory-mapped")

    monkeypatch.setattr(mmap, "mmap", refused)
    folder = write_exports(tmp_path / "exports", {"payments": PAYMENTS})
    (tmp_path / "quoted.csv").write_text(HEADERS["payments"] + '\nP-1,C-1,2024-03-03,"1.00",x\n')
    (tmp_path / "nul.csv").write_bytes(HEADERS["payments"].encode() + b"\nP-1,C-1,\x00,1,x\n")
    for path in (folder / "payments.csv", tmp_path / "quoted.csv", tmp_path / "nul.csv"):
        assert read_table(TABLES["payments"], path).rows_read == 1 + (path.name == "payments.csv")


def test_bytes_in_finds_a_byte_in_any_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes found in any chunk, the first and last byte of a chunk and a short last chunk
    included; an empty file holds none."""
    monkeypatch.setattr(csv_lines, "_SCAN_BYTES", 8)
    path = tmp_path / "f.csv"
    path.write_bytes(b'"abcdefg' + b"hijklmn\r" + b"op\x00")
    assert bytes_in(path, (b'"', b"\r", b"\x00", b"z")) == {b'"', b"\r", b"\x00"}
    path.write_bytes(b"abcdefgh" * 3)
    assert bytes_in(path, (b"h", b"z")) == {b"h"}
    (tmp_path / "empty.csv").write_bytes(b"")
    assert bytes_in(tmp_path / "empty.csv", (b"\x00",)) == frozenset()


def test_the_size_check_sums_past_4_gib() -> None:
    """The fast path's size check adds the values' lengths as 64-bit numbers: Polars sums a
    column of 32-bit lengths in 32 bits, which wraps past 4 GiB (such a file would have been
    split by the grammar, needlessly). 5,000 values of 1 MiB held as one category each."""
    value = pl.Series("a", ["x" * 2**20], dtype=pl.Categorical).new_from_index(0, 5_000)
    frame = value.to_frame()
    total = frame.select(pl.sum_horizontal(csv_fast_path._bytes(frame.schema))).item()
    assert total == 5_000 * 2**20
