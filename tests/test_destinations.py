"""Every file a run may write is checked before any work (SPEC 6): a run that ends with exit 2
or 3 creates or changes no file, and no destination overwrites an input or another one."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from followup_cli.core.errors import EXIT_USAGE
from followup_cli.outputs.destinations import beside

from .conftest import SAMPLE

Invoke = Callable[..., Any]
AS_OF = "2024-07-31"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE, tmp_path / "base"))


def _run(invoke: Invoke, base: Path, *extra: str) -> Any:
    return invoke("reconcile", "--data", str(base), "--as-of", AS_OF, *extra)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("option", ["--report", "--metrics"])
@pytest.mark.parametrize("table", ["customers", "payments"])
def test_record_destination_that_is_an_input_is_refused(
    invoke: Invoke, base: Path, tmp_path: Path, option: str, table: str
) -> None:
    """--report or --metrics naming an export is refused (exit 2) and the export is kept."""
    before = _snapshot(tmp_path)
    result = _run(invoke, base, "-o", str(tmp_path / "o.csv"), option, str(base / f"{table}.csv"))
    assert result.exit_code == EXIT_USAGE, result.output
    assert "is one of the input files" in result.output
    assert _snapshot(tmp_path) == before


def test_record_destination_that_is_an_input_is_refused_when_a_table_is_missing(
    invoke: Invoke, base: Path, tmp_path: Path
) -> None:
    """Even a run that fails to find a table does not write its report over an export."""
    (base / "events.csv").unlink()
    before = _snapshot(tmp_path)
    result = _run(
        invoke, base, "-o", str(tmp_path / "o.csv"), "--report", str(base / "customers.csv")
    )
    assert result.exit_code == EXIT_USAGE, result.output
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "extra",
    [
        ("--report", "{out}"),
        ("--metrics", "{out}"),
        ("--report", "{rejects}"),
        ("--report", "{same}", "--metrics", "{same}"),
        ("--history", "{tmp}/runs", "--report", "{changes}"),
    ],
)
def test_record_destination_that_is_another_destination_is_refused(
    invoke: Invoke, base: Path, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    """The report and metrics never replace the output, rejects or changes file, or each other."""
    out = tmp_path / "o.csv"
    out.write_text("yesterday\n")
    names = {
        "out": out,
        "rejects": tmp_path / "o-rejects.csv",
        "changes": tmp_path / "o-changes.csv",
        "same": tmp_path / "r.json",
        "tmp": tmp_path,
    }
    before = _snapshot(tmp_path)
    result = _run(invoke, base, "-o", str(out), *(e.format(**names) for e in extra))
    assert result.exit_code == EXIT_USAGE, result.output
    assert "is also the" in result.output
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "extra",
    [
        ("--report", "/proc/followup-runs/r.json"),  # a folder that cannot be made (SPEC 8)
        ("--metrics", "/proc/followup-runs/m.prom"),
        ("--history", "{tmp}/plain-file"),
        ("--history", "/proc/followup-runs"),
        ("--report", "{tmp}"),
        ("--changes", "/nonexistent-folder/c.csv", "--history", "{tmp}/runs"),
    ],
)
def test_unwritable_destination_fails_before_the_set_is_replaced(
    invoke: Invoke, base: Path, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    """A destination that cannot be written is exit 2 before anything is written (SPEC 6)."""
    out = tmp_path / "o.csv"
    out.write_text("yesterday\n")
    (tmp_path / "plain-file").write_text("not a folder\n")
    before = _snapshot(tmp_path)
    result = _run(invoke, base, "-o", str(out), *(e.format(tmp=tmp_path) for e in extra))
    assert result.exit_code == EXIT_USAGE, result.output
    assert _snapshot(tmp_path) == before
    assert not Path("/proc/followup-runs").exists()


def test_a_report_that_fails_after_the_set_is_written_says_so(
    invoke: Invoke, base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the report cannot be written after the output set is in place, the message says
    the output files were written, and the exit code stays the reconciliation's."""
    from followup_cli.core.errors import OutputError
    from followup_cli.nightly import report as run_report

    def full_disk(path: Path, document: object) -> None:
        raise OutputError(f"{path}: cannot be written (No space left on device)")

    monkeypatch.setattr(run_report, "write", full_disk)
    out = tmp_path / "o.csv"
    result = _run(invoke, base, "-o", str(out), "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output  # sample_data reconciles clean
    assert out.is_file()
    assert "no file was created or changed" not in result.output
    assert "the output files were written" in result.output


@pytest.mark.parametrize("special", ["/dev/null", "/dev/stdout"])
def test_changes_of_a_special_output_go_to_the_working_folder(special: str) -> None:
    """-o /dev/null must not leave /dev/null-changes.csv in /dev."""
    assert beside(Path(special), "-changes.csv", "followup-changes.csv") == Path(
        "followup-changes.csv"
    )


def test_symlink_loop_as_output_is_a_usage_error(
    invoke: Invoke, base: Path, tmp_path: Path
) -> None:
    """-o naming a loop of symbolic links is one line naming the path, not an internal error."""
    loop = tmp_path / "loop1.csv"
    os.symlink(tmp_path / "loop2.csv", loop)
    os.symlink(loop, tmp_path / "loop2.csv")
    result = _run(invoke, base, "-o", str(loop))
    assert result.exit_code == EXIT_USAGE, result.output
    assert "internal error" not in result.output
    assert str(loop) in result.output


@pytest.mark.parametrize("where", ["{tmp}/afile", "/proc/followup-x"])
def test_generate_into_something_not_a_folder_is_one_line(
    invoke: Invoke, tmp_path: Path, where: str
) -> None:
    """generate --out naming a file, or a place where no folder can be made, names the path."""
    (tmp_path / "afile").write_text("x\n")
    out = where.format(tmp=tmp_path)
    result = invoke("generate", "--customers", "10", "--out", out)
    assert result.exit_code in (2, 3), result.output
    assert "internal error" not in result.output
    assert out in result.output
    assert (tmp_path / "afile").read_text() == "x\n"
