"""The nightly job as a library call (issue 19 item 1): `run_job(JobRequest)` runs what
`followup reconcile` runs, without Typer or Rich, and gives back the outcome as data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from followup_cli import (
    EXIT_OK,
    EXIT_REJECTED_ROWS,
    EXIT_USAGE,
    Inputs,
    JobRequest,
    Lists,
    Outputs,
    Records,
    run_job,
)

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
GOLDEN = Path(__file__).resolve().parent / "golden" / "sample_2024-07-31.csv"

# Run in a child process, so that nothing the test session imported (Typer for the command's
# tests, Rich) hides what the job itself imports.
SCHEDULER = """
import datetime as dt, json, sys
from pathlib import Path
from followup_cli import EXIT_OK, Inputs, JobRequest, Outputs, Records, run_job

data, work = Path(sys.argv[1]), Path(sys.argv[2])
nights = []
for day in (dt.date(2024, 7, 31), "2024-08-01"):
    name = str(day)
    outcome = run_job(
        JobRequest(
            inputs=Inputs(data=data),
            as_of=day,
            outputs=Outputs(output=work / f"out-{name}.csv"),
            records=Records(
                report=work / "report.json", metrics=work / "followup.prom", history=work / "runs"
            ),
        )
    )
    s = outcome.summary
    nights.append({
        "exit_code": outcome.exit_code,
        "error": outcome.error,
        "people": s.people,
        "follow_up": dict(s.follow_up),
        "accounts": [list(a) for a in s.accounts],
        "owed_cents": s.owed_cents,
        "rows_read": {t.table: [t.read, t.left_out] for t in s.tables},
        "warnings": list(outcome.warnings),
        "transitions": outcome.transitions and [list(t) for t in outcome.transitions],
        "previous_as_of": str(outcome.previous_as_of),
        "report_outcome": outcome.report["outcome"],
        "report_as_of": outcome.report["as_of"],
    })
print(json.dumps({
    "nights": nights,
    "typer": "typer" in sys.modules,
    "rich": "rich" in sys.modules,
    "click": "click" in sys.modules,
}))
"""


def test_a_scheduler_runs_the_nightly_job_without_typer_or_rich(tmp_path: Path) -> None:
    """Two nights from Python, with report, metrics, history and -o: the outcome's figures are
    the sample's (counted by hand from the golden file), and neither Typer nor Rich was loaded."""
    done = subprocess.run(
        [sys.executable, "-c", SCHEDULER, str(SAMPLE), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # the job prints nothing
    found = json.loads(done.stdout)
    assert (found["typer"], found["rich"], found["click"]) == (False, False, False)
    first, second = found["nights"]

    assert first["exit_code"] == EXIT_OK and first["error"] is None
    assert first["report_outcome"] == "success" and first["report_as_of"] == "2024-07-31"
    # The golden file: 18 people, 4 Active Customers and one on each other list.
    assert first["people"] == 18
    assert first["follow_up"]["Active Customer"] == 4
    assert first["follow_up"]["Delinquent Customer"] == 1
    assert first["follow_up"]["Collections Customer"] == 1
    assert sum(first["follow_up"].values()) == 18
    # C-2 and C-3 Paid in Full; C-1 and C-4 Due 4.00 each; C-5 Warning 8.00; C-6 Disabled 90.00.
    assert first["accounts"] == [
        ["Paid in Full", 2, 0],
        ["Due", 2, 800],
        ["Warning", 1, 800],
        ["Disabled", 1, 9000],
    ]
    assert first["owed_cents"] == 10600
    # 19 customers rows, C-19 created on 2024-08-05, after the as-of date.
    assert first["rows_read"]["customers"] == [19, 1]
    assert any("payments: the newest row is from 2024-07-02" in w for w in first["warnings"])
    assert first["transitions"] is None  # nothing to compare with on the first night

    assert second["exit_code"] == EXIT_OK
    assert second["previous_as_of"] == "2024-07-31"
    assert second["transitions"] is not None
    assert (tmp_path / "out-2024-07-31.csv").read_bytes() == GOLDEN.read_bytes()
    assert (tmp_path / "out-2024-08-01.csv").is_file()
    assert (tmp_path / "out-2024-08-01-changes.csv").is_file()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")) == [
        "as_of=2024-07-31",
        "as_of=2024-08-01",
    ]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["exit_code"] == 0 and report["as_of"] == "2024-08-01"
    assert "followup_last_run_success 1.0" in (tmp_path / "followup.prom").read_text()


def test_a_bad_option_is_an_outcome_not_an_exception(tmp_path: Path) -> None:
    """A usage error is exit 2 and the command's sentence, with the run report written."""
    report = tmp_path / "report.json"
    outcome = run_job(
        JobRequest(
            inputs=Inputs(data=SAMPLE),
            as_of="2024-02-30",
            outputs=Outputs(output=tmp_path / "out.csv"),
            records=Records(report=report),
        )
    )
    assert outcome.exit_code == EXIT_USAGE
    assert outcome.error == "--as-of: '2024-02-30' is not a real calendar date"
    assert outcome.summary is None
    written = json.loads(report.read_text())
    assert written["exit_code"] == 2 and written["error"] == outcome.error
    assert outcome.report["outcome"] == "failed"
    assert not (tmp_path / "out.csv").exists()

    late = run_job(JobRequest(inputs=Inputs(data=SAMPLE), as_of=dt.date(1899, 12, 31)))
    assert late.exit_code == EXIT_USAGE
    assert late.error == (
        "--as-of: '1899-12-31' is outside the supported dates, 1900-01-01 to 7899-12-31"
    )


def test_the_command_and_the_library_write_the_same_bytes(
    invoke: Callable[..., Any], tmp_path: Path
) -> None:
    """The same options through the command line and through run_job: the output, rejects and
    changes files are byte for byte the same (a rejected row, a sort, carried columns, a list
    filter and a comparison with the golden file)."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    with (data / "payments.csv").open("a") as payments:
        payments.write("P-BAD,C-1,2024-07-01,lots,one-off\n")
    by_command, by_library = tmp_path / "command", tmp_path / "library"
    for folder in (by_command, by_library):
        folder.mkdir()
    result = invoke(
        "reconcile",
        *("--data", str(data), "--as-of", "2024-07-31", "-q"),
        *("-o", str(by_command / "due.csv"), "--sort", "days_in_arrears"),
        *("--carry", "phone,email", "--status", "Active Customer"),
        *("--status", "delinquent customer"),
        *("--previous", str(GOLDEN), "--surcharge", "1.50"),
    )
    assert result.exit_code == EXIT_REJECTED_ROWS, result.output
    outcome = run_job(
        JobRequest(
            inputs=Inputs(data=data),
            as_of="2024-07-31",
            surcharge="1.50",
            outputs=Outputs(output=by_library / "due.csv"),
            lists=Lists(
                status=("Active Customer", "delinquent customer"),
                sort="days_in_arrears",
                carry=("phone,email",),
            ),
            records=Records(previous=GOLDEN),
        )
    )
    assert outcome.exit_code == EXIT_REJECTED_ROWS
    names = sorted(p.name for p in by_command.iterdir())
    assert names == ["due-changes.csv", "due-rejects.csv", "due.csv"]
    assert sorted(p.name for p in by_library.iterdir()) == names
    for name in names:
        assert (by_library / name).read_bytes() == (by_command / name).read_bytes(), name


def test_a_request_is_frozen_and_takes_its_paths_by_name() -> None:
    """Nothing changes a request once made, and two paths cannot be swapped by position."""
    records = Records(report=Path("r.json"), metrics=Path("m.prom"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        records.report = Path("elsewhere.json")  # type: ignore[misc]
    request = JobRequest(records=records)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.as_of = "yesterday"  # type: ignore[misc]
    for part in (Inputs, Outputs, Lists, Records, JobRequest):
        with pytest.raises(TypeError, match="positional"):
            part(Path("a"), Path("b"))


def test_importing_the_package_stays_cheap() -> None:
    """`import followup_cli` comes before the command's early signal handler: it loads neither
    Polars nor the job until a name of the library is used."""
    code = textwrap.dedent(
        """
        import sys, followup_cli
        before = sorted(m for m in ("polars", "followup_cli.job.nightly") if m in sys.modules)
        followup_cli.run_job
        print(before, "followup_cli.job.nightly" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[] True"
