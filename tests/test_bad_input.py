"""Bad exports (SPEC 6): a catalogue of broken inputs and what the command does with each.

A bad row is set aside with file, line, record_id, column, value and reason, the rest is
reconciled and the exit code is 1. A broken file stops the run with exit code 3 and one sentence
naming the file and what to do. Nothing is ever lost: rows read = used + rejected + left out,
per table.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from followup_cli.core.schema import TABLES
from followup_cli.core.tables import TableCount
from followup_cli.outputs.summary import describe_rejects
from followup_cli.reading.loading import read_table
from followup_cli.reading.locate import locate_tables
from followup_cli.reading.validation import validate
from tests.conftest import AS_OF, HEADERS, write_exports

# Two people, one recurring agreement, one payment, one past trial: all clean.
BASE: dict[str, list[str]] = {
    "customers": ["C-1,Ann Lee,web,2024-01-10", "C-2,Bo Chen,referral,2024-02-01"],
    "agreements": ["A-1,C-1,2024-03-01,,,active,,4.00,"],
    "payments": ["P-1,C-1,2024-03-29,4.00,recurring"],
    "events": ["E-1,C-2,2024-07-20 10:00,trial,attended"],
}

Invoke = Callable[..., Any]


def with_rows(**extra: list[str]) -> dict[str, list[str]]:
    """The clean base exports with `extra` rows appended to the named tables."""
    return {name: [*rows, *extra.get(name, [])] for name, rows in BASE.items()}


def run(invoke: Invoke, data: Path, *options: str) -> Any:
    """`followup reconcile` on `data` as of 2024-07-31; never a traceback, whatever happens."""
    result = invoke("reconcile", "--data", str(data), "--as-of", AS_OF.isoformat(), *options)
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def flat(text: str) -> str:
    """Whitespace folded, so a sentence Rich wrapped at the terminal width still matches."""
    return " ".join(text.split())


def where(file: str, line: int, column: str) -> str:
    """How a message on stderr points at a value: file, line and (unless the row) column."""
    return f"{file} line {line}" + ("" if column == "*" else f", column {column}")


def rejects_of(path: Path) -> list[tuple[str, int, str, str, str]]:
    """The rejects file's rows without their record_id (see `record_ids_of`)."""
    frame = pl.read_csv(path, infer_schema=False)
    assert frame.columns == ["file", "line", "record_id", "column", "value", "reason"]
    return [(f, int(n), c, v or "", r) for f, n, _, c, v, r in frame.iter_rows()]


def record_ids_of(path: Path) -> list[str]:
    return [r or "" for r in pl.read_csv(path, infer_schema=False).get_column("record_id")]


def output_of(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


ROWS_PER_FILE = re.compile(
    r"(\S+\.(?:csv|parquet)|\w+ \(--without\))\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)"
)


def rows_per_file(stderr: str) -> dict[str, tuple[int, int, int, int]]:
    """The summary's "Rows per file" table: file -> (read, used, rejected, after as-of)."""
    found: dict[str, tuple[int, int, int, int]] = {}
    for line in stderr.splitlines():
        match = ROWS_PER_FILE.search(line)
        if match:  # the table comes first: a later line quoting a value cannot override it
            read, used, rejected, left_out = (int(n.replace(",", "")) for n in match.groups()[1:])
            found.setdefault(match.group(1), (read, used, rejected, left_out))
    return found


# --- Bad rows: set aside, the rest reconciled, exit 1 -------------------------------------------


@dataclass(frozen=True)
class BadRow:
    """Rows added to the clean base, and the rejects they must give (reason: how it starts)."""

    id: str
    rows: dict[str, list[str]]
    rejects: list[tuple[str, int, str, str, str]]
    people: tuple[str, ...] = ("C-1", "C-2")  # still in the output


LONG_NAME = "x" * 5000

BAD_ROWS = [
    BadRow(
        "count-is-a-word",
        {"agreements": ["A-2,C-2,2024-03-01,five,,active,,,"]},
        [("agreements.csv", 3, "session_quantity", "five", "not a whole number")],
    ),
    BadRow(
        "date-is-a-word",
        {"customers": ["C-3,Cy Diaz,web,yesterday"]},
        [("customers.csv", 4, "created_on", "yesterday", "not a date; expected YYYY-MM-DD")],
    ),
    BadRow(
        "date-in-another-order",
        {"payments": ["P-2,C-1,31/03/2024,4.00,recurring"]},
        [("payments.csv", 3, "paid_on", "31/03/2024", "not a date; expected YYYY-MM-DD")],
    ),
    BadRow(
        "money-is-a-word",
        {"payments": ["P-2,C-1,2024-03-01,four,recurring"]},
        [("payments.csv", 3, "amount", "four", "not an amount of money")],
    ),
    BadRow(
        "impossible-date",
        {"payments": ["P-2,C-1,2024-02-30,4.00,recurring"]},
        [("payments.csv", 3, "paid_on", "2024-02-30", "not a real calendar date")],
    ),
    BadRow(
        "impossible-time",
        {"events": ["E-2,C-2,2024-07-20 25:00,trial,attended"]},
        [("events.csv", 3, "starts_at", "2024-07-20 25:00", "not a real calendar date or time")],
    ),
    BadRow(
        # chrono reads a 60th second as a leap second: 23:59:60 became the next day's 00:00
        # (a trial on the 31st booked on the 1st), where no such second was.
        "leap-second",
        {"events": ["E-2,C-2,2024-07-31 23:59:60,trial,scheduled"]},
        [("events.csv", 3, "starts_at", "2024-07-31 23:59:60", "not a real calendar date or time")],
    ),
    BadRow(
        "second-sixty-mid-day",
        {"events": ["E-2,C-2,2024-07-20T12:00:60,trial,attended"]},
        [("events.csv", 3, "starts_at", "2024-07-20T12:00:60", "not a real calendar date or time")],
    ),
    BadRow(
        "negative-payment",
        {"payments": ["P-2,C-1,2024-03-01,-4.00,recurring"]},
        [("payments.csv", 3, "amount", "-4.00", "amount must be more than 0")],
    ),
    BadRow(
        "zero-payment",
        {"payments": ["P-2,C-1,2024-03-01,0.00,recurring"]},
        [("payments.csv", 3, "amount", "0.00", "amount must be more than 0")],
    ),
    BadRow(
        "negative-fee",
        {"agreements": ["A-2,C-2,2024-03-01,,,active,,£-4.00,"]},
        [("agreements.csv", 3, "monthly_fee", "£-4.00", "monthly_fee must be 0 or more")],
    ),
    BadRow(
        "three-decimal-money",
        {"payments": ["P-2,C-1,2024-03-01,4.001,recurring"]},
        [("payments.csv", 3, "amount", "4.001", "more than 2 decimal places")],
    ),
    BadRow(
        "unknown-currency-symbol",
        {"payments": ["P-2,C-1,2024-03-01,¥5,recurring"]},
        [("payments.csv", 3, "amount", "¥5", "unknown currency symbol '¥'; only £ $ €")],
    ),
    BadRow(
        "negative-count",
        {"agreements": ["A-2,C-2,2024-03-01,10,-1,active,,,"]},
        [("agreements.csv", 3, "sessions_remaining", "-1", "sessions_remaining must be 0 or more")],
    ),
    BadRow(
        "digits-of-another-script",
        {"agreements": ["A-2,C-2,2024-03-01,５,,active,,,"]},
        [("agreements.csv", 3, "session_quantity", "５", "not a whole number")],
    ),
    BadRow(
        "unknown-status",
        {"agreements": ["A-2,C-2,2024-03-01,,,paused,,,"]},
        [
            (
                "agreements.csv",
                3,
                "status",
                "paused",
                "unknown status 'paused'; expected one of: active, collections, inactive, "
                "suspended",
            )
        ],
    ),
    BadRow(
        "unknown-alert",
        {"agreements": ["A-2,C-2,2024-03-01,,,inactive,lapsed,,"]},
        [
            (
                "agreements.csv",
                3,
                "alert",
                "lapsed",
                "unknown alert 'lapsed'; expected one of: canceled, expired",
            )
        ],
    ),
    BadRow(
        "unknown-payment-kind",
        {"payments": ["P-2,C-1,2024-03-01,4.00,weekly"]},
        [
            (
                "payments.csv",
                3,
                "kind",
                "weekly",
                "unknown kind 'weekly'; expected one of: one-off, recurring",
            )
        ],
    ),
    BadRow(
        "unknown-event-outcome",
        {"events": ["E-2,C-2,2024-07-01 10:00,trial,maybe"]},
        [
            (
                "events.csv",
                3,
                "outcome",
                "maybe",
                "unknown outcome 'maybe'; expected one of: attended, canceled, no-show, scheduled",
            )
        ],
    ),
    BadRow(
        "duplicate-payment-id",
        {"payments": ["P-1,C-1,2024-04-30,99.00,recurring"]},
        [("payments.csv", 3, "payment_id", "P-1", "duplicate payment_id 'P-1': line 2 has it")],
    ),
    BadRow(
        "duplicate-customer-id-in-another-case",
        {"customers": [" c-1 ,Someone Else,web,2024-01-11"]},
        [("customers.csv", 4, "customer_id", " c-1 ", "duplicate customer_id 'c-1': line 2")],
    ),
    BadRow(
        "unknown-customer",
        {"payments": ["P-2,C-9,2024-03-01,4.00,recurring"]},
        [("payments.csv", 3, "customer_id", "C-9", "customer 'C-9' is not in the customers file")],
    ),
    BadRow(
        "customer-whose-row-was-rejected",
        {
            "customers": ["C-3,Cy Diaz,web,2024-02-30"],
            "payments": ["P-2,C-3,2024-03-01,4.00,recurring"],
        },
        [
            ("customers.csv", 4, "created_on", "2024-02-30", "not a real calendar date"),
            ("payments.csv", 3, "customer_id", "C-3", "customer 'C-3' was set aside (customers "),
        ],
    ),
    BadRow(
        "missing-required-value",
        {"payments": ["P-2,,2024-03-01,4.00,recurring"]},
        [("payments.csv", 3, "customer_id", "", "customer_id is missing; it is required")],
    ),
    BadRow(
        "blank-required-value",
        {"customers": ["C-3,Cy Diaz,web,   "]},
        [("customers.csv", 4, "created_on", "   ", "created_on is missing; it is required")],
    ),
    BadRow(
        "two-bad-values-in-one-row",
        {"payments": ["P-2,C-1,2024-13-01,-1,recurring"]},
        [
            ("payments.csv", 3, "paid_on", "2024-13-01", "not a real calendar date"),
            ("payments.csv", 3, "amount", "-1", "amount must be more than 0"),
        ],
    ),
    BadRow(
        "ragged-row-too-few-fields",
        {"payments": ["P-2,C-1,2024-03-01,4.00", "P-3,C-1,2024-04-30,4.00,recurring"]},
        [
            (
                "payments.csv",
                3,
                "*",
                "P-2,C-1,2024-03-01,4.00",
                "row has 4 fields but the header has 5",
            )
        ],
    ),
    BadRow(
        "ragged-row-too-many-fields",
        {"customers": ["C-3,Diaz, Cy,web,2024-03-01"]},
        [("customers.csv", 4, "*", "C-3,Diaz, Cy,web,2024-03-01", "row has 5 fields but the")],
    ),
    BadRow(
        "very-long-value",
        {"customers": [f"C-3,{LONG_NAME},web,2024-03-01"]},
        [("customers.csv", 4, "name", "x" * 200, "value is 5000 characters long; at most 1000")],
    ),
    BadRow(
        "end-date-before-purchase-date",
        {"agreements": ["A-2,C-2,2024-03-01,,,active,,4.00,2024-02-01"]},
        [
            (
                "agreements.csv",
                3,
                "end_date",
                "2024-02-01",
                "end_date 2024-02-01 is before purchase_date 2024-03-01",
            )
        ],
    ),
    BadRow(
        "stray-quote-does-not-swallow-the-rows-after-it",
        {
            "customers": [
                'C-3,"Cy Diaz,web,2024-03-01',
                "C-4,Di Egan,web,2024-03-01",
                'C-5,"Egan, Fi",web,2024-03-01',
            ],
            "payments": ["P-2,C-3,2024-03-01,4.00,recurring"],
        },
        [
            (
                "customers.csv",
                4,
                "*",
                'C-3,"Cy Diaz,web,2024-03-01',
                "a double quote on this line opens a value that would swallow the whole rows",
            ),
            ("payments.csv", 3, "customer_id", "C-3", "customer 'C-3' was set aside (customers "),
        ],
        people=("C-1", "C-2", "C-4", "C-5"),
    ),
]


@pytest.mark.parametrize("case", BAD_ROWS, ids=[c.id for c in BAD_ROWS])
def test_a_bad_row_is_set_aside_and_the_rest_reconciled(
    tmp_path: Path, invoke: Invoke, case: BadRow
) -> None:
    """Exit 1; stderr points at file, line and column; the rejects file says what and why,
    and names the row by its own key: the first field of every row here."""
    data = write_exports(tmp_path / "exports", with_rows(**case.rows))
    out = tmp_path / "out.csv"
    result = run(invoke, data, "-o", str(out))
    assert result.exit_code == 1, result.stderr
    err = flat(result.stderr)
    for file, line, column, _value, _reason in case.rejects:
        assert where(file, line, column) in err
    assert "out-rejects.csv" in err
    found = rejects_of(tmp_path / "out-rejects.csv")
    assert len(found) == len(case.rejects), found
    for got, (file, line, column, value, reason) in zip(found, case.rejects, strict=True):
        assert got[:4] == (file, line, column, value)
        assert got[4].startswith(reason), got[4]
    rows = with_rows(**case.rows)
    expected_ids = [
        rows[file.removesuffix(".csv")][line - 2].split(",")[0] for file, line, *_ in case.rejects
    ]
    assert record_ids_of(tmp_path / "out-rejects.csv") == expected_ids
    people = output_of(out).get_column("customer_id").to_list()
    assert people == list(case.people)


def test_the_first_of_two_duplicate_rows_is_kept(tmp_path: Path, invoke: Invoke) -> None:
    """A repeated id: the first row stands (its name, its money) and the later one is set aside."""
    clean = write_exports(tmp_path / "clean", BASE)
    twice = write_exports(
        tmp_path / "twice",
        with_rows(
            customers=["C-1,Someone Else,web,2024-01-11"],
            payments=["P-1,C-1,2024-04-30,99.00,recurring"],
        ),
    )
    run(invoke, clean, "-o", str(tmp_path / "clean.csv"))
    result = run(invoke, twice, "-o", str(tmp_path / "twice.csv"))
    assert result.exit_code == 1
    before, after = output_of(tmp_path / "clean.csv"), output_of(tmp_path / "twice.csv")
    assert after.get_column("name").to_list() == ["Ann Lee", "Bo Chen"]
    assert after.drop("data_issues").equals(before.drop("data_issues"))
    assert rejects_of(tmp_path / "twice-rejects.csv")[0][:4] == (
        "customers.csv",
        4,
        "customer_id",
        "C-1",
    )


# --- Files that are fine: odd but valid CSV ------------------------------------------------------


def test_a_header_only_file_is_an_empty_table(tmp_path: Path, invoke: Invoke) -> None:
    """A table with a header and no rows is valid: zero rows read, exit 0. (Payments are the
    exception while accounts owe: see test_run_edges.)"""
    data = write_exports(tmp_path / "exports", {**BASE, "events": []})
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.stderr
    assert rows_per_file(result.stderr)["events.csv"] == (0, 0, 0, 0)
    assert output_of(tmp_path / "out.csv").height == 2
    assert not (tmp_path / "out-rejects.csv").exists()


def test_a_header_without_a_final_newline_is_an_empty_table(tmp_path: Path, invoke: Invoke) -> None:
    """The header alone, not even a newline after it, is still a valid empty table."""
    data = write_exports(tmp_path / "exports", BASE)
    (data / "events.csv").write_text(HEADERS["events"])
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.stderr
    assert rows_per_file(result.stderr)["events.csv"] == (0, 0, 0, 0)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, invoke: Invoke) -> None:
    """Excel's 'CSV UTF-8' starts with a BOM; the first column is still customer_id."""
    clean = write_exports(tmp_path / "clean", BASE)
    data = write_exports(tmp_path / "exports", BASE)
    for name in TABLES:
        path = data / f"{name}.csv"
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    run(invoke, clean, "-o", str(tmp_path / "clean.csv"))
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "clean.csv").read_bytes()


def crlf(folder: Path) -> None:
    for path in folder.glob("*.csv"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def test_crlf_line_endings_are_accepted(tmp_path: Path, invoke: Invoke) -> None:
    """Windows line endings give the same output as Unix ones; no value keeps a stray CR."""
    clean = write_exports(tmp_path / "clean", BASE)
    data = write_exports(tmp_path / "exports", BASE)
    crlf(data)
    run(invoke, clean, "-o", str(tmp_path / "clean.csv"))
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "clean.csv").read_bytes()


def test_crlf_line_numbers_are_physical_lines(tmp_path: Path, invoke: Invoke) -> None:
    """With CRLF endings a bad row is still named by its line (header = line 1)."""
    data = write_exports(
        tmp_path / "exports",
        with_rows(
            payments=["P-2,C-1,2024-04-30,4.00,recurring", "P-3,C-1,2024-02-30,4.00,one-off"]
        ),
    )
    crlf(data)
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    assert where("payments.csv", 4, "paid_on") in flat(result.stderr)
    assert rejects_of(tmp_path / "out-rejects.csv") == [
        ("payments.csv", 4, "paid_on", "2024-02-30", "not a real calendar date")
    ]


def test_quoted_values_with_commas_and_quotes_are_accepted(tmp_path: Path, invoke: Invoke) -> None:
    """A value in double quotes may hold commas and doubled quotes; it is one value."""
    data = write_exports(
        tmp_path / "exports",
        {
            **BASE,
            "customers": [
                'C-1,"Lee, Ann ""Annie""",web,2024-01-10',
                "C-2,Bo Chen,referral,2024-02-01",
            ],
        },
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.stderr
    assert output_of(tmp_path / "out.csv").get_column("name").to_list() == [
        'Lee, Ann "Annie"',
        "Bo Chen",
    ]


@pytest.mark.parametrize("ending", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_quoted_newlines_keep_later_line_numbers_physical(
    tmp_path: Path, invoke: Invoke, ending: str
) -> None:
    """A value spanning two lines is one row; rows after it are named by their physical line."""
    customers = [
        'C-1,"Ann',
        'Lee",web,2024-01-10',  # lines 2-3: one row
        "C-2,Bo Chen,referral,2024-02-01",  # line 4
        "",  # line 5: blank, skipped
        "C-3,Cy Diaz,web,2024-02-30",  # line 6: bad
        'C-4,"Di,',
        'Egan",web,2024-03-01',  # lines 7-8: one row
        "C-5,Fi Gray,web,2024-03-32",  # line 9: bad
    ]
    data = tmp_path / "exports"
    write_exports(data, BASE)
    (data / "customers.csv").write_bytes(
        ending.join([HEADERS["customers"], *customers, ""]).encode()
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    err = flat(result.stderr)
    assert where("customers.csv", 6, "created_on") in err
    assert where("customers.csv", 9, "created_on") in err
    assert [r[:3] for r in rejects_of(tmp_path / "out-rejects.csv")] == [
        ("customers.csv", 6, "created_on"),
        ("customers.csv", 9, "created_on"),
    ]
    out = output_of(tmp_path / "out.csv")
    assert out.get_column("customer_id").to_list() == ["C-1", "C-2", "C-4"]
    # A line break inside a value is "\n" whatever the file's own line endings.
    assert out.get_column("name").to_list() == ["Ann\nLee", "Bo Chen", "Di,\nEgan"]
    assert rows_per_file(result.stderr)["customers.csv"] == (5, 3, 2, 0)


def test_blank_lines_are_skipped_and_do_not_shift_line_numbers(
    tmp_path: Path, invoke: Invoke
) -> None:
    """Blank lines are not rows; the line after them keeps its physical number."""
    data = write_exports(
        tmp_path / "exports",
        with_rows(payments=["", "   ", "P-2,C-1,2024-04-31,4.00,recurring", ""]),
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    assert rejects_of(tmp_path / "out-rejects.csv")[0][:3] == ("payments.csv", 5, "paid_on")
    assert rows_per_file(result.stderr)["payments.csv"] == (2, 1, 1, 0)


def test_a_stray_quote_far_from_any_other_quote_loses_no_rows(
    tmp_path: Path, invoke: Invoke
) -> None:
    """A quote that is never closed sets aside its own line only, however long the file."""
    people = [f"C-{n},Person {n},web,2024-03-01" for n in range(10, 1510)]
    data = write_exports(
        tmp_path / "exports", with_rows(customers=['C-3,"Cy Diaz,web,2024-03-01', *people])
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    assert where("customers.csv", 4, "*") in flat(result.stderr)
    assert [r[:3] for r in rejects_of(tmp_path / "out-rejects.csv")] == [("customers.csv", 4, "*")]
    assert rows_per_file(result.stderr)["customers.csv"] == (1503, 1502, 1, 0)
    assert output_of(tmp_path / "out.csv").height == 1502


def test_a_parquet_rejects_row_is_named_by_row_number(tmp_path: Path, invoke: Invoke) -> None:
    """In a Parquet file the line is the 1-based row number."""
    data = write_exports(tmp_path / "exports", {k: v for k, v in BASE.items() if k != "payments"})
    pl.DataFrame(
        {
            "payment_id": ["P-1", "P-2", "P-3"],
            "customer_id": ["C-1", "C-1", "C-1"],
            "paid_on": [dt.date(2024, 3, 29), dt.date(2024, 4, 30), None],
            "amount": ["4.00", "-4.00", "4.00"],
            "kind": ["recurring", "recurring", "recurring"],
        }
    ).with_columns(pl.col("amount").str.to_decimal(scale=2)).write_parquet(
        data / "payments.parquet"
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"), "--max-rejected", "100%")
    assert result.exit_code == 1, result.stderr
    assert [r[:4] for r in rejects_of(tmp_path / "out-rejects.csv")] == [
        ("payments.parquet", 2, "amount", "-4.00"),
        ("payments.parquet", 3, "paid_on", ""),
    ]
    assert where("payments.parquet", 2, "amount") in flat(result.stderr)


# --- Broken files: exit 3, one sentence, nothing written ------------------------------------------


def write_base(folder: Path) -> Path:
    return write_exports(folder, BASE)


def replace_file(name: str, content: bytes) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        write_base(folder)
        (folder / name).write_bytes(content)

    return make


def base_as_parquet(table: str, **overrides: pl.Expr) -> Callable[[Path], None]:
    """The base table as Parquet with the given columns overridden (e.g. the wrong type)."""

    def make(folder: Path) -> None:
        write_base(folder)
        source = folder / f"{table}.csv"
        frame = pl.read_csv(source, infer_schema=False)
        frame.with_columns(**overrides).write_parquet(folder / f"{table}.parquet")
        source.unlink()

    return make


def not_parquet(folder: Path) -> None:
    write_base(folder)
    (folder / "payments.csv").rename(folder / "payments.parquet")


def both_formats(folder: Path) -> None:
    write_base(folder)
    pl.read_csv(folder / "customers.csv").write_parquet(folder / "customers.parquet")


def latin1(folder: Path) -> None:
    write_base(folder)
    rows = [HEADERS["customers"], "C-1,Ann Lee,web,2024-01-10", "C-2,Bo £ Chen,referral,2024-02-01"]
    (folder / "customers.csv").write_bytes("\n".join(rows).encode("latin-1"))


@dataclass(frozen=True)
class BrokenFile:
    id: str
    make: Callable[[Path], None]
    message: tuple[str, ...]  # parts of the one sentence on stderr


BROKEN_FILES = [
    BrokenFile(
        "missing-required-column",
        replace_file(
            "customers.csv", b"customer_id,name,origin,created\nC-1,Ann Lee,web,2024-01-10\n"
        ),
        ("customers.csv: required column created_on is missing", "add it to the export"),
    ),
    BrokenFile(
        "missing-required-column-of-an-optional-table",
        replace_file("payments.csv", b"payment_id,customer_id,paid_on,kind\n"),
        ("payments.csv: required column amount is missing",),
    ),
    BrokenFile(
        "column-named-twice",
        replace_file("customers.csv", b"customer_id,name,origin,created_on, Customer_ID\n"),
        ("customers.csv: the header names column 'customer_id' twice", "keep one"),
    ),
    BrokenFile(
        "empty-file",
        replace_file("customers.csv", b""),
        ("customers.csv: the file is empty", "line 1 must be a header row"),
    ),
    BrokenFile(
        "empty-optional-file",
        replace_file("events.csv", b""),
        ("events.csv: the file is empty",),
    ),
    BrokenFile(
        "only-blank-lines",
        replace_file("payments.csv", b"\n \r\n\n"),
        ("payments.csv: the file is empty",),
    ),
    BrokenFile(
        "blank-line-above-the-header",
        replace_file("customers.csv", b"\ncustomer_id,name,origin,created_on\n"),
        ("customers.csv: line 1 is blank", "header"),
    ),
    BrokenFile(
        "latin-1-pound-sign",
        latin1,
        ("customers.csv: line 3 is not UTF-8 (byte 0xA3)", "re-export the file as UTF-8"),
    ),
    BrokenFile(
        "both-csv-and-parquet",
        both_formats,
        ("two files for the customers table (customers.csv and customers.parquet)", "keep one"),
    ),
    BrokenFile(
        "parquet-text-where-a-date-belongs",
        base_as_parquet("customers"),
        (
            "customers.parquet: column created_on is stored as String, but it holds dates",
            "re-export it as a Parquet date",
        ),
    ),
    BrokenFile(
        "parquet-float-money",
        base_as_parquet(
            "payments",
            paid_on=pl.col("paid_on").str.to_date(),
            amount=pl.col("amount").cast(pl.Float64),
        ),
        (
            "payments.parquet: column amount is stored as Float64, but it holds money",
            "never a binary float",
        ),
    ),
    BrokenFile(
        "parquet-float-count",
        base_as_parquet(
            "agreements",
            purchase_date=pl.col("purchase_date").str.to_date(),
            session_quantity=pl.lit(1.5),
        ),
        ("agreements.parquet: column session_quantity is stored as Float64",),
    ),
    BrokenFile(
        "not-parquet-at-all",
        not_parquet,
        ("payments.parquet: not a readable Parquet file", "re-export it"),
    ),
]


@pytest.mark.parametrize("case", BROKEN_FILES, ids=[c.id for c in BROKEN_FILES])
def test_a_broken_file_stops_the_run(tmp_path: Path, invoke: Invoke, case: BrokenFile) -> None:
    """Exit 3 with one sentence naming the file and what to do; no output, no rejects file."""
    data = tmp_path / "exports"
    data.mkdir()
    case.make(data)
    out = tmp_path / "out" / "followup.csv"
    out.parent.mkdir()
    result = run(invoke, data, "-o", str(out))
    assert result.exit_code == 3, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("followup: error: "), result.stderr
    for part in case.message:
        assert part in lines[0]
    assert list(out.parent.iterdir()) == []


# --- --on-error fail ------------------------------------------------------------------------------


def test_on_error_fail_stops_at_the_first_bad_row(tmp_path: Path, invoke: Invoke) -> None:
    """Exit 3, the first problem named by file, line and column, and nothing written at all."""
    data = write_exports(
        tmp_path / "exports",
        with_rows(
            customers=["C-3,Cy Diaz,web,2024-02-30"],
            payments=["P-2,C-1,2024-03-01,-4.00,recurring"],
        ),
    )
    out = tmp_path / "out" / "followup.csv"
    out.parent.mkdir()
    rejects = tmp_path / "out" / "bad.csv"
    result = run(invoke, data, "-o", str(out), "--rejects", str(rejects), "--on-error", "fail")
    assert result.exit_code == 3, result.stderr
    err = flat(result.stderr)
    assert err.startswith("followup: error: customers.csv line 4, column created_on: ")
    assert "not a real calendar date" in err and "2024-02-30" in err
    assert "payments.csv" not in err
    assert list(out.parent.iterdir()) == []


def test_on_error_fail_with_stdout_writes_nothing(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failing while writing to stdout leaves stdout empty and no rejects file here."""
    data = write_exports(tmp_path / "exports", with_rows(payments=["P-2,C-1,2024-03-01,4.001,x"]))
    monkeypatch.chdir(tmp_path)
    result = run(invoke, data, "--on-error", "fail")
    assert result.exit_code == 3, result.stderr
    assert result.stdout == ""
    assert where("payments.csv", 3, "amount") in flat(result.stderr)
    assert not (tmp_path / "followup-rejects.csv").exists()


def test_on_error_fail_on_clean_exports_is_a_normal_run(tmp_path: Path, invoke: Invoke) -> None:
    """Nothing bad, nothing to stop for: exit 0 and the output written."""
    data = write_exports(tmp_path / "exports", BASE)
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"), "--on-error", "fail")
    assert result.exit_code == 0, result.stderr
    assert output_of(tmp_path / "out.csv").height == 2


# --- Where the rejects file goes ---------------------------------------------------------------


BAD_PAYMENT = with_rows(payments=["P-2,C-1,2024-03-01,-4.00,recurring"])


def test_rejects_go_beside_the_output_file(tmp_path: Path, invoke: Invoke) -> None:
    """-o out/x.csv puts the rejects in out/x-rejects.csv and nowhere else."""
    data = write_exports(tmp_path / "exports", BAD_PAYMENT)
    (tmp_path / "out").mkdir()
    result = run(invoke, data, "-o", str(tmp_path / "out" / "x.csv"))
    assert result.exit_code == 1, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x-rejects.csv", "x.csv"]
    assert rejects_of(tmp_path / "out" / "x-rejects.csv")[0][:3] == ("payments.csv", 3, "amount")


def test_rejects_go_to_the_working_folder_with_stdout(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output on stdout: the rejects go to ./followup-rejects.csv."""
    data = write_exports(tmp_path / "exports", BAD_PAYMENT)
    monkeypatch.chdir(tmp_path)
    result = run(invoke, data)
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("customer_id,")
    assert rejects_of(tmp_path / "followup-rejects.csv")[0][:3] == ("payments.csv", 3, "amount")
    assert "followup-rejects.csv" in flat(result.stderr)


def test_rejects_option_names_the_file(tmp_path: Path, invoke: Invoke) -> None:
    """--rejects PATH is used instead of the default place."""
    data = write_exports(tmp_path / "exports", BAD_PAYMENT)
    chosen = tmp_path / "elsewhere.csv"
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"), "--rejects", str(chosen))
    assert result.exit_code == 1, result.stderr
    assert rejects_of(chosen)[0][:3] == ("payments.csv", 3, "amount")
    assert not (tmp_path / "out-rejects.csv").exists()
    assert "elsewhere.csv" in flat(result.stderr)


def test_no_rejects_file_when_nothing_is_rejected(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean run writes no rejects file, wherever one would have gone."""
    data = write_exports(tmp_path / "exports", BASE)
    monkeypatch.chdir(tmp_path)
    chosen = tmp_path / "elsewhere.csv"
    assert run(invoke, data).exit_code == 0
    assert run(invoke, data, "-o", str(tmp_path / "out.csv")).exit_code == 0
    assert run(invoke, data, "-o", "x.csv", "--rejects", str(chosen)).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "out.csv", "x.csv"]


# --- data_issues and accounting -----------------------------------------------------------------


def test_data_issues_counts_the_rejected_rows_that_name_a_person(
    tmp_path: Path, invoke: Invoke
) -> None:
    """Each person's row says how many set-aside rows name them: their status may be incomplete."""
    data = write_exports(
        tmp_path / "exports",
        with_rows(
            customers=["c-2,Bo Chen again,referral,2024-02-01"],  # a duplicate of C-2
            agreements=["A-2,C-1,2024-03-01,,,paused,,4.00,"],
            payments=[
                "P-2,C-1,2024-03-01,-4.00,recurring",
                "P-3, c-1 ,2024-02-30,4.00,one-off",
                "P-4,C-2,2024-03-01,4.00",  # too few fields, but it names C-2
            ],
            events=["E-2,C-9,2024-07-01 10:00,trial,attended"],  # names nobody on file
        ),
    )
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"), "--max-rejected", "100")
    assert result.exit_code == 1, result.stderr
    out = output_of(tmp_path / "out.csv")
    assert dict(out.select("customer_id", "data_issues").iter_rows()) == {"C-1": "3", "C-2": "2"}


def test_clean_people_have_no_data_issues(tmp_path: Path, invoke: Invoke) -> None:
    """data_issues is 0, not empty, for everyone when nothing is rejected."""
    data = write_exports(tmp_path / "exports", BASE)
    assert run(invoke, data, "-o", str(tmp_path / "out.csv")).exit_code == 0
    assert output_of(tmp_path / "out.csv").get_column("data_issues").to_list() == ["0", "0"]


# Rows read = used + rejected + left out (after the as-of date), per table.
ACCOUNTED = with_rows(
    customers=[
        "C-3,Cy Diaz,web,2024-08-05",  # after as-of: left out
        "C-4,Di Egan,web,2024-02-30",  # rejected
        "C-1,Ann Again,web,2024-01-10",  # duplicate: rejected
    ],
    agreements=[
        "A-2,C-1,2024-08-02,,,active,,4.00,",  # purchased after as-of: left out
        "A-3,C-3,2024-07-01,,,active,,4.00,",  # their person is after as-of: left out
        "A-4,C-1,2024-03-01,,,paused,,4.00,",  # rejected
    ],
    payments=[
        "P-2,C-1,2024-08-01,4.00,recurring",  # after as-of: left out
        "P-3,C-1,2024-03-01",  # ragged: rejected
        "P-4,C-1,2024-13-01,-4,recurring",  # two bad values, one rejected row
        "P-5,C-4,2024-04-01,4.00,recurring",  # its person was rejected
    ],
    events=[
        "E-2,C-3,2024-07-02 10:00,trial,attended",  # their person is after as-of: left out
        "E-3,C-1,2024-08-09 10:00,class,scheduled",  # upcoming: used, not left out
    ],
)
EXPECTED_COUNTS = {
    "customers.csv": (5, 2, 2, 1),
    "agreements.csv": (4, 1, 1, 2),
    "payments.csv": (5, 1, 3, 1),
    "events.csv": (3, 2, 0, 1),
}


def test_every_row_read_is_accounted_for_in_the_summary(tmp_path: Path, invoke: Invoke) -> None:
    """The summary's rows per file: read = used + rejected + after as-of, for every table."""
    data = write_exports(tmp_path / "exports", ACCOUNTED)
    result = run(invoke, data, "-o", str(tmp_path / "out.csv"), "--max-rejected", "100")
    assert result.exit_code == 1, result.stderr
    table = rows_per_file(result.stderr)
    assert table == EXPECTED_COUNTS
    for read, used, rejected, left_out in table.values():
        assert read == used + rejected + left_out
    rejected_lines = {r[:2] for r in rejects_of(tmp_path / "out-rejects.csv")}
    assert len(rejected_lines) == sum(c[2] for c in table.values())


def test_validate_accounts_for_every_row(tmp_path: Path) -> None:
    """validate() itself: the counts add up and match the frames it hands on."""
    data = write_exports(tmp_path / "exports", ACCOUNTED)
    located = locate_tables(data, {})
    raw = {name: read_table(TABLES[name], located[name]) for name in TABLES}
    checked = validate(raw, AS_OF)
    counts = {c.file: c for c in checked.counts}
    assert {f: (c.read, c.used, c.rejected, c.left_out) for f, c in counts.items()} == (
        EXPECTED_COUNTS
    )
    for count in checked.counts:
        assert count.read == count.used + count.rejected + count.left_out
        assert count.read == raw[count.table].rows_read
    assert counts["customers.csv"].used == checked.customers.height
    assert counts["agreements.csv"].used == checked.agreements.height
    assert counts["payments.csv"].used == checked.payments.height
    assert counts["events.csv"].used == checked.events.height
    assert checked.rejects.select(pl.struct("file", "line").n_unique()).item() == 6


def test_a_table_run_without_counts_as_empty(tmp_path: Path) -> None:
    """--without events: nothing read, nothing used, and the count still adds up."""
    data = write_exports(tmp_path / "exports", {k: v for k, v in BASE.items() if k != "events"})
    located = locate_tables(data, {}, without=["events"])
    raw = {name: read_table(TABLES[name], located[name]) for name in TABLES}
    counts = validate(raw, AS_OF).counts
    assert counts[3] == TableCount("events", "events (--without)", 0, 0, 0, 0)


# --- How a rejected row is told to a person -----------------------------------------------------


def test_describe_rejects_names_file_line_and_column() -> None:
    """One sentence per reject: where, why, and the value as found; the rest are counted."""
    rejects = pl.DataFrame(
        {
            "file": ["payments.csv", "payments.csv", "customers.csv"],
            "line": [3, 4, 9],
            "column": ["amount", "*", "name"],
            "value": ["-4.00", "P-3,C-1", "x" * 300],
            "reason": ["amount must be more than 0", "row has 2 fields", "too long"],
        }
    )
    assert describe_rejects(rejects, limit=2) == (
        "payments.csv line 3, column amount: amount must be more than 0 (value '-4.00')",
        "payments.csv line 4: row has 2 fields (value 'P-3,C-1')",
        "... and 1 more in the rejects file",
    )
    assert describe_rejects(rejects)[2] == (
        f"customers.csv line 9, column name: too long (value '{'x' * 37}...')"
    )


def test_a_bad_value_on_a_known_customers_row_blames_only_that_value(
    exports, invoke, tmp_path
) -> None:
    """A negative amount for a real customer is one rejects row (amount), not 'unknown customer'."""
    folder = exports(
        customers=["C-1,Ann,web,2024-01-01"],
        payments=["P-1,C-1,2024-07-01,-4.00,recurring"],
    )
    rejects = tmp_path / "rejects.csv"
    result = invoke(
        "reconcile",
        "--data",
        str(folder),
        "--as-of",
        "2024-07-31",
        "-q",
        "--rejects",
        str(rejects),
        "--max-rejected",
        "100%",
    )
    assert result.exit_code == 1
    rows = pl.read_csv(rejects, infer_schema=False).rows()
    assert rows == [("payments.csv", "2", "P-1", "amount", "-4.00", "amount must be more than 0")]


# --- Parquet rows with bad values in typed optional columns, and Parquet files without them ---


def _parquet_exports(folder: Path, agreements: pl.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {"customer_id": ["C-1", "C-2"], "created_on": [dt.date(2024, 1, 1)] * 2}
    ).write_parquet(folder / "customers.parquet")
    agreements.write_parquet(folder / "agreements.parquet")
    # One small payment: a header-only payments file is refused while accounts owe.
    return write_exports(folder, {"payments": ["P-1,C-2,2024-07-01,1.00,one-off"], "events": []})


@pytest.mark.parametrize(
    ("column", "values", "dtype", "reason"),
    [
        ("sessions_remaining", [-1, 0], pl.Int64, "sessions_remaining must be 0 or more"),
        ("monthly_fee", ["4.1234", "4.00"], pl.Decimal(38, 4), "more than 2 decimal places"),
        ("monthly_fee", ["-4.00", "4.00"], pl.Decimal(18, 2), "monthly_fee must be 0 or more"),
        ("monthly_fee", [10**9, 4], pl.Int64, "too large for an amount of money"),
    ],
)
def test_a_bad_value_in_a_typed_optional_parquet_column_is_rejected(
    tmp_path: Path, invoke: Invoke, column: str, values: list[object], dtype: object, reason: str
) -> None:
    """A Parquet row whose optional typed value is impossible is set aside, not read as empty."""
    typed = (
        pl.Series(column, values).cast(dtype)
        if dtype != pl.Int64
        else pl.Series(column, values, dtype=pl.Int64)
    )
    agreements = pl.DataFrame(
        {
            "agreement_id": ["A-1", "A-2"],
            "customer_id": ["C-1", "C-2"],
            "purchase_date": [dt.date(2024, 7, 1)] * 2,
            "status": ["active", "active"],
            "session_quantity": [1, 1],
        }
    ).with_columns(typed)
    folder = _parquet_exports(tmp_path / "pq", agreements)
    rejects = tmp_path / "r.csv"
    result = invoke(
        "reconcile", "--data", str(folder), "--as-of", "2024-07-31", "-q", "--rejects", str(rejects)
    )
    assert result.exit_code == 1, result.stderr
    rows = pl.read_csv(rejects, infer_schema=False).rows()
    assert [r[:4] for r in rows] == [("agreements.parquet", "1", "A-1", column)]
    assert reason in rows[0][5]
    # The other agreement is fine, so C-2 is a customer; C-1 lost its only agreement.
    lines = result.stdout.splitlines()
    assert lines[1].startswith("C-1,,Prospect,") and lines[1].endswith(",1")
    assert ",Customer," in lines[2]


def test_a_parquet_file_without_optional_columns_is_read(tmp_path: Path, invoke: Invoke) -> None:
    """Optional columns may be absent from a Parquet file, as from a CSV file."""
    agreements = pl.DataFrame(
        {
            "agreement_id": ["A-1"],
            "customer_id": ["C-1"],
            "purchase_date": [dt.date(2024, 7, 1)],
            "status": ["active"],
        }
    )
    folder = _parquet_exports(tmp_path / "pq", agreements)
    result = invoke("reconcile", "--data", str(folder), "--as-of", "2024-07-31", "-q")
    assert result.exit_code == 0, result.stderr
    assert "C-1,,Customer,Active Customer,active agreement A-1," in result.stdout
