"""A header far wider than the contract (SPEC 6: reading costs what the file's size implies).

A 1.7 MB events file whose header had 200,000 columns took 12 s and 1.6 GB: every column the
run ignores was made a frame column (kilobytes each), and matched several times. Now a header
of more than `csv_reader.WIDE` columns keeps only the columns the run reads; every field is
still split, counted and checked for a zero byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from followup_cli.core.schema import TABLES
from followup_cli.reading.csv_reader import WIDE, read_csv
from followup_cli.reading.loading import read_table
from tests.child import in_child
from tests.conftest import AS_OF, HEADERS

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def widened(source: Path, target: Path, extra: int, value: str = "") -> Path:
    """`source` with `extra` more columns (x0, x1, ...) after the contract's, each row's
    holding `value`."""
    lines = source.read_text().splitlines()
    header = lines[0] + "".join(f",x{i}" for i in range(extra))
    rows = [line + ("," + value) * extra for line in lines[1:]]
    target.write_text("\n".join([header, *rows]) + "\n")
    return target


# Runs followup in a child process, with its peak memory and exit code.
_RUN_IN_CHILD = """
import sys
from followup_cli.cli.main import main
sys.argv = ["followup", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
result = {"code": code}
"""


def run_in_child(*args: str) -> dict[str, Any]:
    return in_child(_RUN_IN_CHILD, *args)


def test_a_header_of_200000_columns_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """The 1.7 MB events file took 1.6 GB and 12 s; now about the run's own size, and the
    output is the sample's. The warning names the first 20 ignored columns and counts the rest
    (it listed all 200,000, a 2 MB line)."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    widened(SAMPLE / "events.csv", data / "events.csv", 200_000)
    wide = run_in_child(
        "reconcile",
        "--data",
        str(data),
        "--as-of",
        AS_OF.isoformat(),
        "-o",
        str(tmp_path / "w.csv"),
    )
    narrow = run_in_child(
        "reconcile",
        "--data",
        str(SAMPLE),
        "--as-of",
        AS_OF.isoformat(),
        "-o",
        str(tmp_path / "n.csv"),
    )
    assert wide["code"] == narrow["code"] == 0
    assert (tmp_path / "w.csv").read_bytes() == (tmp_path / "n.csv").read_bytes()
    assert wide["peak_mb"] < narrow["peak_mb"] + 250, (wide["peak_mb"], narrow["peak_mb"])
    listed = ", ".join(f"'x{i}'" for i in range(20))
    assert (
        f"events.csv: ignored column(s) not in the contract: {listed} and 199,980 more"
        in wide["stderr"]
    )
    assert "'x20'" not in wide["stderr"]


@pytest.mark.parametrize("quoted", [False, True], ids=["no-quotes", "a-quoted-value"])
def test_a_wide_file_keeps_only_the_contract_columns(tmp_path: Path, quoted: bool) -> None:
    """Past WIDE columns, the ignored ones are named but not held; below it they are held,
    for --carry to copy without reading the file again."""
    extra = WIDE
    path = widened(SAMPLE / "customers.csv", tmp_path / "customers.csv", extra, "v")
    if quoted:
        path.write_text(path.read_text().replace("Customer 1,", '"Customer 1",', 1))
    raw = read_table(TABLES["customers"], path)
    frame = raw.frame.collect()
    assert frame.columns == ["_line", *TABLES["customers"].column_names]
    assert frame.height == 19 and raw.structural_rejects.height == 0
    assert frame.get_column("name").head(1).to_list() == ["Customer 1"]
    assert raw.unknown_columns == ("phone", "email", *(f"x{i}" for i in range(extra)))
    assert raw.header[:6] == ("customer_id", "name", "origin", "created_on", "phone", "email")
    assert raw.unknown_frame is not None
    assert raw.unknown_frame.collect_schema().names() == ["_line"]

    narrow = widened(SAMPLE / "customers.csv", tmp_path / "narrow.csv", extra - 10, "v")
    held = read_table(TABLES["customers"], narrow).unknown_frame
    assert held is not None
    assert held.collect().get_column(f"x{extra - 11}").to_list() == ["v"] * 19


def test_a_zero_byte_or_a_missing_field_in_an_ignored_column_is_still_found(
    tmp_path: Path,
) -> None:
    """The columns the run ignores are not held, but their fields are counted and checked for
    a zero byte, as in a narrow file: the row is rejected naming the column and the place."""
    width = WIDE + 5
    header = HEADERS["payments"] + "".join(f",x{i}" for i in range(width))
    good = "P-1,C-1,2024-03-01,4.00,recurring" + ",v" * width
    nul = "P-2,C-1,2024-03-01,4.00,recurring" + ",v" * (width - 1) + ',"a\x00b"'
    short = "P-3,C-1,2024-03-01,4.00,recurring" + ",v" * (width - 1)
    path = tmp_path / "payments.csv"
    path.write_text("\n".join([header, good, nul, short, good.replace("P-1", "P-4")]) + "\n")
    frame, rejects = read_csv(path, "payment_id", needed=lambda name: not name.startswith("x"))
    assert frame.columns == ["_line", *HEADERS["payments"].split(",")]
    assert frame.get_column("payment_id").to_list() == ["P-1", "P-4"]
    assert rejects.select("line", "column").rows() == [(3, f"x{width - 1}"), (4, "*")]
    reasons = rejects.get_column("reason").to_list()
    assert reasons[0].startswith(f"column 'x{width - 1}' holds a zero byte (NUL) at character 2 ")
    assert reasons[1].startswith(f"row has {width + 4} fields but the header has {width + 5};")


def test_a_column_of_a_wide_customers_file_is_carried(tmp_path: Path, invoke: Any) -> None:
    """--carry of a column the run did not hold (the header is wide) reads it from the file."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    rows = widened(SAMPLE / "customers.csv", tmp_path / "c.csv", WIDE).read_text().splitlines()
    rows = [rows[0] + f",x{WIDE}", *(f"{row},tag-{at}" for at, row in enumerate(rows[1:], 2))]
    (data / "customers.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    result = invoke(
        "reconcile", "--data", str(data), "--as-of", AS_OF.isoformat(), "-o", str(out),
        "--carry", f"x{WIDE}",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    carried = pl.read_csv(out, infer_schema=False).select("customer_id", f"x{WIDE}")
    assert carried.row(0) == ("C-1", "tag-2")
    assert carried.get_column(f"x{WIDE}").str.starts_with("tag-").all()


def test_a_missing_column_in_a_wide_header_is_named_briefly(tmp_path: Path, invoke: Any) -> None:
    """The refusal lists the first 20 of the header's names and counts the others."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    text = widened(SAMPLE / "payments.csv", data / "payments.csv", 5_000).read_text()
    (data / "payments.csv").write_text(text.replace("amount,", "amt,", 1))
    result = invoke("reconcile", "--data", str(data), "--as-of", AS_OF.isoformat())
    assert result.exit_code == 3, result.stderr
    assert "required column amount is missing (line 1 has 'payment_id'," in result.stderr
    assert "'x14' and 4,985 more); add it to the export" in result.stderr
    assert len(result.stderr) < 2_000


# Reads one table in a child process, with its peak memory.
_READ_IN_CHILD = """
import sys
from pathlib import Path
from followup_cli.core.schema import TABLES
from followup_cli.reading.loading import read_table
raw = read_table(TABLES["events"], Path(sys.argv[1]))
result = {"rows": raw.frame.collect().height, "rejects": raw.structural_rejects.height}
"""


def _read_in_child(path: Path) -> dict[str, Any]:
    return in_child(_READ_IN_CHILD, str(path))


def test_one_zero_byte_in_a_wide_file_costs_no_more_memory(tmp_path: Path) -> None:
    """A 10 MB file of 1,010 columns: one NUL made the reader filter every row's list of
    fields, a copy of them all (306 MB against 184 MB without it); now only the rows holding
    one are looked at again."""
    extra = WIDE + 5
    header = HEADERS["events"] + "".join(f",x{i}" for i in range(extra))
    rows = [f"E-{i},C-1,2024-03-01 10:00,visit,attended" + ",v" * extra for i in range(5_000)]
    clean = tmp_path / "clean" / "events.csv"
    clean.parent.mkdir()
    clean.write_text(header + "\n" + "\n".join(rows) + "\n")
    rows[2_500] = rows[2_500].replace(",v", ",\x00", 1)
    with_nul = tmp_path / "nul" / "events.csv"
    with_nul.parent.mkdir()
    with_nul.write_text(header + "\n" + "\n".join(rows) + "\n")
    before, after = _read_in_child(clean), _read_in_child(with_nul)
    assert (before["rows"], before["rejects"]) == (5_000, 0)
    assert (after["rows"], after["rejects"]) == (4_999, 1)
    assert after["peak_mb"] < before["peak_mb"] + 50, (before, after)
