"""Writing the output (SPEC 5): columns, formats, atomic files, byte-identical re-runs."""

from __future__ import annotations

import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from followup_cli.core.errors import OutputError
from followup_cli.outputs import writing as output
from tests.conftest import SAMPLE, SPEC_COLUMNS

GOLDEN = Path(__file__).parent / "golden" / "sample_2024-07-31.csv"
SAMPLE_ARGS = ("reconcile", "--data", str(SAMPLE), "--as-of", "2024-07-31", "-q")


def test_sample_output_matches_the_golden_file(invoke) -> None:
    """sample_data as of 2024-07-31 gives the hand-checked golden CSV, byte for byte.

    The golden rows were checked against SPEC 3 and 4 by hand; the README explains each one.
    """
    result = invoke(*SAMPLE_ARGS)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == GOLDEN.read_text()


def test_the_spec_columns_come_first_in_order(invoke) -> None:
    """The ten columns of SPEC 5 lead, in order; SPEC 9's two dates next; ours follow."""
    result = invoke(*SAMPLE_ARGS)
    header = result.stdout.splitlines()[0].split(",")
    assert header[:10] == SPEC_COLUMNS
    assert header[10:] == ["last_paid_on", "last_visit_on", "account_reason", "data_issues"]


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "out.jsonl"])
def test_formats_by_extension_hold_the_same_rows(tmp_path: Path, invoke, name: str) -> None:
    """-o picks CSV, Parquet or JSON Lines by extension; each holds the golden rows."""
    target = tmp_path / name
    result = invoke(*SAMPLE_ARGS, "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    golden = pl.read_csv(GOLDEN, infer_schema=False)
    if name.endswith(".csv"):
        assert target.read_text() == GOLDEN.read_text()
        return
    if name.endswith(".parquet"):
        frame = pl.read_parquet(target)
        assert frame.schema["balance"] == pl.Decimal(18, 2)
        assert frame.schema["oldest_unpaid_on"] == pl.Date
    else:
        frame = pl.read_ndjson(target, infer_schema_length=None)
    as_text = frame.select(pl.all().cast(pl.String))
    assert as_text.columns == golden.columns
    assert as_text.fill_null("").rows() == golden.fill_null("").rows()


def test_parquet_money_is_exact_decimal(tmp_path: Path, invoke) -> None:
    """Money columns in Parquet are decimals, never binary floats: -8.00 stays -8.00."""
    target = tmp_path / "out.parquet"
    assert invoke(*SAMPLE_ARGS, "-o", str(target)).exit_code == 0
    row = pl.read_parquet(target).filter(pl.col("customer_id") == "C-5").row(0, named=True)
    assert row["balance"] == Decimal("-8.00")
    assert row["past_due"] == Decimal("4.00")


def test_json_lines_money_is_text_not_float(tmp_path: Path, invoke) -> None:
    """JSON has no exact decimal, so money is written as text ("-8.00")."""
    target = tmp_path / "out.jsonl"
    assert invoke(*SAMPLE_ARGS, "-o", str(target)).exit_code == 0
    records = [json.loads(line) for line in target.read_text().splitlines()]
    c5 = next(r for r in records if r["customer_id"] == "C-5")
    assert c5["balance"] == "-8.00"
    assert c5["oldest_unpaid_on"] == "2024-06-28"
    assert c5["days_in_arrears"] == 33


def test_format_option_overrides_the_extension(tmp_path: Path, invoke) -> None:
    """--format jsonl writes JSON Lines even to a .txt name."""
    target = tmp_path / "out.txt"
    result = invoke(*SAMPLE_ARGS, "-o", str(target), "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert json.loads(target.read_text().splitlines()[0])["customer_id"] == "C-1"


def test_dash_means_standard_output(invoke) -> None:
    """-o - writes CSV to standard output, as no -o does."""
    result = invoke(*SAMPLE_ARGS, "-o", "-")
    assert result.exit_code == 0
    assert result.stdout == GOLDEN.read_text()


def test_unknown_extension_is_a_usage_error(tmp_path: Path, invoke) -> None:
    """-o out.xls without --format: exit 2 naming the accepted extensions."""
    result = invoke(*SAMPLE_ARGS, "-o", str(tmp_path / "out.xls"))
    assert result.exit_code == 2
    assert ".csv, .parquet, .jsonl or .xlsx" in result.stderr
    assert not (tmp_path / "out.xls").exists()


def test_output_into_a_missing_folder_is_a_usage_error(tmp_path: Path, invoke) -> None:
    """-o into a folder that does not exist: exit 2 before any work."""
    result = invoke(*SAMPLE_ARGS, "-o", str(tmp_path / "nope" / "out.csv"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_reruns_are_byte_identical(tmp_path: Path, invoke, fmt: str) -> None:
    """The same inputs and as-of date give byte-identical files."""
    first, second = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    assert invoke(*SAMPLE_ARGS, "-o", str(first)).exit_code == 0
    assert invoke(*SAMPLE_ARGS, "-o", str(second)).exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    """If writing fails half way, the previous file is untouched and no temporary is left."""
    target = tmp_path / "out.csv"
    target.write_text("previous run\n")

    def half_then_fail(sink) -> None:
        sink.write(b"customer_id,name\nC-1,")
        raise OSError("disk full")

    with pytest.raises(OutputError, match="disk full"):
        output.write_atomically(target, half_then_fail)
    assert target.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_failed_run_writes_no_output_file(tmp_path: Path, invoke) -> None:
    """A run that stops (no customers file) creates no output file at all."""
    (tmp_path / "empty").mkdir()
    target = tmp_path / "out.csv"
    result = invoke("reconcile", "--data", str(tmp_path / "empty"), "-o", str(target))
    assert result.exit_code == 3
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


def test_a_stale_rejects_file_is_removed_after_a_clean_run(tmp_path: Path, invoke) -> None:
    """A rejects file left by an earlier run goes when nothing is rejected now, and we say so."""
    target = tmp_path / "out.csv"
    stale = tmp_path / "out-rejects.csv"
    stale.write_text("file,line,record_id,column,value,reason\npayments.csv,3,P-3,amount,-4,old\n")
    result = invoke("reconcile", "--data", str(SAMPLE), "--as-of", "2024-07-31", "-o", str(target))
    assert result.exit_code == 0
    assert not stale.exists()
    assert "removed" in result.stderr and "out-rejects.csv" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--rejects", "{data}/payments.csv"), "--rejects"),
        (("-o", "{data}/customers.csv"), "--output"),
        (("-o", "{tmp}/same.csv", "--rejects", "{tmp}/same.csv"), "the same file"),
        (("-o", "{tmp}/out.csv", "--rejects", "{tmp}/nowhere/r.csv"), "does not exist"),
        (("-o", "{tmp}/dir.csv"), "is a folder"),
    ],
)
def test_destinations_that_would_destroy_inputs_are_refused(
    tmp_path: Path, invoke, extra: tuple[str, ...], message: str
) -> None:
    """An output or rejects path equal to an input, to each other, or unwritable: exit 2 first."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    (tmp_path / "dir.csv").mkdir()
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    args = [a.format(data=data, tmp=tmp_path) for a in extra]
    result = invoke("reconcile", "--data", str(data), "--as-of", "2024-07-31", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


def test_only_a_real_rejects_file_is_removed_as_stale(tmp_path: Path, invoke) -> None:
    """A file at the rejects path that is not a rejects file is left alone."""
    notes = tmp_path / "out-rejects.csv"
    notes.write_text("my notes\n")
    result = invoke(*SAMPLE_ARGS, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0
    assert notes.read_text() == "my notes\n"


def test_output_files_get_the_umask_mode_not_private(tmp_path: Path, invoke) -> None:
    """A new output file is readable as the umask allows (0644 under umask 022), not 0600."""
    previous = os.umask(0o022)
    try:
        target = tmp_path / "out.csv"
        assert invoke(*SAMPLE_ARGS, "-o", str(target)).exit_code == 0
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_write_error_maps_to_exit_3_with_the_file_named(
    tmp_path: Path, invoke, monkeypatch
) -> None:
    """An OS error while writing (a full disk, say) is exit 3 and one sentence, no traceback."""

    def full_disk(self, path, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.LazyFrame, "sink_csv", full_disk)
    result = invoke(*SAMPLE_ARGS, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 3
    assert "out.csv: cannot be written (No space left on device)" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "out.csv").exists()
