"""Fuzzing the command with broken exports (SPEC 6): random bytes and random damage to the
sample files. Whatever comes in, the command exits 0, 1 or 3, never shows a traceback, and when
it reconciled, every row it read is accounted for: read = used + rejected + left out.
"""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from followup_cli.cli.main import app
from followup_cli.core.schema import TABLE_NAMES
from followup_cli.synthetic.generate import generate
from tests.conftest import AS_OF, HEADERS, SAMPLE
from tests.test_bad_input import rows_per_file

SAMPLE_BYTES = {name: (SAMPLE / f"{name}.csv").read_bytes() for name in TABLE_NAMES}
RUNNER = CliRunner()
ENV = {"NO_COLOR": "1", "COLUMNS": "120"}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def reconcile(files: dict[str, bytes]) -> None:
    """Run the command on the sample exports with some files replaced; check what it did."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "exports"
        data.mkdir()
        for name, content in {**SAMPLE_BYTES, **files}.items():
            (data / f"{name}.csv").write_bytes(content)
        out = Path(tmp) / "out.csv"
        rejects = Path(tmp) / "rejects.csv"
        args = ["reconcile", "--data", str(data), "--as-of", AS_OF.isoformat()]
        result = RUNNER.invoke(app, [*args, "-o", str(out), "--rejects", str(rejects)], env=ENV)

        assert result.exit_code in {0, 1, 3}, result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.stdout
        assert "Traceback" not in result.stderr
        if result.exit_code == 3:
            assert result.stderr.startswith("followup: error: "), result.stderr
            assert "internal error" not in result.stderr, result.stderr
            assert not out.exists() and not rejects.exists()
            return
        table = rows_per_file(result.stderr)
        assert sorted(table) == sorted(f"{name}.csv" for name in TABLE_NAMES), result.stderr
        for file, (read, used, rejected, left_out) in table.items():
            assert read == used + rejected + left_out, (file, table[file])
        for name, content in files.items():
            if b'"' not in content:  # no value can span lines: every other line is a row
                assert table[f"{name}.csv"][0] == rows_in(content), (name, table)
        assert pl.read_csv(out, infer_schema=False).height == table["customers.csv"][1]
        rejected_rows = sum(counts[2] for counts in table.values())
        assert (result.exit_code == 1) == (rejected_rows > 0)
        if rejected_rows:
            found = pl.read_csv(rejects, infer_schema=False)
            assert found.select(pl.struct("file", "line").n_unique()).item() == rejected_rows
        else:
            assert not rejects.exists()


def rows_in(content: bytes) -> int:
    """Rows in a CSV file without quotes: its non-blank lines after the header (a carriage
    return alone ends a line too)."""
    lines = re.split(r"\r\n|\r|\n", content.decode("utf-8-sig"))
    blank = pl.Series(lines[1:], dtype=pl.String).str.strip_chars().eq("")
    return len(blank) - int(blank.sum())


TABLE = st.sampled_from(TABLE_NAMES)


@FUZZ
@given(table=st.sampled_from(["customers", "payments"]), content=st.binary(max_size=600))
def test_random_bytes_as_a_file(table: str, content: bytes) -> None:
    """Any bytes at all as the customers or payments file."""
    reconcile({table: content})


# Text that looks like CSV: the characters exports are made of, and the ones that break them.
CSV_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list('C-P0123456789,,,"\n\n\r .:£$€¥ab')),
        st.characters(codec="utf-8"),
    ),
    max_size=400,
)


@FUZZ
@given(table=st.sampled_from(["customers", "payments"]), body=CSV_TEXT)
def test_random_rows_under_a_real_header(table: str, body: str) -> None:
    """A correct header, then rows of random CSV-like text: the rows are where the parsing is."""
    reconcile({table: (HEADERS[table] + "\n" + body).encode()})


# The damage an export picks up: lost, doubled and swapped characters, a cut-off end, and
# stray quotes, commas, line breaks, non-UTF-8 bytes and control characters.
INSERTS = [b'"', b",", b"\n", b"\r\n", b"\r", b"\xff", b"\xa3", b"\x00", b"\x1f", b" "]
INSERTS += ["£".encode(), b"\xef\xbb\xbf", b"-", b"9", b"x" * 1200]
# Values put in place of a whole field: near misses of every kind the columns hold.
ODD_VALUES = [
    b"",
    b"  ",
    b"-0",
    b"+5",
    b"1e3",
    b"NaN",
    b"0.001",
    b"4.",
    b".5",
    b"\xef\xbc\x95",
    "4.٣".encode(),
    b"2024-02-30",
    b"2024-7-1",
    b"2024-07-31T25:00",
    b"0000-00-00",
    "¥5".encode(),
    "£-4".encode(),
    b"99999999999999999999",
    b"ACTIVE ",
    b"one off",
    b"no_show",
    b"C-1",
    b" c-2 ",
    b"\x00",
    b'"a,b"',
    b'"',
    b"x" * 1500,
]
POSITION = st.integers(min_value=0, max_value=2_000)
FIELD = st.integers(min_value=0, max_value=20)
MUTATION = st.one_of(
    st.tuples(st.just("field"), POSITION, st.sampled_from(ODD_VALUES), FIELD),
    st.tuples(st.just("delete"), POSITION, st.just(b""), st.just(0)),
    st.tuples(st.just("duplicate"), POSITION, st.just(b""), st.just(0)),
    st.tuples(st.just("swap"), POSITION, st.just(b""), st.just(0)),
    st.tuples(st.just("truncate"), POSITION, st.just(b""), st.just(0)),
    st.tuples(st.just("duplicate line"), POSITION, st.just(b""), st.just(0)),
    st.tuples(st.just("insert"), POSITION, st.sampled_from(INSERTS), st.just(0)),
)


Step = tuple[str, int, bytes, int]  # what, where, bytes to put in, which field


def mutate(data: bytes, steps: list[Step]) -> bytes:
    for kind, position, inserted, field in steps:
        at = position % (len(data) + 1)
        if kind == "insert":
            data = data[:at] + inserted + data[at:]
        elif kind == "truncate":
            data = data[:at]
        elif not data:
            continue
        elif kind == "delete":
            at = min(at, len(data) - 1)
            data = data[:at] + data[at + 1 :]
        elif kind == "duplicate":
            at = min(at, len(data) - 1)
            data = data[: at + 1] + data[at:]
        elif kind == "swap":
            at = min(at, len(data) - 2)
            if at >= 0:
                data = data[:at] + data[at + 1 : at + 2] + data[at : at + 1] + data[at + 2 :]
        elif kind == "duplicate line":  # the line holding `at`, twice: a duplicated row
            lines = data.split(b"\n")
            index = data.count(b"\n", 0, at)
            data = b"\n".join([*lines[: index + 1], *lines[index:]])
        else:  # one field of the line holding `at` replaced by `inserted`
            lines = data.split(b"\n")
            index = data.count(b"\n", 0, at)
            fields = lines[index].split(b",")
            fields[field % len(fields)] = inserted
            lines[index] = b",".join(fields)
            data = b"\n".join(lines)
    return data


@settings(FUZZ, max_examples=200)
@given(damage=st.dictionaries(TABLE, st.lists(MUTATION, min_size=1, max_size=6), min_size=1))
def test_damaged_sample_files(damage: dict[str, list[Step]]) -> None:
    """The sample exports with random damage in one or more files."""
    reconcile({name: mutate(SAMPLE_BYTES[name], steps) for name, steps in damage.items()})


def test_mutate_damages_as_described() -> None:
    """The fuzzer's own tool: each kind of damage does what its name says."""
    assert mutate(b"abc", [("delete", 1, b"", 0)]) == b"ac"
    assert mutate(b"abc", [("duplicate", 1, b"", 0)]) == b"abbc"
    assert mutate(b"abc", [("swap", 0, b"", 0)]) == b"bac"
    assert mutate(b"abc", [("truncate", 2, b"", 0)]) == b"ab"
    assert mutate(b"abc", [("insert", 1, b'"', 0)]) == b'a"bc'
    assert mutate(b"h\nr1\nr2\n", [("duplicate line", 3, b"", 0)]) == b"h\nr1\nr1\nr2\n"
    assert mutate(b"h\na,b,c\n", [("field", 3, b"X", 4)]) == b"h\na,X,c\n"


@functools.cache
def export_100k() -> dict[str, bytes]:
    """A 100,000-customer generated export as CSV bytes (made once per test session)."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(100_000, Path(tmp), seed=11, fmt="csv")
        return {name: (Path(tmp) / f"{name}.csv").read_bytes() for name in TABLE_NAMES}


# Damage anywhere in a large file: the positions range over the whole file, not its start.
ROW_DAMAGE = st.one_of(
    st.tuples(st.just("field"), st.integers(0, 10**9), st.sampled_from(ODD_VALUES), FIELD),
    st.tuples(st.just("insert"), st.integers(0, 10**9), st.sampled_from(INSERTS), st.just(0)),
    st.tuples(st.just("duplicate line"), st.integers(0, 10**9), st.just(b""), st.just(0)),
)


@settings(FUZZ, max_examples=6)
@given(
    damage=st.dictionaries(
        st.sampled_from(["customers", "payments"]),
        st.lists(ROW_DAMAGE, min_size=2, max_size=8),
        min_size=1,
    )
)
def test_several_rows_broken_in_a_100k_export(damage: dict[str, list[Step]]) -> None:
    """Issue 9: several rows of a 100,000-customer export broken at once (a Polars panic only
    showed at this size); every physical line is still used, rejected or after as-of."""
    base = export_100k()
    reconcile(
        {
            **base,
            **{name: mutate(base[name], steps) for name, steps in damage.items()},
        }
    )


def test_two_zero_bytes_in_a_100k_payments_file_are_rejects_not_a_panic() -> None:
    """The example the test above found: line 2's first field replaced by a NUL and another
    NUL inserted at the start of line 1705. The two rows, filtered out of the file's many
    chunks, made Polars 2.1 panic while their rejects were written (exit 3, "internal
    error"). `test_csv_reader` holds the same in thirty rows."""
    base = export_100k()
    payments = mutate(base["payments"], [("insert", 65507, b"\x00", 0), ("field", 43, b"\x00", 0)])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "exports"
        data.mkdir()
        for name, content in {**base, "payments": payments}.items():
            (data / f"{name}.csv").write_bytes(content)
        rejects = Path(tmp) / "rejects.csv"
        args = ["reconcile", "--data", str(data), "--as-of", AS_OF.isoformat()]
        out = Path(tmp) / "out.csv"
        result = RUNNER.invoke(app, [*args, "-o", str(out), "--rejects", str(rejects)], env=ENV)
        assert result.exit_code == 1, result.stderr
        found = pl.read_csv(rejects, infer_schema=False)
    assert found.get_column("file").to_list() == ["payments.csv", "payments.csv"]
    assert found.get_column("line").to_list() == ["2", "1705"]
    assert set(found.get_column("column")) == {"payment_id"}
    assert all("zero byte (NUL)" in reason for reason in found.get_column("reason"))
