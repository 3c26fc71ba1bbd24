"""Fast paths (issue 13) against the slow, obviously-correct ones: the same frames, row for row.

Each fast path is a shortcut taken only when a cheap whole-file or whole-column test proves it
gives what the general path would; these tests pin both halves: the shortcut is taken on clean
input, declined on input it cannot handle, and equal to the general path whenever taken.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup_cli.core import follow_up_tables as followup
from followup_cli.core.schema import CUST, PAYMENT_KIND, TABLES, Column, Kind
from followup_cli.reading import csv_fast_path, validation, whole_column
from followup_cli.reading.csv_grammar import field
from followup_cli.reading.csv_reader import read_csv
from followup_cli.reading.loading import read_table
from followup_cli.reading.parsing import parse
from followup_cli.reading.validation import validate


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def by_grammar(
    path: Path, key: str | None, monkeypatch: pytest.MonkeyPatch, words: tuple[str, ...] = ()
) -> object:
    """read_csv with the fast path switched off: the grammar splits every line."""
    with monkeypatch.context() as patched:
        patched.setattr(csv_fast_path, "plain_fields", lambda *_args: None)
        try:
            return read_csv(path, key, words)
        except Exception as exc:  # compared by type and message below
            return (type(exc).__name__, str(exc))


def plain_rows(path: Path) -> pl.DataFrame | None:
    """The fast reader's rows, their values named by the header as `read_csv` names them."""
    plain = csv_fast_path.plain_fields(path)
    if plain is None:
        return None
    frame, names = plain
    return frame.rename({field(at): name for at, name in enumerate(names)})


def test_a_clean_export_is_split_by_the_fast_reader(tmp_path: Path) -> None:
    """No quotes, no carriage returns, every row complete: Polars' reader splits the file, with
    physical line numbers and empty values as null, exactly as the grammar would."""
    path = write(tmp_path / "customers.csv", "customer_id,name\nC-1,Ann\nC-2,\n")
    fast = plain_rows(path)
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
    assert plain_rows(write(tmp_path / "t.csv", text)) is None


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
    fast = plain_rows(path)
    if fast is None:
        return
    slow = by_grammar(path, "id", monkeypatch)
    assert isinstance(slow, tuple) and isinstance(slow[0], pl.DataFrame), slow
    frame, structural = slow
    assert structural.height == 0
    assert fast.schema == frame.schema
    assert fast.equals(frame)
    # The columns read as categories (a table's dates, amounts and words) are categories by
    # either path, and hold the same text.
    fast, _ = read_csv(path, "id", ("x", "y"))
    slow = by_grammar(path, "id", monkeypatch, ("x", "y"))
    assert isinstance(slow, tuple) and isinstance(slow[0], pl.DataFrame), slow
    assert fast.schema.names() == slow[0].schema.names()
    for name, dtype in fast.schema.items():
        assert isinstance(dtype, pl.Categorical) == (name.strip().lower() in ("x", "y"))
        assert isinstance(slow[0].schema[name], pl.Categorical) == isinstance(dtype, pl.Categorical)
    assert as_text(fast).equals(as_text(slow[0]))


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


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


# --- Checks decided for a whole column ------------------------------------------------------

AS_OF = dt.date(2024, 7, 31)


def figures_of(frame: pl.DataFrame, column: Column) -> whole_column.Figures:
    dtype = frame.schema[column.name]
    figures = frame.select(whole_column.summary(column, dtype, typed=True)).row(0, named=True)
    again = whole_column.second_look(column, figures)
    return figures | (frame.select(again).row(0, named=True) if again else {})


def is_trusted(values: list[object], column: Column, dtype: pl.DataType) -> bool:
    frame = pl.DataFrame({column.name: values}, schema={column.name: dtype})
    figures = figures_of(frame, column)
    return whole_column.trusted(column, dtype, figures, AS_OF) is not None


PAID_ON = Column("paid_on", Kind.DATE, required=True)
END_DATE = Column("end_date", Kind.DATE)
AMOUNT = Column("amount", Kind.MONEY, required=True, allow_zero=False)
PAYMENT_ID = Column("payment_id", Kind.KEY, required=True)
NAME = Column("name", Kind.TEXT)


@pytest.mark.parametrize(
    ("values", "column", "dtype", "trusted"),
    [
        ([dt.date(2024, 7, 1), dt.date(1900, 1, 1)], PAID_ON, pl.Date(), True),
        ([dt.date(2024, 7, 1), dt.date(1899, 12, 31)], PAID_ON, pl.Date(), False),
        ([dt.date(2124, 7, 31)], PAID_ON, pl.Date(), True),
        ([dt.date(2124, 8, 1)], PAID_ON, pl.Date(), False),
        ([dt.date(2024, 7, 1), None], PAID_ON, pl.Date(), False),
        ([dt.date(2024, 7, 1), None], END_DATE, pl.Date(), True),
        ([1, 400], AMOUNT, pl.Decimal(10, 2), True),
        ([0, 400], AMOUNT, pl.Decimal(10, 2), False),
        ([1, 10**8], AMOUNT, pl.Int64(), False),
        (["P-1", "P-2"], PAYMENT_ID, pl.String(), True),
        (["p-1", "p-2"], PAYMENT_ID, pl.String(), True),
        (["P-1", "p-2"], PAYMENT_ID, pl.String(), False),
        (["P-1", " P-2"], PAYMENT_ID, pl.String(), False),
        (["P-1", ""], PAYMENT_ID, pl.String(), False),
        (["P-1", "P-É"], PAYMENT_ID, pl.String(), False),
        (["P-1", "P" * 1001], PAYMENT_ID, pl.String(), False),
        (["Ann Lee", None], NAME, pl.String(), True),
        (["Ann Lee", "Bob "], NAME, pl.String(), False),
        (["Ann Lee", ""], NAME, pl.String(), False),
    ],
)
def test_a_column_is_trusted_only_when_no_row_of_it_can_be_refused(
    values: list[object], column: Column, dtype: pl.DataType, trusted: bool
) -> None:
    """A whole column skips its per-row check only when its smallest and largest values, its
    nulls, lengths and letters prove every row passes (dates 1900-01-01 to as-of + 100 years,
    money above 0 and at most 99,999,999.99, ids trimmed ASCII in one case, no empty text)."""
    assert is_trusted(values, column, dtype) is trusted


KIND = Column("kind", Kind.VOCAB, required=True, vocabulary=dict(PAYMENT_KIND))


@pytest.mark.parametrize(
    ("raw", "value", "refused"),
    [
        (["one-off", "recurring", "one-off"], ["one-off", "recurring", "one-off"], None),
        (["ONE OFF", "recurring", None], ["one-off", "recurring", None], [False, False, True]),
        (["weekly", "oneoff"], [None, "one-off"], [True, False]),
    ],
)
def test_words_are_judged_once_per_distinct_value(
    raw: list[str | None], value: list[str | None], refused: list[bool] | None
) -> None:
    """Each distinct word is parsed once; every row gets its word's value and verdict (a
    missing required word is refused), and a column with no bad word has no verdict at all."""
    frame = pl.DataFrame({"kind": raw}, schema={"kind": pl.String})
    parsed = parse(KIND, pl.String(), "payments.csv", typed=False, as_of=AS_OF)
    distinct = frame.select(pl.col("kind").unique())
    typed, flag = whole_column.per_distinct_value(KIND, distinct, parsed)
    assert frame.select(typed.cast(pl.String)).to_series().to_list() == value
    if refused is None:
        assert flag is None
    else:
        assert flag is not None
        assert frame.select(flag).to_series().to_list() == refused


_IDS = st.sampled_from(["C-1", "c-1", "C-2", " C-2", "C-3 ", "c-4", "C-É", "", None])
_DAYS = st.sampled_from(
    [dt.date(2024, 1, 31), dt.date(2024, 7, 31), dt.date(2024, 8, 1), dt.date(1899, 1, 1), None]
)
_AMOUNTS = st.sampled_from([Decimal("4.00"), Decimal("0.01"), Decimal("0.00"), None])
_KINDS = st.sampled_from(["one-off", "recurring", "ONE OFF", "weekly", None])


@st.composite
def small_exports(draw: st.DrawFn) -> dict[str, pl.DataFrame]:
    """Customers and payments with ids in either case, padded, empty or repeated, dates out of
    range or missing, amounts of zero, and unknown words; some tables wholly clean."""
    clean = draw(st.booleans())
    ids = st.sampled_from(["C-1", "C-2", "C-3"]) if clean else _IDS
    people = draw(st.lists(st.tuples(ids, _DAYS), min_size=1, max_size=5))
    paid = draw(st.lists(st.tuples(ids, ids, _DAYS, _AMOUNTS, _KINDS), max_size=8))
    customers = pl.DataFrame(
        {
            "customer_id": [p[0] for p in people],
            "name": ["Ann"] * len(people),
            "origin": ["web"] * len(people),
            "created_on": [p[1] for p in people],
        },
        schema={
            "customer_id": pl.String,
            "name": pl.String,
            "origin": pl.String,
            "created_on": pl.Date,
        },
    )
    payments = pl.DataFrame(
        {
            "payment_id": [
                f"P-{i}" if clean else (p[0] or "") + f"-{i % 3}" for i, p in enumerate(paid)
            ],
            "customer_id": [p[1] for p in paid],
            "paid_on": [p[2] for p in paid],
            "amount": [p[3] for p in paid],
            "kind": [p[4] for p in paid],
        },
        schema={
            "payment_id": pl.String,
            "customer_id": pl.String,
            "paid_on": pl.Date,
            "amount": pl.Decimal(10, 2),
            "kind": pl.String,
        },
    )
    return {"customers": customers, "payments": payments}


def _validated(folder: Path, fmt: str) -> dict[str, pl.DataFrame]:
    raw = {
        name: read_table(TABLES[name], folder / f"{name}.{fmt}" if name in FILES else None)
        for name in TABLES
    }
    validated = validate(raw, AS_OF)
    frames = {
        name: getattr(validated, name)
        for name in ("customers", "payments", "rejects", "data_issues", "rejected_people")
    }
    frames["counts"] = pl.DataFrame([vars(count) for count in validated.counts])
    return {name: frame.sort(frame.columns) for name, frame in frames.items()}


FILES = ("customers", "payments")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(exports=small_exports(), fmt=st.sampled_from(["parquet", "csv"]))
def test_whole_column_checks_change_no_verdict(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    exports: dict[str, pl.DataFrame],
    fmt: str,
) -> None:
    """With the whole-column shortcuts (trusted columns, words and dates judged once per
    distinct value, ids matched as written) every kept row, reject and count is what checking
    every row of every column gives."""
    folder = tmp_path_factory.mktemp("exports")
    for name, frame in exports.items():
        if fmt == "parquet":
            frame.write_parquet(folder / f"{name}.parquet")
        else:
            frame.write_csv(folder / f"{name}.csv")
    fast = _validated(folder, fmt)
    with monkeypatch.context() as patched:
        patched.setattr(whole_column, "trusted", lambda *_args: None)
        patched.setattr(whole_column, "case_of", lambda *_args: None)
        patched.setattr(validation, "_distinct_values", lambda _raw: {})
        slow = _validated(folder, fmt)
    for name in slow:
        assert fast[name].schema == slow[name].schema, name
        assert fast[name].equals(slow[name]), name


def test_start_up_imports_no_optional_writer() -> None:
    """Start-up time: loading the command imports neither the workbook writer, the metrics
    library nor Ray; a run pays for them only when it writes a workbook or metrics or asks
    for Ray."""
    code = (
        "import sys, followup_cli.cli.main; "
        "print(sorted(m for m in ('xlsxwriter', 'prometheus_client', 'ray', 'openpyxl') "
        "if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "[]"
