"""Reading the exports in turn (issue 23, CSV memory): validation splits one CSV file at a
time and lets its text go once the table is validated, instead of holding all four files'
text from the start of the run to its end (at 1,000,000 customers, 2.8 -> 2.1 GB at the peak).

And the used rows filtered inside the validating pass: rows that passed but did not exist on
the as-of day are counted, not kept, whenever the repeated ids are known before the pass."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

from followup_cli.core.errors import InputFileError
from followup_cli.core.schema import LINE, TABLES, Table
from followup_cli.reading import loading
from followup_cli.reading.loading import Exports, read_table
from followup_cli.reading.locate import locate_tables
from followup_cli.reading.repeats import FIRST_LINE
from followup_cli.reading.run import read_and_validate
from followup_cli.reading.validation import in_turn, validate
from followup_cli.synthetic.generate import generate

from .conftest import AS_OF, HEADERS, write_exports

CUSTOMERS = ["C-1,Ann,web,2024-01-01", "C-2,Bob,web,2024-01-01", "C-3,Cy,web,2024-09-01"]
AGREEMENTS = ["A-1,C-1,2024-01-01,0,0,active,,30.00,", "A-2,C-3,2024-09-02,0,0,active,,30.00,"]
PAYMENTS = [
    "P-1,C-1,2024-01-05,30.00,recurring",
    "P-2,C-1,2024-09-05,30.00,recurring",  # after the as-of date: left out
    "P-3,C-3,2024-09-05,30.00,recurring",  # names a customer created after it: left out
    "P-4,C-2,2024-02-05,30.00,one-off",
]
EVENTS = [
    "E-1,C-2,2024-07-01T10:00:00,class,attended",
    "E-2,C-2,2024-08-01T10:00:00,class,scheduled",
]


def _folder(tmp_path: Path) -> Path:
    tables = {"customers": CUSTOMERS, "agreements": AGREEMENTS, "payments": PAYMENTS}
    return write_exports(tmp_path / "exports", {**tables, "events": EVENTS})


def test_one_csv_file_is_held_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each table other than customers is read, validated and let go before the next is
    read; reading them all first (as before) held every file's text at once."""
    steps: list[str] = []
    reading, letting_go = loading.read_table, Exports.done

    def read(table: loading.Table, path: Path | None) -> loading.RawTable:
        steps.append(f"read {table.name}")
        return reading(table, path)

    def done(self: Exports, name: str) -> None:
        steps.append(f"done {name}")
        letting_go(self, name)

    monkeypatch.setattr(loading, "read_table", read)
    monkeypatch.setattr(Exports, "done", done)
    validated, _, raw = read_and_validate(_folder(tmp_path), {}, AS_OF)
    # CSV files the largest first (payments, 4 rows), the rest in the tables' order among
    # equals: no table's kept rows lie under the largest file's text.
    assert steps == [
        "read customers",
        "read payments",
        "done payments",
        "read agreements",
        "done agreements",
        "read events",
        "done events",
    ]
    # What is handed on keeps every count, and the customers' rows (for --carry, explain).
    assert raw["customers"].frame.collect().height == 3
    for name in ("agreements", "payments", "events"):
        assert raw[name].frame.collect().height == 0
        assert raw[name].rows == len(
            {"agreements": AGREEMENTS, "payments": PAYMENTS}.get(name, EVENTS)
        )
    assert validated.payments.height == 2


def _as_parquet(folder: Path, names: tuple[str, ...]) -> None:
    for name in names:
        csv = folder / f"{name}.csv"
        pl.read_csv(csv, infer_schema=False).write_parquet(folder / f"{name}.parquet")
        csv.unlink()


def test_parquet_tables_go_after_csv_ones_and_largest_last(tmp_path: Path) -> None:
    """A Parquet file holds no text in memory: the largest goes last, so that the others'
    working memory is not on top of its kept rows; CSV files this run splits go first, the
    largest first."""
    everything = _folder(tmp_path / "all")
    _as_parquet(everything, ("agreements", "payments", "events"))
    # payments 4 rows, agreements and events 2 each: the tables' order among equals.
    assert in_turn(Exports(locate_tables(everything, {}))) == ["agreements", "events", "payments"]
    mixed = _folder(tmp_path / "mixed")
    _as_parquet(mixed, ("agreements", "payments"))
    assert in_turn(Exports(locate_tables(mixed, {}))) == ["events", "agreements", "payments"]
    text = _folder(tmp_path / "text")
    assert in_turn(Exports(locate_tables(text, {}))) == ["payments", "agreements", "events"]
    # A bucket's tables are held already, their text split: the largest last, as Parquet's.
    held = {name: read_table(TABLES[name], path) for name, path in locate_tables(text, {}).items()}
    assert in_turn(Exports.held(held)) == ["agreements", "events", "payments"]


def test_headers_are_checked_before_any_row_is_read(tmp_path: Path) -> None:
    """A required column missing from a later file is named before any file's rows are split,
    and of two such files the first in the tables' order (docs/decisions.md)."""
    folder = _folder(tmp_path)
    customers = folder / "customers.csv"  # a byte that is not UTF-8 in its rows: not read yet
    customers.write_bytes(customers.read_bytes() + b"C-9,Zo\xff,web,2024-01-01\n")
    (folder / "events.csv").write_text("event_id,starts_at,kind,outcome\nE-1,2024-07-01,class,\n")
    (folder / "payments.csv").write_text("payment_id,paid_on,amount,kind\nP-1,2024-01-05,1,x\n")
    located = locate_tables(folder, {})
    with pytest.raises(InputFileError, match=r"payments\.csv: required column customer_id"):
        Exports(located)


def test_a_let_go_table_keeps_what_the_summary_reads(tmp_path: Path) -> None:
    folder = write_exports(
        tmp_path / "e",
        {**{name: [] for name in HEADERS}, "payments": ['P-1,C-1,2024-01-05,30.00,recurring,"x']},
    )
    raw = read_table(TABLES["payments"], folder / "payments.csv")
    kept = raw.without_rows()
    assert (
        kept.frame.collect().height == 0
        and kept.frame.collect_schema() == raw.frame.collect_schema()
    )
    assert (kept.rows, kept.rows_read, kept.unknown_columns) == (raw.rows, raw.rows_read, ())
    assert kept.structural_rejects.equals(raw.structural_rejects)
    assert kept.structural_rejects.height == 1


def test_a_repeat_dated_after_the_as_of_day_is_still_set_aside(tmp_path: Path) -> None:
    """With the repeated ids known before the pass (a bucket's, SPEC 10), rows not existing
    on the as-of day are not kept; a repeated line among them must still be rejected."""
    payments = [*PAYMENTS, "P-1,C-1,2024-09-09,30.00,recurring"]  # line 6 repeats line 2
    folder = write_exports(
        tmp_path / "exports",
        {"customers": CUSTOMERS, "agreements": AGREEMENTS, "payments": payments, "events": EVENTS},
    )
    located = locate_tables(folder, {})
    raw = {name: read_table(TABLES[name], located[name]) for name in TABLES}
    given = pl.DataFrame(
        {LINE: [6], FIRST_LINE: [2]}, schema={LINE: pl.Int64, FIRST_LINE: pl.Int64}
    )
    empty = given.clear()
    validated = validate(raw, AS_OF, {"payments": given, "agreements": empty, "events": empty})
    count = next(c for c in validated.counts if c.table == "payments")
    # read 5 = used 2 (P-1, P-4) + rejected 1 (line 6) + left out 2 (P-2, P-3)
    assert (count.read, count.used, count.rejected, count.left_out) == (5, 2, 1, 2)
    rejected = validated.rejects.filter(pl.col("file") == "payments.csv")
    assert rejected.get_column("line").to_list() == [6]
    assert "line 2 has it already" in rejected.get_column("reason").item()
    # The same rows used as when the repeats are found in the pass itself (one pass).
    found = validate(raw, AS_OF)
    assert found.payments.sort(LINE if LINE in found.payments.columns else "paid_on").equals(
        validated.payments.sort(LINE if LINE in validated.payments.columns else "paid_on")
    )
    assert found.counts == validated.counts


def test_reading_parquet_up_front_is_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parquet files are scanned when the exports are looked at; that time is the read stage's
    once, and validation's time is what remains (it was counted twice: read 2x, validate < 0)."""
    folder = tmp_path / "parquet"
    generate(50, folder, fmt="parquet")
    scanning = loading._scan_parquet

    def slow(path: Path, table: Table) -> tuple[pl.LazyFrame, int]:
        time.sleep(0.25)
        return scanning(path, table)

    monkeypatch.setattr(loading, "_scan_parquet", slow)
    started = time.perf_counter()
    _, timings, _ = read_and_validate(folder, {}, AS_OF)
    whole = time.perf_counter() - started
    assert timings["read"] >= 1.0  # the four slowed scans
    assert timings["validate"] >= 0
    assert timings["read"] + timings["validate"] <= whole
