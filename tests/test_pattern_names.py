"""A path is the file it names, even with `[ ] * ?` in it (SPEC 2 and 8).

Polars' readers take a path as a glob pattern unless told otherwise: `--data 'club[2]'` read
the folder `club2` beside it (another club's people, exit 0), `exp*` read two folders at once,
and a snapshot under `runs[1]` was "not a followup output". Each test names the file with such
characters and puts a decoy that the pattern would match beside it: without `glob=False` the
decoy is what gets read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import polars as pl
import pytest

import followup_cli
from followup_cli.synthetic.generate import generate

PACKAGE = Path(followup_cli.__file__).parent
# Polars functions that read a path as a pattern by default.
GLOBBING = {"scan_parquet", "read_parquet", "scan_csv", "read_csv", "scan_ipc", "read_ipc"}
# Ones that do with no way to say otherwise: read through `scan_parquet(..., glob=False)` or
# from an open file instead.
ALWAYS_GLOBBING = {"read_parquet_schema", "scan_ndjson"}
# ... or that may be given an open file or bytes, named so here (a path would glob).
GLOBBING_UNLESS_OPEN = {"read_ndjson": {"handle", "first"}}


def _club(folder: Path, customers: int, seed: int, fmt: str) -> Path:
    generate(customers, folder, seed=seed, fmt=fmt)
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_folder_with_brackets_is_read_and_not_the_folder_its_pattern_matches(
    tmp_path: Path, invoke, fmt: str
) -> None:
    _club(tmp_path / "club[2]", 60, 3, fmt)
    _club(tmp_path / "club2", 200, 1, fmt)  # what `club[2]` matches as a pattern
    plain = _club(tmp_path / "plain", 60, 3, fmt)
    for data, out in ((tmp_path / "club[2]", "a.csv"), (plain, "b.csv")):
        result = invoke("reconcile", "--data", str(data), "--as-of", "2024-07-31", "-q",
                        "-o", str(tmp_path / out))  # fmt: skip
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_star_in_a_file_name_reads_that_file_alone(tmp_path: Path, invoke, fmt: str) -> None:
    club = _club(tmp_path / "club", 60, 3, fmt)
    decoy = _club(tmp_path / "decoy", 200, 1, fmt)
    named = {}
    for table in ("customers", "agreements", "payments", "events"):
        star = club / f"{table}*.{fmt}"
        (club / f"{table}.{fmt}").rename(star)
        # `customers*.csv` as a pattern also matches this one, a repeat of every id.
        (decoy / f"{table}.{fmt}").rename(club / f"{table}-more.{fmt}")
        named[table] = star
    args = [arg for table, path in named.items() for arg in (f"--{table}", str(path))]
    result = invoke(
        "reconcile", *args, "--as-of", "2024-07-31", "-q", "-o", str(tmp_path / "a.csv")
    )
    assert result.exit_code == 0, result.output
    plain = _club(tmp_path / "plain", 60, 3, fmt)
    again = invoke("reconcile", "--data", str(plain), "--as-of", "2024-07-31", "-q",
                   "-o", str(tmp_path / "b.csv"))  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def _nights(invoke, data: Path, folder: Path, previous: str) -> dict[str, bytes]:
    """Two nights in `folder`: the first with --history and an output kept as `previous`, the
    second compared with it twice (--previous, then --history with a workbook and --buckets,
    whose work folder lies beside the output), then `followup changes --history`."""
    folder.mkdir(parents=True)
    history, before = folder / "h", folder / previous
    first = invoke("reconcile", "--data", str(data), "--as-of", "2024-07-30", "-q",
                   "-o", str(before), "--history", str(history))  # fmt: skip
    assert first.exit_code == 0, first.output
    second = invoke("reconcile", "--data", str(data), "--as-of", "2024-07-31", "-q",
                    "-o", str(folder / "out.csv"), "--previous", str(before),
                    "--changes", str(folder / "previous-changes.csv"))  # fmt: skip
    assert second.exit_code == 0, second.output
    third = invoke("reconcile", "--data", str(data), "--as-of", "2024-07-31", "-q",
                   "-o", str(folder / "out.xlsx"), "--history", str(history), "--buckets", "2",
                   "--changes", str(folder / "history-changes.csv"))  # fmt: skip
    assert third.exit_code == 0, third.output
    listed = invoke("changes", "--history", str(history))
    assert listed.exit_code == 0, listed.output
    read = {name: (folder / name).read_bytes() for name in ("out.csv", "previous-changes.csv")}
    read["history-changes.csv"] = (folder / "history-changes.csv").read_bytes()
    read["listed"] = listed.stdout.encode()
    return read


@pytest.mark.parametrize("previous", ["before.csv", "before.parquet", "before.jsonl"])
def test_the_nightly_files_are_read_from_folders_with_brackets(
    tmp_path: Path, invoke, previous: str
) -> None:
    data = _club(tmp_path / "data", 80, 5, "parquet")
    odd = tmp_path / "runs[1]"
    # Decoys: the folder `runs[1]` matches, with a night of another club in it.
    decoy = tmp_path / "runs1"
    other = _club(tmp_path / "other", 40, 9, "parquet")
    assert _nights(invoke, other, decoy, previous)
    got = _nights(invoke, data, odd, previous)
    assert got == _nights(invoke, data, tmp_path / "plain", previous)
    assert b"2024-07-30" in got["listed"]  # the changes were read from the history


def test_a_json_lines_output_is_checked_from_its_first_line_alone(tmp_path: Path) -> None:
    """The check made before any work reads one line: the first row holds a null date that
    a later row fills (given every line, Polars refuses a date in a column it typed null)."""
    from followup_cli.nightly.earlier_output import check_output, read_output

    rows = pl.DataFrame(
        {
            "customer_id": ["C-1", "C-2"],
            "name": ["A", "B"],
            "follow_up_status": ["Active Customer"] * 2,
            "account_status": [None, "Due"],
            "reason": ["r", "r"],
            "balance": ["0.00", "-4.00"],
            "last_paid_on": [None, "2024-06-28"],
        }
    )
    path = tmp_path / "prev[1].jsonl"
    rows.write_ndjson(path)
    (tmp_path / "prev1.jsonl").write_text('{"not": "an output"}\n')
    check_output(path)
    assert read_output(path).get_column("customer_id").to_list() == ["C-1", "C-2"]


def test_the_generated_export_of_a_folder_with_brackets_is_counted(tmp_path: Path, invoke) -> None:
    result = invoke(
        "generate", "--customers", "30", "--out", str(tmp_path / "g[1]"), "--format", "csv", "-q"
    )
    assert result.exit_code == 0, result.output
    assert pl.read_csv(tmp_path / "g[1]" / "customers.csv", glob=False).height == 30


def _calls(path: Path) -> list[tuple[int, str, ast.Call]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "pl":
                found.append((node.lineno, node.func.attr, node))
    return found


def test_every_polars_read_of_a_path_takes_it_as_a_name() -> None:
    """The class, not the cases: any Polars reader called in the package without glob=False
    (or one that always globs) is named here with its file and line."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, name, call in _calls(path):
            where = f"{path.relative_to(PACKAGE)}:{line}: pl.{name}"
            if name in ALWAYS_GLOBBING:
                wrong.append(f"{where} always takes a pattern")
            elif name in GLOBBING_UNLESS_OPEN:
                given = call.args[0] if call.args else None
                if not isinstance(given, ast.Name) or given.id not in GLOBBING_UNLESS_OPEN[name]:
                    wrong.append(f"{where} given what may be a path (a pattern)")
            elif name in GLOBBING:
                glob = [k for k in call.keywords if k.arg == "glob"]
                literal = glob and isinstance(glob[0].value, ast.Constant)
                if not literal or glob[0].value.value is not False:
                    wrong.append(f"{where} without glob=False")
    assert wrong == []
