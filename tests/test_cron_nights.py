"""The nightly job as cron runs it (issue 20 items 1-3, SPEC 8): the README's own cron line
works from the first night in a folder holding only the exports, and every run, a mistyped
option included, leaves its report and metrics for monitoring."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
VENV = Path(sys.prefix)  # the virtual environment running the tests, with `followup` in bin/
FOLLOWUP = VENV / "bin" / "followup"
MAIL_STUB = '#!/bin/sh\nprintf "%s\\n" "$*" >> "$MAIL_LOG"\n'


def cron_line() -> tuple[str, str]:
    """The README's cron entry in "Running it nightly": its schedule and its command."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Running it nightly\n", 1)[1].split("\n## ", 1)[0]
    entries = [
        found
        for line in section.splitlines()
        if (found := re.fullmatch(r" {4}((?:[\d*/,-]+ ){4}[\d*/,-]+)\s+(\S.*)", line))
        and not line.lstrip().startswith("#")
    ]
    assert len(entries) == 1, "one cron entry in the README's nightly section"
    return entries[0].group(1), entries[0].group(2)


def tonight(command: str, gym: Path, textfile: Path, as_of: str) -> str:
    """The README's command with only what must differ here replaced:
    - /srv/gym (the folder it runs in, and its lock file's folder) -> a temporary folder;
    - /var/lib/node_exporter/textfile (root's) -> a temporary folder not made beforehand,
      which the tool must make;
    - `--as-of yesterday` -> the night's date: `yesterday` is the real calendar's, and three
      nights need three dates.
    Left as written: flock, sh, `.venv/bin/followup` (gym/.venv links to the test's virtual
    environment) and `mail` (a stub first on PATH logs its arguments)."""
    for written, here in (
        ("/srv/gym", str(gym)),
        ("/var/lib/node_exporter/textfile", str(textfile)),
        ("--as-of yesterday", f"--as-of {as_of}"),
    ):
        assert written in command, written
        command = command.replace(written, here)
    return command


def run_as_cron(command: str, home: Path, stubs: Path, mail_log: Path) -> int:
    """As cron runs a job: /bin/sh -c, in HOME, with cron's small environment and nothing of
    ours (env -i), except the folder of the mail stub first on PATH."""
    environment = [
        f"PATH={stubs}:/usr/bin:/bin",
        f"HOME={home}",
        "LOGNAME=cron",
        "SHELL=/bin/sh",
        f"MAIL_LOG={mail_log}",
    ]
    done = subprocess.run(
        ["env", "-i", *environment, "/bin/sh", "-c", command],
        check=False,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode


def metrics_of(path: Path) -> dict[str, float]:
    """The samples without labels of a Prometheus textfile."""
    samples = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.split()
            samples[name] = float(value)
    return samples


def midnight(day: str) -> float:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()


def test_the_readme_cron_line_runs_three_nights(tmp_path: Path) -> None:
    """Night 1 in a folder with only exports/ reconciles; night 2 sets a bad row aside (exit 1,
    no mail); night 3 meets a broken export (exit 3): mail is sent, yesterday's output stands,
    and the metrics say failed while keeping night 2's success time and as-of date."""
    schedule, command = cron_line()
    assert "%" not in command, "cron turns % into a new line"
    gym, home, stubs = tmp_path / "gym", tmp_path / "home", tmp_path / "stubs"
    textfile, mail_log = tmp_path / "node_exporter" / "textfile", tmp_path / "mail.log"
    for folder in (gym, home, stubs):
        folder.mkdir()
    shutil.copytree(SAMPLE, gym / "exports")
    (gym / ".venv").symlink_to(VENV)
    (stubs / "mail").write_text(MAIL_STUB)
    (stubs / "mail").chmod(0o755)
    assert FOLLOWUP.exists() and schedule.split()[:2] == ["30", "2"]

    nights = {}
    for night, as_of in enumerate(("2024-07-30", "2024-07-31", "2024-08-01"), start=1):
        if night == 2:  # a payment the club system wrote badly: set aside, exit 1
            with (gym / "exports" / "payments.csv").open("a") as payments:
                payments.write("P-999,C-1,2024-07-31,four euros,recurring\n")
        if night == 3:  # the customers export lost its customer_id column: exit 3
            (gym / "exports" / "customers.csv").write_text(
                "name,origin,created_on\nX,web,2024-01-01\n"
            )
        before = (gym / "out" / "followup.csv").read_bytes() if night == 3 else None
        assert run_as_cron(tonight(command, gym, textfile, as_of), home, stubs, mail_log) == 0
        report = json.loads((gym / "runs" / "last-report.json").read_text())
        metrics = metrics_of(textfile / "followup.prom")
        mailed = mail_log.read_text().splitlines() if mail_log.exists() else []
        nights[night] = report, metrics, mailed
        assert report["as_of"] == as_of and report["arguments"]["as_of"] == as_of
        if night < 3:
            assert report["exit_code"] == night - 1, report["error"]
            assert mailed == []
            assert metrics["followup_last_run_success"] == 1
            assert metrics["followup_last_success_timestamp_seconds"] == pytest.approx(
                metrics["followup_last_run_timestamp_seconds"]
            )
            assert metrics["followup_as_of_timestamp_seconds"] == midnight(as_of)
            assert (gym / "runs" / f"as_of={as_of}" / "followup.parquet").is_file()
            assert (gym / "out" / "followup.csv").is_file()
    assert not (gym / "out" / "followup-rejects.csv").exists() or nights[2][0]["rejects"]
    assert (gym / "out" / "followup-rejects.csv").is_file()  # night 2's bad payment
    assert "P-999" in (gym / "out" / "followup-rejects.csv").read_text()
    assert (gym / "out" / "followup-changes.csv").is_file()  # night 2 compared with night 1
    assert nights[2][0]["previous"]["as_of"] == "2024-07-30"

    report, metrics, mailed = nights[3]
    assert report["exit_code"] == 3 and "customer_id" in report["error"]
    assert mailed == ["-s followup failed ops@example.com"]
    assert (gym / "out" / "followup.csv").read_bytes() == before
    assert not (gym / "runs" / "as_of=2024-08-01").exists()
    night_two = nights[2][1]
    assert metrics["followup_last_run_success"] == 0
    assert (
        metrics["followup_last_success_timestamp_seconds"]
        == (night_two["followup_last_success_timestamp_seconds"])
    )
    assert metrics["followup_as_of_timestamp_seconds"] == midnight("2024-07-31")
    assert (
        metrics["followup_last_run_timestamp_seconds"]
        > night_two["followup_last_run_timestamp_seconds"]
    )


def followup(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The console script itself: Click's own refusals happen only there, before any command."""
    return subprocess.run(
        [str(FOLLOWUP), *map(str, args)],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_a_mistyped_option_is_recorded_as_a_failed_run(tmp_path: Path) -> None:
    """`--as-off` (Click refuses it before any command runs) still writes the report, with the
    error and the options as JSON values, and metrics saying failed that keep the last success;
    never over an export, and not for a request for help."""
    shutil.copytree(SAMPLE, tmp_path / "exports")
    (tmp_path / "runs").mkdir()  # the folders are there: this is about the refused option
    (tmp_path / "m").mkdir()
    records = ("--report", "runs/r.json", "--metrics", "m/ok.prom")
    good = followup(
        "reconcile",
        "--data",
        "exports",
        "--as-of",
        "2024-07-31",
        "-q",
        *records,
        "-o",
        "o.csv",
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stderr
    succeeded = metrics_of(tmp_path / "m" / "ok.prom")["followup_last_success_timestamp_seconds"]
    mistyped = ("--as-off", "2024-07-31", "--status", "Delinquent Customer", "--status", "lead")
    customers = (tmp_path / "exports" / "customers.csv").read_bytes()
    over_input = followup(
        "reconcile", "--data", "exports", *mistyped, "--report=exports/customers.csv", cwd=tmp_path
    )
    assert over_input.returncode == 2
    assert "one of the input files" in over_input.stderr
    assert (tmp_path / "exports" / "customers.csv").read_bytes() == customers
    asked_help = followup("reconcile", "--report", "help.json", "-h", cwd=tmp_path)
    assert asked_help.returncode == 0 and not (tmp_path / "help.json").exists()

    bad = followup(
        "reconcile",
        "--data",
        "exports",
        *mistyped,
        "--carry",
        "phone,email",
        *records,
        "-q",
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert "No such option: --as-off" in bad.stderr
    report = json.loads((tmp_path / "runs" / "r.json").read_text())
    assert report["exit_code"] == 2 and report["outcome"] == "failed"
    assert "--as-off" in report["error"]
    assert report["arguments"]["status"] == ["Delinquent Customer", "lead"]
    assert report["arguments"]["carry"] == ["phone,email"]
    assert report["arguments"]["quiet"] is True
    assert report["arguments"]["metrics"] == "m/ok.prom"
    assert "spelled" not in report["arguments"]
    metrics = metrics_of(tmp_path / "m" / "ok.prom")
    assert metrics["followup_last_run_success"] == 0
    assert metrics["followup_last_success_timestamp_seconds"] == succeeded


def test_record_folders_are_made_but_never_where_a_run_is_refused(tmp_path: Path) -> None:
    """--report and --metrics make their folders; a report refused inside a snapshot leaves no
    folder made for it behind; -o's folder is still the person's to make."""
    shutil.copytree(SAMPLE, tmp_path / "exports")
    base = ("reconcile", "--data", "exports", "--as-of", "2024-07-31", "-q", "--history", "runs")
    made = followup(*base, "--report", "a/b/r.json", "--metrics", "c/d/m.prom", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "a" / "b" / "r.json").is_file()
    assert (tmp_path / "c" / "d" / "m.prom").is_file()
    inside = followup(*base, "--report", "runs/as_of=2024-07-31/x/y/r.json", cwd=tmp_path)
    assert inside.returncode == 2, inside.stderr
    assert not (tmp_path / "runs" / "as_of=2024-07-31" / "x").exists()
    no_out = followup(*base, "-o", "nowhere/o.csv", "--report", "e/r.json", cwd=tmp_path)
    assert no_out.returncode == 2 and "nowhere does not exist" in no_out.stderr
    assert json.loads((tmp_path / "e" / "r.json").read_text())["exit_code"] == 2
