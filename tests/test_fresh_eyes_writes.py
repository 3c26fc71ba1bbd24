"""What a fresh-eyes hostile test of the write paths found (round five, eighth pass).

The rules file (SPEC 11) is read by the run as the exports are, yet any file of the run could
be written over it; `--changes NAME.xlsx` passed the checks made before any work, then failed
at the end with exit 3; and an unknown `--changes` extension was blamed on --output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from .conftest import SAMPLE

Invoke = Callable[..., Any]


def _reconcile(invoke: Invoke, as_of: str, *extra: str) -> Any:
    return invoke("reconcile", "--data", str(SAMPLE), "--as-of", as_of, "-q", *extra)


@pytest.mark.parametrize(
    "option",
    [
        ("-o", "{rules}", "--format", "csv"),
        ("-o", "{out}", "--report", "{rules}"),
        ("-o", "{out}", "--metrics", "{rules}"),
        ("-o", "{out}", "--rejects", "{rules}"),
        ("-o", "{out}", "--previous", "{previous}", "--changes", "{rules}"),
    ],
    ids=["output", "report", "metrics", "rejects", "changes"],
)
def test_no_file_of_the_run_is_written_over_its_rules_file(
    invoke: Invoke, tmp_path: Path, option: tuple[str, ...]
) -> None:
    """Exit 2 before any work, as for an export: the output written over rules.toml (exit 0)
    left the next night's run without its rules."""
    rules = tmp_path / "rules.toml"
    made = invoke("rules", "init")
    assert made.exit_code == 0, made.output
    rules.write_text(made.stdout)
    previous = tmp_path / "previous.csv"
    assert _reconcile(invoke, "2024-07-30", "-o", str(previous)).exit_code == 0
    names = {"rules": rules, "out": tmp_path / "out.csv", "previous": previous}
    args = [part.format(**names) for part in option]
    result = _reconcile(invoke, "2024-07-31", "--rules", str(rules), *args)
    assert result.exit_code == 2, result.output
    assert f"{rules} is one of the input files" in result.output
    assert rules.read_text() == made.stdout
    assert not (tmp_path / "out.csv").exists()


def test_a_changes_workbook_holds_the_changes_sheet(invoke: Invoke, tmp_path: Path) -> None:
    """`--changes moves.xlsx` is a workbook of one Changes sheet, as `followup changes -o
    moves.xlsx` writes; it was exit 3 at the end ("unable to find column follow_up_status"),
    after the checks made before any work had taken the name."""
    previous = tmp_path / "previous.csv"
    assert _reconcile(invoke, "2024-07-30", "-o", str(previous)).exit_code == 0
    report = tmp_path / "report.json"
    for changes in ("moves.csv", "moves.xlsx"):  # the workbook's run last: its report is read
        result = _reconcile(
            invoke,
            "2024-07-31",
            "-o",
            str(tmp_path / "out.csv"),
            "--previous",
            str(previous),
            "--changes",
            str(tmp_path / changes),
            "--report",
            str(report),
        )
        assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "moves.xlsx")
    assert book.sheetnames == ["Changes"]
    rows = list(book["Changes"].values)[1:]
    written = pl.read_csv(tmp_path / "moves.csv", infer_schema=False)
    assert written.height > 0
    assert [row[0] for row in rows] == written.get_column("customer_id").to_list()
    listed = [o for o in json.loads(report.read_text())["outputs"] if o["kind"] == "changes"]
    assert [(o["format"], o["rows"]) for o in listed] == [("xlsx", written.height)]


def test_an_unknown_changes_extension_is_blamed_on_changes(invoke: Invoke, tmp_path: Path) -> None:
    previous = tmp_path / "previous.csv"
    assert _reconcile(invoke, "2024-07-30", "-o", str(previous)).exit_code == 0
    moves = tmp_path / "moves.txt"
    result = _reconcile(
        invoke, "2024-07-31", "-o", str(tmp_path / "o.csv"), "--previous", str(previous),
        "--changes", str(moves),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"--changes {moves}: cannot tell the format" in result.output


def test_a_full_disk_for_the_snapshot_keeps_the_runs_exit_code(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output set is in place when the snapshot is stored, so a history that cannot take
    it is a warning (SPEC 8), not a failed run. A full disk there came as Polars' own error,
    which escaped as "internal error", exit 3, the report `failed` and the metrics saying no
    success, on a night whose lists were delivered."""
    from followup_cli.nightly import history

    def full(_rows: object, _fmt: str) -> Callable[[object], None]:
        def fill(_sink: object) -> None:
            raise pl.exceptions.ComputeError(
                "parquet: IO error: No space left on device (os error 28)"
            )

        return fill

    monkeypatch.setattr(history, "frame_writer", full)
    report, metrics = tmp_path / "report.json", tmp_path / "followup.prom"
    result = _reconcile(
        invoke, "2024-07-31", "-o", str(tmp_path / "out.csv"), "--history",
        str(tmp_path / "runs"), "--report", str(report), "--metrics", str(metrics),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = f"--history {tmp_path / 'runs'}: cannot be written (No space left on device)"
    assert said in result.output
    assert (tmp_path / "out.csv").exists()
    document = json.loads(report.read_text())
    assert document["exit_code"] == 0
    assert document["warnings_by_kind"]["snapshot_not_stored"] == 1
    assert "followup_last_run_success 1.0" in metrics.read_text()
    assert not list((tmp_path / "runs").glob("as_of=*"))


@pytest.mark.parametrize("option", ["-o", "--report", "--metrics", "--rejects"])
def test_a_link_into_a_missing_folder_is_refused_before_any_work(
    invoke: Invoke, tmp_path: Path, option: str
) -> None:
    """A destination that is a link to a file in a folder that does not exist: the files are
    written where the link leads, yet the check made before any work looked at the link's own
    folder, so the run did its work and failed at the end (the output set already replaced
    for --report, exit 3 for -o)."""
    link = tmp_path / ("out.csv" if option in ("-o", "--rejects") else "record.json")
    link.symlink_to(tmp_path / "missing" / link.name)
    names = {"-o": str(tmp_path / "out-real.csv")} if option != "-o" else {}
    args = [option, str(link), *(("-o", names["-o"]) if names else ())]
    result = _reconcile(invoke, "2024-07-31", *args)
    assert result.exit_code == 2, result.output
    assert f"{option if option != '-o' else '--output'} {link}: it links to a file in" in (
        result.output
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [link.name]


def test_a_file_in_the_way_of_a_folder_is_named_as_a_file(invoke: Invoke, tmp_path: Path) -> None:
    """`-o out.csv/x.csv` where out.csv is a file: "the folder out.csv does not exist" sent
    people looking for a missing folder."""
    (tmp_path / "out.csv").write_text("yesterday\n")
    result = _reconcile(invoke, "2024-07-31", "-o", str(tmp_path / "out.csv" / "x.csv"))
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'out.csv'} is a file, not a folder" in result.output


@pytest.mark.parametrize(
    ("option", "name"),
    [("-o", "payments.parquet"), ("-o", "Events.CSV"), ("--rejects", "Agreements.CSV")],
)
def test_a_file_written_into_the_exports_under_a_tables_name_is_refused(
    invoke: Invoke, tmp_path: Path, option: str, name: str
) -> None:
    """`-o exports/payments.parquet` beside payments.csv was written (exit 0), and every
    later night stopped at "two files for the payments table" (exit 3)."""
    import shutil

    data = tmp_path / "exports"
    shutil.copytree(SAMPLE, data)
    before = sorted(p.name for p in data.iterdir())
    args = [option, str(data / name)]
    if option != "-o":
        args += ["-o", str(tmp_path / "out.csv")]
    result = invoke("reconcile", "--data", str(data), "--as-of", "2024-07-31", "-q", *args)
    assert result.exit_code == 2, result.output
    assert "the next run would read it as an export" in result.output
    assert sorted(p.name for p in data.iterdir()) == before
    # Given by path, that table is not looked for in the folder: the name is free.
    table = Path(name).stem.lower()
    given = invoke(
        "reconcile", "--data", str(data), "--as-of", "2024-07-31", "-q", *args,
        f"--{table}", str(data / f"{table}.csv"),
    )  # fmt: skip
    assert given.exit_code in (0, 1), given.output


def test_a_link_into_the_exports_under_a_tables_name_is_refused(
    invoke: Invoke, tmp_path: Path
) -> None:
    """`-o out.csv` where out.csv links to exports/payments.parquet: the file written is
    the one the next run reads."""
    import shutil

    data = tmp_path / "exports"
    shutil.copytree(SAMPLE, data)
    link = tmp_path / "out.csv"
    link.symlink_to(data / "payments.parquet")
    result = invoke("reconcile", "--data", str(data), "--as-of", "2024-07-31", "-q",
                    "-o", str(link))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"--output {link} leads to payments.parquet, in the exports folder" in result.output
    assert not (data / "payments.parquet").exists()


@pytest.mark.parametrize("name", ["rejected.xlsx", "rejected.parquet", "rejected.jsonl"])
def test_a_rejects_name_of_another_format_is_refused(
    invoke: Invoke, tmp_path: Path, name: str
) -> None:
    """The rejects file is CSV (SPEC 6); under a .xlsx or .parquet name its bytes opened as a
    broken file, with no word said."""
    result = _reconcile(
        invoke, "2024-07-31", "-o", str(tmp_path / "o.csv"), "--rejects", str(tmp_path / name)
    )
    assert result.exit_code == 2, result.output
    assert "the rejects file is CSV; end its name in .csv" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_previous_that_is_no_regular_file_is_named_so(
    invoke: Invoke, tmp_path: Path, kind: str
) -> None:
    """--previous naming a folder or a FIFO said "no such file", sending people to look for
    a file that was there."""
    import os

    previous = tmp_path / "previous.csv"
    if kind == "folder":
        previous.mkdir()
    else:
        os.mkfifo(previous)
    result = _reconcile(
        invoke, "2024-07-31", "-o", str(tmp_path / "o.csv"), "--previous", str(previous)
    )
    assert result.exit_code == 3, result.output
    assert f"{previous}: not a regular file (given for --previous)" in result.output


@pytest.mark.parametrize("command", [("changes",), ("history", "C-1"), ("trends",)])
def test_a_folder_as_the_output_of_changes_history_or_trends_is_exit_2(
    invoke: Invoke, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """As reconcile's -o: a folder is refused before any snapshot is read (it was exit 3,
    "cannot be written (Is a directory)", after the work)."""
    history = tmp_path / "runs"
    for night in ("2024-07-30", "2024-07-31"):
        done = _reconcile(invoke, night, "-o", str(tmp_path / f"{night}.csv"), "--history",
                          str(history))  # fmt: skip
        assert done.exit_code == 0, done.output
    result = invoke(*command, "--history", str(history), "-o", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert f"--output {tmp_path} is a folder; give a file name" in result.output


@pytest.mark.parametrize(("stem", "said"), [(236, "the name is too long"), (300, "cannot be used")])
def test_a_name_too_long_for_the_folder_is_refused_before_any_work(
    invoke: Invoke, tmp_path: Path, stem: int, said: str
) -> None:
    """A 240-byte name passed the checks made before any work (the probe used a short name
    of its own), then the run failed at the end: the writer's temporary names are longer. A
    name past the file system's limit was "internal error". Both are exit 2 now."""
    out = tmp_path / ("b" * stem + ".csv")
    result = _reconcile(invoke, "2024-07-31", "-o", str(out), "--rejects", str(tmp_path / "r.csv"))
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert list(tmp_path.iterdir()) == []


def test_split_file_names_too_long_are_refused_before_any_work(
    invoke: Invoke, tmp_path: Path
) -> None:
    """--split-by names each file after -o and a value (up to 60 characters and a hash): an
    -o of 180 bytes made names the folder cannot hold, found only at the end."""
    data = tmp_path / "data"
    import shutil

    shutil.copytree(SAMPLE, data)
    customers = pl.read_csv(data / "customers.csv", infer_schema=False)
    customers.with_columns(home_club=pl.lit("Downtown")).write_csv(data / "customers.csv")
    out = tmp_path / ("a" * 180 + ".csv")
    result = _reconcile_data(invoke, data, "-o", str(out), "--split-by", "home_club")
    assert result.exit_code == 2, result.output
    assert "--split-by home_club with -o" in result.output and "too long" in result.output
    fits = tmp_path / ("a" * 100 + ".csv")
    assert _reconcile_data(invoke, data, "-o", str(fits), "--split-by", "home_club").exit_code == 0


def _reconcile_data(invoke: Invoke, data: Path, *extra: str) -> Any:
    return invoke("reconcile", "--data", str(data), "--as-of", "2024-07-31", "-q", *extra)
