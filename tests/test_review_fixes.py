"""What a reviewer found in the nightly job and the lists (SPEC 6, 8 and 9), one test each."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from followup_cli.outputs import signals

from .conftest import HEADERS

Invoke = Callable[..., Any]
DAY2, DAY3 = "2024-07-30", "2024-07-31"
EMPTY = {name: [] for name in ("agreements", "payments", "events")}


def _folder(path: Path, customers: list[str], header: str = HEADERS["customers"]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "customers.csv").write_text("\n".join([header, *customers]) + "\n")
    for table in EMPTY:
        (path / f"{table}.csv").write_text(HEADERS[table] + "\n")
    return path


def _run(invoke: Invoke, data: Path, as_of: str, *extra: str) -> Any:
    return invoke("reconcile", "--data", str(data), "--as-of", as_of, "-q", *extra)


def _two_snapshots(invoke: Invoke, tmp_path: Path) -> Path:
    """Two runs in a history: the second has a new person named like a formula."""
    history = tmp_path / "runs"
    first = _folder(tmp_path / "d1", ["C-1,Ann,web,2024-01-01"])
    second = _folder(tmp_path / "d2", ["C-1,Ann,web,2024-01-01", "@18,=SUM(1),web,2024-01-01"])
    for data, day in ((first, DAY2), (second, DAY3)):
        result = _run(
            invoke, data, day, "-o", str(tmp_path / f"o-{day}.csv"), "--history", str(history)
        )
        assert result.exit_code == 0, result.output
    return history


# --- 5 and 11: changes and history write CSV as reconcile does ------------------------------


def test_changes_command_guards_formulas_unless_raw_text(invoke: Invoke, tmp_path: Path) -> None:
    """`followup changes` guards a text value starting with = or @ (SPEC 9); --raw-text not."""
    history = _two_snapshots(invoke, tmp_path)
    guarded = invoke("changes", "--history", str(history))
    assert guarded.exit_code == 0, guarded.output
    row = pl.read_csv(guarded.stdout.encode(), infer_schema=False).row(0, named=True)
    assert (row["customer_id"], row["name"]) == ("'@18", "'=SUM(1)")
    raw = invoke("changes", "--history", str(history), "--raw-text")
    assert raw.exit_code == 0, raw.output
    row = pl.read_csv(raw.stdout.encode(), infer_schema=False).row(0, named=True)
    assert (row["customer_id"], row["name"]) == ("@18", "=SUM(1)")


@pytest.mark.parametrize("command", [("changes",), ("history", "C-1")])
def test_changes_and_history_take_bom(
    invoke: Invoke, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """--bom starts the CSV of changes and history with a UTF-8 BOM, as reconcile's."""
    history = _two_snapshots(invoke, tmp_path)
    out = tmp_path / "x.csv"
    result = invoke(*command, "--history", str(history), "--bom", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    ("command", "sheet"), [(("changes",), "Changes"), (("history", "C-1"), "Status history")]
)
def test_changes_and_history_write_xlsx(
    invoke: Invoke, tmp_path: Path, command: tuple[str, ...], sheet: str
) -> None:
    """-o x.xlsx for changes or history writes a one-sheet workbook (issue 22; it was a usage
    error while the README said they write like reconcile)."""
    import openpyxl

    history = _two_snapshots(invoke, tmp_path)
    result = invoke(*command, "--history", str(history), "-o", str(tmp_path / "ch.xlsx"))
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(tmp_path / "ch.xlsx").sheetnames == [sheet]


# --- 6: --previous reads back what reconcile wrote ------------------------------------------


def test_previous_csv_with_guarded_ids_matches_the_same_people(
    invoke: Invoke, tmp_path: Path
) -> None:
    """Ids and names starting with @ or = come back from a guarded CSV as they were: no one
    is new and gone at once, so nothing changed."""
    data = _folder(tmp_path / "d", ["@18,=SUM(1),web,2024-01-01", "-7,+Bo,web,2024-01-01"])
    first = tmp_path / "o-2024-07-30.csv"
    assert _run(invoke, data, DAY2, "-o", str(first)).exit_code == 0
    assert "'@18" in first.read_text()  # the guard is on
    changes = tmp_path / "ch.csv"
    result = _run(
        invoke,
        data,
        DAY3,
        "-o",
        str(tmp_path / "o2.csv"),
        "--previous",
        str(first),
        "--changes",
        str(changes),
    )
    assert result.exit_code == 0, result.output
    assert pl.read_csv(changes, infer_schema=False).height == 0


def test_read_output_undoes_only_the_guard(tmp_path: Path) -> None:
    """A leading ' is dropped only where the guard put it: before = + - @ tab or CR, and not
    before a plain number (the guard leaves -3 alone, so '-3 was written as it is)."""
    from followup_cli.nightly.earlier_output import read_output

    path = tmp_path / "o.csv"
    pl.DataFrame(
        {
            "customer_id": ["'@1", "'=2", "'-x3", "'+x4", "'\t5", "'Hara", "''@6", "'-3"],
            "follow_up_status": ["Lead"] * 8,
            "account_status": [None] * 8,
            "balance": ["0.00"] * 8,
        }
    ).write_csv(path)
    ids = read_output(path)["customer_id"].to_list()
    assert ids == ["@1", "=2", "-x3", "+x4", "\t5", "'Hara", "''@6", "'-3"]


def test_previous_xlsx_is_a_usage_error(invoke: Invoke, tmp_path: Path) -> None:
    """--previous x.xlsx: exit 2 naming the formats it reads and --history."""
    data = _folder(tmp_path / "d", ["C-1,Ann,web,2024-01-01"])
    book = tmp_path / "o-2024-07-30.xlsx"
    assert _run(invoke, data, DAY2, "-o", str(book)).exit_code == 0
    result = _run(invoke, data, DAY3, "-o", str(tmp_path / "o2.csv"), "--previous", str(book))
    assert result.exit_code == 2, result.output
    assert "--history" in result.output and "Parquet" in result.output
    assert not (tmp_path / "o2.csv").exists()


# --- 7: an interrupted workbook leaves no traceback -----------------------------------------


def test_an_interrupted_workbook_write_leaves_no_unraisable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal while xlsxwriter zips the workbook: no "Exception ignored in ZipFile.__del__"
    once the temporary file is closed and removed."""
    import xlsxwriter.workbook

    from followup_cli.outputs.serialise import frame_writer
    from followup_cli.outputs.writing import write_atomically

    class Stop(BaseException):
        pass

    def stop(*_args: object, **_kwargs: object) -> None:
        raise Stop

    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(xlsxwriter.workbook.ZipFile, "writestr", stop)
    frame = pl.DataFrame({"follow_up_status": ["Lead"], "customer_id": ["C-1"]})
    with pytest.raises(Stop):
        write_atomically(tmp_path / "o.xlsx", frame_writer(frame, "xlsx"))
    gc.collect()
    assert unraisable == []
    assert list(tmp_path.iterdir()) == []


# --- 8: a native panic is a failed run to report --------------------------------------------


def _panic_in_the_run(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr("followup_cli.job.nightly.run", fail)


def test_a_panic_is_recorded_in_the_report_and_metrics(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyo3's PanicException (a BaseException): exit 3, and the report and metrics say failed."""
    _panic_in_the_run(monkeypatch, pl.exceptions.PanicException("index out of bounds"))
    data = _folder(tmp_path / "d", ["C-1,Ann,web,2024-01-01"])
    report, prom = tmp_path / "r.json", tmp_path / "m.prom"
    result = _run(invoke, data, DAY3, "--report", str(report), "--metrics", str(prom))
    assert result.exit_code == 3, result.output
    document = json.loads(report.read_text())
    assert document["outcome"] == "failed" and "PanicException" in document["error"]
    assert "followup_last_run_success 0.0" in prom.read_text()


def test_an_interrupted_run_writes_no_report(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped by SIGTERM writes nothing at all, its report neither (SPEC 6)."""
    _panic_in_the_run(monkeypatch, signals.Interrupted(15))
    data = _folder(tmp_path / "d", ["C-1,Ann,web,2024-01-01"])
    result = _run(invoke, data, DAY3, "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 143, result.output
    assert not (tmp_path / "r.json").exists()


# --- 9: explain of a person whose own row was set aside -------------------------------------


def test_explain_of_a_rejected_customer_lists_the_rejected_rows(
    invoke: Invoke, tmp_path: Path
) -> None:
    """explain C-1 when C-1's customers row was rejected: the message names that row."""
    data = _folder(tmp_path / "d", ["C-1,Ann,web,not a date", "C-2,Bo,web,2024-01-01"])
    result = invoke("explain", "C-1", "--data", str(data), "--as-of", DAY3)
    assert result.exit_code == 2, result.output
    assert "customers.csv line 2" in result.output
    assert "created_on" in result.output


# --- 13: --carry reads multi-line records as the run does -----------------------------------


@pytest.mark.parametrize("scale", [(), ("--buckets", "2")])
def test_carry_keeps_a_multi_line_value(
    invoke: Invoke, tmp_path: Path, scale: tuple[str, ...]
) -> None:
    """A quoted note over three lines, one of which looks like a row without an id: the
    carried note is the whole value, as the run read it (in one pass or in buckets)."""
    data = _folder(
        tmp_path / "d",
        ['C-1,Ann,web,2024-01-01,"one', ",a,b,c,d", 'end"', "C-2,Bo,web,2024-01-01,ok"],
        header=HEADERS["customers"] + ",note",
    )
    result = _run(invoke, data, DAY3, "--carry", "note", *scale)
    assert result.exit_code == 0, result.output
    rows = pl.read_csv(result.stdout.encode(), infer_schema=False).select("customer_id", "note")
    assert rows.rows() == [("C-1", "one\n,a,b,c,d\nend"), ("C-2", "ok")]


# --- 14: a failed run does not claim an as-of date reconciled -------------------------------


def test_a_failed_run_keeps_the_as_of_date_last_reconciled(invoke: Invoke, tmp_path: Path) -> None:
    """followup_as_of_timestamp_seconds stays the last reconciled date when a run fails."""
    data = _folder(tmp_path / "d", ["C-1,Ann,web,2024-01-01"])
    prom = tmp_path / "m.prom"
    assert _run(invoke, data, DAY2, "--metrics", str(prom)).exit_code == 0
    (data / "customers.csv").unlink()
    assert _run(invoke, data, DAY3, "--metrics", str(prom)).exit_code == 3
    families = {f.name: f.samples for f in text_string_to_metric_families(prom.read_text())}
    assert families["followup_last_run_success"][0].value == 0
    assert families["followup_as_of_timestamp_seconds"][0].value == 1722297600  # 2024-07-30


def test_a_failed_first_run_has_no_as_of_figure(invoke: Invoke, tmp_path: Path) -> None:
    """Without an earlier metrics file, a failed run leaves the as-of figure out."""
    data = _folder(tmp_path / "d", ["C-1,Ann,web,2024-01-01"])
    (data / "customers.csv").unlink()
    prom = tmp_path / "m.prom"
    assert _run(invoke, data, DAY3, "--metrics", str(prom)).exit_code == 3
    names = {f.name for f in text_string_to_metric_families(prom.read_text())}
    assert "followup_as_of_timestamp_seconds" not in names
