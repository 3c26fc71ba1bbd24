"""Issue 19, each decision once: the header of a customers CSV, an output read back, the latest
earlier snapshot and the files beside the output are each decided by one function, so the paths
that use them cannot disagree."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from followup_cli.core.errors import InputFileError
from followup_cli.core.money import MONEY_DTYPE
from followup_cli.core.schema import FILES_OWN_LINE, LINE, OUTPUT_SCHEMA, normalise_name
from followup_cli.nightly import history, stored_nights
from followup_cli.nightly.changes import changes
from followup_cli.nightly.earlier_output import read_output
from followup_cli.outputs.destinations import beside
from followup_cli.outputs.lists import carried_columns
from followup_cli.outputs.safe_csv import guard_formulas
from followup_cli.outputs.serialise import write_frame
from followup_cli.reading.csv_header import csv_header
from followup_cli.reading.csv_reader import read_csv

ROWS = "C-1,2024-01-05,555 0100,a@b\nC-2,2024-02-05,555 0101,c@d\n"

HEADERS = [
    # A BOM, a quoted name with a comma and a doubled quote, spaces, mixed case.
    '\ufeffcustomer_id,created_on," Phone, Home ","E""Mail"\n',
    # Names in quotes and out, a repeated name, the export's own _line column.
    '"Customer_ID",Created_On,phone,phone\n',
    "customer_id,created_on,_line,Mobile Phone\n",
    # Quotes inside an unquoted name are ordinary characters; a CRLF line end.
    'customer_id,created_on,size 5" mat,x\r\n',
]


@pytest.mark.parametrize("header", HEADERS)
def test_carry_reads_the_header_the_reader_reads(tmp_path: Path, header: str) -> None:
    """--carry names each column exactly as the run's reader names it, so a carried column is
    always one the run read."""
    path = tmp_path / "customers.csv"
    path.write_text(header + ROWS, encoding="utf-8", newline="")
    frame, ragged = read_csv(path, "customer_id")
    assert ragged.is_empty()
    read = [c for c in frame.columns if c != LINE]
    assert csv_header(path) == read
    extra = [c for c in read[2:] if c != FILES_OWN_LINE]
    chosen = carried_columns(path, extra)
    assert chosen == {normalise_name(c): c for c in extra}
    assert set(chosen.values()) <= set(frame.columns)


@pytest.mark.parametrize(
    "content",
    [
        'customer_id,created_on,"Phone"x\nC-1,2024-01-05,1\n',  # text after a closing quote
        'customer_id,created_on,"Pho\nne"\nC-1,2024-01-05,1\n',  # a name over two lines
        "\ufeffcustomer_id,created_on,phone\nC-1,2024-01-05,1\n".encode("utf-16"),
        b"customer_id,created_on,ph\xe9ne\nC-1,2024-01-05,1\n",  # Latin-1, not UTF-8
    ],
)
def test_carry_refuses_a_header_as_the_reader_does(tmp_path: Path, content: str | bytes) -> None:
    """A header the reader refuses is refused by --carry too, in the reader's own sentence
    (csv.reader took `"Phone"x` for Phonex, and a UTF-16 file for one with no columns)."""
    path = tmp_path / "customers.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(InputFileError) as by_reader:
        read_csv(path, "customer_id")
    with pytest.raises(InputFileError) as by_carry:
        carried_columns(path, ["phonex", "phone", "pho"])
    assert str(by_carry.value) == str(by_reader.value)


def _output() -> pl.DataFrame:
    """An output frame as followup writes it, with what a CSV must quote and guard."""
    return pl.DataFrame(
        {
            "customer_id": ["007", "=HYPERLINK(1)", "@18", " +1", "C,5"],
            "name": ['Ann "A" Lee', "Bo\nKing", None, "-minus", "Zoë"],
            "customer_type": ["Customer"] * 5,
            "follow_up_status": ["Disabled", "Delinquent Customer", "Active", "Active", "Lead"],
            "reason": ["line one\nline two", "a, b", '"quoted"', "=1+1", "\tTAB"],
            "account_status": ["Disabled", "Warning", "Paid in full", "Due", "Paid in full"],
            "balance": [Decimal("-12.50"), Decimal("0.00"), Decimal("3.10"), None, Decimal("1")],
            "past_due": [Decimal("12.50"), None, Decimal("0"), Decimal("0"), Decimal("0")],
            "oldest_unpaid_on": [dt.date(2024, 1, 31), None, None, dt.date(1999, 12, 31), None],
            "days_in_arrears": [182, None, 0, 9000, None],
            "last_paid_on": [dt.date(2024, 7, 1), None, dt.date(2020, 2, 29), None, None],
            "last_visit_on": [None, dt.date(2024, 7, 31), None, None, dt.date(1999, 1, 1)],
            "account_reason": ["overdue", None, "", "x", "y"],
            "data_issues": [0, 2, 0, 1, 0],
            "phone": ["=cmd", "555", None, "+44", "-"],  # a carried column stays text
        },
        schema_overrides={n: t for n, t in OUTPUT_SCHEMA.items() if n != "customer_id"},
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_an_output_reads_back_as_the_frame_written(tmp_path: Path, fmt: str) -> None:
    """--previous and --history read an output followup wrote back to the very frame, with the
    output's types from core.schema: multi-line and quoted reasons, guarded formulas, money."""
    frame = _output()
    path = tmp_path / f"followup.{fmt}"
    write_frame(guard_formulas(frame) if fmt == "csv" else frame, path, fmt)
    back = read_output(path)
    assert dict(back.select(OUTPUT_SCHEMA.names()).schema) == dict(OUTPUT_SCHEMA)
    assert back.get_column("balance").dtype == MONEY_DTYPE
    assert back.select(frame.columns).equals(frame)


DAYS = [dt.date(2024, 7, d) for d in (1, 2, 5, 6, 20)]  # gaps of two days and of two weeks


def _stored(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    base = _output().drop("phone")
    with history.locked(runs):
        for night, day in enumerate(DAYS):
            statuses = ["Active", "Lead", "Disabled"]
            rows = base.with_columns(
                pl.lit(statuses[night % 3]).alias("follow_up_status"),
                pl.lit(str(night)).alias("reason"),
            ).head(5 - night % 2)
            history.store(runs, day, rows, b"{}")
    return runs


def test_the_latest_earlier_snapshot_is_one_decision(tmp_path: Path) -> None:
    """`reconcile --history` (a rerun of a stored date included) and `followup changes` compare
    with the same earlier snapshot, across gaps, and read it to the same changes."""
    runs = _stored(tmp_path)
    for day in DAYS[1:]:
        frm, to, frame = stored_nights.between(runs, None, day)
        previous = history.previous_snapshot(runs, day)
        assert previous == frm and to.as_of == day
        expected = changes(read_output(previous.output), read_output(to.output), frm.as_of, day)
        assert frame.equals(expected)
    for day in (dt.date(2024, 7, 4), dt.date(2024, 7, 19), dt.date(2024, 8, 1)):
        earlier = [d for d in DAYS if d < day][-1]
        found = history.previous_snapshot(runs, day)
        assert found is not None and found.as_of == earlier
        # --to a date between two runs: the run on or before it, compared with the one before.
        frm, to, _ = stored_nights.between(runs, None, day)
        assert to.as_of == earlier and history.previous_snapshot(runs, to.as_of) == frm
    assert history.previous_snapshot(runs, DAYS[0]) is None


@pytest.mark.parametrize(
    ("output", "rejects", "changed"),
    [
        (Path("out/followup.csv"), "out/followup-rejects.csv", "out/followup-changes.csv"),
        (Path("followup.xlsx"), "followup-rejects.csv", "followup-changes.csv"),
        (Path("night.tar.gz"), "night.tar-rejects.csv", "night.tar-changes.csv"),
        (Path("noext"), "noext-rejects.csv", "noext-changes.csv"),
        (Path(".hidden"), ".hidden-rejects.csv", ".hidden-changes.csv"),
        (Path("a b/ünï code.parquet"), "a b/ünï code-rejects.csv", "a b/ünï code-changes.csv"),
        (None, "followup-rejects.csv", "followup-changes.csv"),  # -o - (standard output)
        (Path("/dev/null"), "followup-rejects.csv", "followup-changes.csv"),
        (Path("/dev/stdout"), "followup-rejects.csv", "followup-changes.csv"),
    ],
)
def test_the_files_beside_the_output_are_one_decision(
    output: Path | None, rejects: str, changed: str
) -> None:
    """The rejects and the changes files go where the same function puts them: beside -o,
    named after it, or in the working folder for standard output and devices."""
    assert beside(output, "-rejects.csv", "followup-rejects.csv") == Path(rejects)
    assert beside(output, "-changes.csv", "followup-changes.csv") == Path(changed)
