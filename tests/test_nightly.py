"""Operating the nightly job (SPEC 8): run report, metrics, fingerprints, history and changes."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from prometheus_client.parser import text_string_to_metric_families

from followup_cli.job import nightly as job
from followup_cli.nightly.changes import changes, transitions
from followup_cli.reading import fingerprint
from followup_cli.synthetic.generate import generate

DAY1, DAY2, DAY3 = "2024-07-29", "2024-07-30", "2024-07-31"
SPEC_METRICS = {
    "followup_last_run_timestamp_seconds",
    "followup_last_run_success",
    "followup_last_success_timestamp_seconds",
    "followup_run_duration_seconds",
    "followup_stage_duration_seconds",
    "followup_input_rows",
    "followup_people",
    "followup_accounts",
    "followup_owed",
    "followup_as_of_timestamp_seconds",
    "followup_warnings",  # by kind, and the buckets used (SPEC 8, issue 20 item 5)
    "followup_buckets",
}
Invoke = Callable[..., Any]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate(300, folder, seed=3, fmt="csv")
    return folder


@pytest.fixture
def exports(generated: Path, tmp_path: Path) -> Path:
    """A private copy of the generated exports, free to edit between runs."""
    return Path(shutil.copytree(generated, tmp_path / "exports"))


def nightly(invoke: Invoke, exports: Path, work: Path, as_of: str, *extra: str) -> Any:
    """One nightly run with history, report and metrics in `work`."""
    return invoke(
        "reconcile",
        "--data",
        str(exports),
        "--as-of",
        as_of,
        "-o",
        str(work / f"out-{as_of}.csv"),
        "--history",
        str(work / "history"),
        "--report",
        str(work / "report.json"),
        "--metrics",
        str(work / "followup.prom"),
        *extra,
    )


def read_text(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def drop_customer(exports: Path, customer_id: str) -> None:
    """Remove a person and every row that names them, as a club system deleting them would."""
    for table in ("customers", "agreements", "payments", "events"):
        path = exports / f"{table}.csv"
        frame = read_text(path)
        frame.filter(pl.col("customer_id") != customer_id).write_csv(path)


def add_customer(exports: Path, customer_id: str, created_on: str) -> None:
    path = exports / "customers.csv"
    # The contract's 4 columns, then empty values for any the generator adds (home_club, ...).
    extra = "," * (len(path.read_text().splitlines()[0].split(",")) - 4)
    with path.open("a") as handle:
        handle.write(f"{customer_id},Nadia Newcomer,web,{created_on}{extra}\n")


def expected_changes(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """The difference of two outputs by status, computed without the code under test."""
    left = before.select(
        "customer_id",
        pl.col("follow_up_status").alias("from_status"),
        pl.col("account_status").alias("from_account_status"),
        pl.lit(True).alias("was"),
    )
    right = after.select(
        "customer_id",
        pl.col("follow_up_status").alias("to_status"),
        pl.col("account_status").alias("to_account_status"),
        pl.lit(True).alias("is"),
    )
    both = left.join(right, on="customer_id", how="full", coalesce=True)
    moved = (
        pl.col("was").is_null()
        | pl.col("is").is_null()
        | (pl.col("from_status").fill_null("") != pl.col("to_status").fill_null(""))
        | (pl.col("from_account_status").fill_null("") != pl.col("to_account_status").fill_null(""))
    )
    return (
        both.filter(moved)
        .select(
            "customer_id", "from_status", "to_status", "from_account_status", "to_account_status"
        )
        .sort("customer_id")
    )


def test_changes_are_the_status_difference_of_two_runs_with_a_new_and_a_gone_person(
    invoke: Invoke, exports: Path, tmp_path: Path
) -> None:
    """The changes file holds exactly the people whose statuses differ, arrive or leave."""
    assert nightly(invoke, exports, tmp_path, DAY2).exit_code == 0
    gone = read_text(tmp_path / f"out-{DAY2}.csv")["customer_id"][5]
    drop_customer(exports, gone)
    add_customer(exports, "C-NEW", DAY3)
    result = nightly(invoke, exports, tmp_path, DAY3)
    assert result.exit_code == 0, result.stderr
    before = read_text(tmp_path / f"out-{DAY2}.csv")
    after = read_text(tmp_path / f"out-{DAY3}.csv")
    written = read_text(tmp_path / f"out-{DAY3}-changes.csv")
    assert written.columns == [
        "customer_id",
        "name",
        "previous_as_of",
        "as_of",
        "from_status",
        "to_status",
        "from_account_status",
        "to_account_status",
        "previous_balance",
        "balance",
        "reason",
    ]
    expected = expected_changes(before, after)
    assert expected.height > 2  # real movers besides the new and the gone person
    assert_frame_equal(written.select(expected.columns).sort("customer_id"), expected)
    assert set(written["previous_as_of"]) == {DAY2} and set(written["as_of"]) == {DAY3}
    new = written.filter(pl.col("customer_id") == "C-NEW").row(0, named=True)
    assert new["from_status"] is None and new["to_status"] == "Web Lead"
    left = written.filter(pl.col("customer_id") == gone).row(0, named=True)
    assert left["to_status"] is None and left["from_status"] is not None
    # Balances moved for more people than statuses did: those are not changes.
    balance_only = (
        before.join(after, on="customer_id", suffix="_2")
        .filter(
            (pl.col("balance") != pl.col("balance_2"))
            & (pl.col("follow_up_status") == pl.col("follow_up_status_2"))
            & (pl.col("account_status").eq_missing(pl.col("account_status_2")))
        )
        .get_column("customer_id")
    )
    assert balance_only.len() > 0
    assert not set(balance_only) & set(written["customer_id"])
    # The summary's transitions table and the report's agree with the file.
    assert f"Changes since {DAY2}" in result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["previous"]["as_of"] == DAY2
    new_people = [
        t
        for t in report["transitions"]
        if t["field"] == "follow_up_status" and t["from"] == "(new)"
    ]
    assert new_people == [
        {"field": "follow_up_status", "from": "(new)", "to": "Web Lead", "people": 1}
    ]
    moves = sum(t["people"] for t in report["transitions"] if t["field"] == "follow_up_status")
    assert (
        moves
        == written.filter(
            pl.col("from_status").fill_null("") != pl.col("to_status").fill_null("")
        ).height
    )


def test_previous_csv_output_gives_the_same_changes_as_the_history(
    invoke: Invoke, exports: Path, tmp_path: Path
) -> None:
    """--previous reads a CSV output back with its types: same changes as the snapshot."""
    assert nightly(invoke, exports, tmp_path, DAY2).exit_code == 0
    assert nightly(invoke, exports, tmp_path, DAY3).exit_code == 0
    result = invoke(
        "reconcile",
        "--data",
        str(exports),
        "--as-of",
        DAY3,
        "-o",
        str(tmp_path / "again.parquet"),
        "--previous",
        str(tmp_path / f"out-{DAY2}.csv"),
        "--changes",
        str(tmp_path / "again-changes.csv"),
    )
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "again-changes.csv").read_bytes() == (
        tmp_path / f"out-{DAY3}-changes.csv"
    ).read_bytes()


def test_a_rerun_of_the_same_date_replaces_its_snapshot(
    invoke: Invoke, exports: Path, tmp_path: Path
) -> None:
    """Rerunning an as-of date leaves one folder for it, holding the second run."""
    assert nightly(invoke, exports, tmp_path, DAY3).exit_code == 0
    first = json.loads((tmp_path / "report.json").read_text())["run_id"]
    add_customer(exports, "C-LATE", DAY3)
    assert nightly(invoke, exports, tmp_path, DAY3).exit_code == 0
    history = tmp_path / "history"
    assert sorted(p.name for p in history.iterdir()) == [f"as_of={DAY3}"]
    snapshot = history / f"as_of={DAY3}"
    stored = pl.read_parquet(snapshot / "followup.parquet")
    assert "C-LATE" in stored["customer_id"].to_list()
    assert stored.height == read_text(tmp_path / f"out-{DAY3}.csv").height
    beside = json.loads((snapshot / "report.json").read_text())
    assert beside == json.loads((tmp_path / "report.json").read_text())
    assert beside["run_id"] != first
    # No previous run: a snapshot of the same date is not one.
    assert beside["previous"] is None and beside["transitions"] is None


def test_report_and_metrics_agree_with_the_output(
    invoke: Invoke, exports: Path, tmp_path: Path
) -> None:
    """The metrics file parses with prometheus_client, has exactly the SPEC's names, and its
    figures and the report's equal those counted from the output file."""
    assert nightly(invoke, exports, tmp_path, DAY3).exit_code == 0
    out = read_text(tmp_path / f"out-{DAY3}.csv")
    families = {
        f.name: f for f in text_string_to_metric_families((tmp_path / "followup.prom").read_text())
    }
    assert set(families) == SPEC_METRICS

    def value(name: str, **labels: str) -> float:
        samples = [s for s in families[name].samples if s.labels == labels]
        assert len(samples) == 1, (name, labels)
        return float(samples[0].value)

    assert value("followup_last_run_success") == 1
    assert (
        value("followup_people", follow_up_status="Lead")
        == out.filter(pl.col("follow_up_status") == "Lead").height
    )
    assert value("followup_input_rows", table="customers", outcome="used") == out.height
    owed = out.filter(pl.col("account_status") == "Due").select(
        pl.col("balance").cast(pl.Decimal(18, 2)).sum()
    )
    assert value("followup_owed", account_status="Due") == pytest.approx(-float(owed.item()))
    # 2024-07-31 00:00 UTC.
    assert value("followup_as_of_timestamp_seconds") == 1722384000
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["schema_version"] == 1 and report["outcome"] == "success"
    assert report["exit_code"] == 0 and report["as_of"] == DAY3
    assert report["people"]["total"] == out.height
    due = report["accounts"]["by_account_status"]["Due"]
    assert due["owed"] == str(-owed.item())
    assert due["accounts"] == out.filter(pl.col("account_status") == "Due").height
    customers = next(i for i in report["inputs"] if i["table"] == "customers")
    assert customers["sha256"] == fingerprint.sha256_of(exports / "customers.csv")
    assert customers["bytes"] == (exports / "customers.csv").stat().st_size
    assert customers["rows_used"] == out.height
    written = report["outputs"][0]
    assert written["rows"] == out.height
    assert written["sha256"] == fingerprint.sha256_of(tmp_path / f"out-{DAY3}.csv")
    assert list(report)[:4] == ["schema_version", "tool", "run_id", "started_at"]


def test_a_failed_run_reports_and_keeps_the_last_success_time(
    invoke: Invoke, exports: Path, tmp_path: Path
) -> None:
    """Exit 3: the report says failed with the error, the metrics say the run failed and keep
    the previous success time; no output is written."""
    assert nightly(invoke, exports, tmp_path, DAY2).exit_code == 0
    prom = tmp_path / "followup.prom"
    succeeded = {
        f.name: f.samples[0].value for f in text_string_to_metric_families(prom.read_text())
    }
    (exports / "customers.csv").unlink()
    result = nightly(invoke, exports, tmp_path, DAY3)
    assert result.exit_code == 3
    assert not (tmp_path / f"out-{DAY3}.csv").exists()
    assert not (tmp_path / "history" / f"as_of={DAY3}").exists()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["exit_code"] == 3 and report["outcome"] == "failed"
    assert "no customers file" in report["error"]
    assert report["outputs"] == [] and report["people"] is None
    failed = {f.name: f.samples for f in text_string_to_metric_families(prom.read_text())}
    assert set(failed) == SPEC_METRICS
    assert failed["followup_last_run_success"][0].value == 0
    kept = failed["followup_last_success_timestamp_seconds"][0].value
    assert kept == succeeded["followup_last_success_timestamp_seconds"]
    assert failed["followup_last_run_timestamp_seconds"][0].value > kept


def test_a_failed_first_run_has_no_success_time_to_keep(invoke: Invoke, tmp_path: Path) -> None:
    """With no earlier metrics file the last success is 0, so a "no success" alert fires;
    a bad --as-of (exit 2) is reported too once the report path is known."""
    prom, report_path = tmp_path / "m.prom", tmp_path / "r.json"
    result = invoke(
        "reconcile",
        "--data",
        str(tmp_path),
        "--as-of",
        "2024-02-30",
        "--report",
        str(report_path),
        "--metrics",
        str(prom),
    )
    assert result.exit_code == 2
    report = json.loads(report_path.read_text())
    assert report["exit_code"] == 2 and report["as_of"] is None
    assert "2024-02-30" in report["error"]
    families = {f.name: f.samples for f in text_string_to_metric_families(prom.read_text())}
    assert families["followup_last_success_timestamp_seconds"][0].value == 0
    assert "followup_as_of_timestamp_seconds" not in families  # no as-of date: no figure


def test_an_input_changed_while_reading_stops_the_run(
    invoke: Invoke, exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payment appended while the run reads: exit 3, the message, and nothing written."""
    real_run = job.run

    def run_while_the_club_system_writes(*args: Any, **kwargs: Any) -> Any:
        done = real_run(*args, **kwargs)
        with (exports / "payments.csv").open("a") as handle:
            handle.write("P-LATE,C-1,2024-07-30,10.00,one-off\n")
        return done

    monkeypatch.setattr(job, "run", run_while_the_club_system_writes)
    result = nightly(invoke, exports, tmp_path, DAY3)
    assert result.exit_code == 3
    assert f"{exports / 'payments.csv'}: changed while reading; run again" in result.stderr
    assert not (tmp_path / f"out-{DAY3}.csv").exists()
    assert not (tmp_path / "history").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "followup.prom", "report.json"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"] == "failed" and "changed while reading" in report["error"]


def test_a_rewrite_keeping_size_and_time_is_still_seen(tmp_path: Path) -> None:
    """Same size, same modified time, other bytes: the SHA-256 catches it."""
    path = tmp_path / "payments.csv"
    path.write_text("payment_id\nP-1\n")
    marks = fingerprint.take_all([path])
    stat = path.stat()
    path.write_text("payment_id\nP-2\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(fingerprint.InputChangedError, match="changed while reading; run again"):
        fingerprint.verify(marks)
    path.write_text("payment_id\nP-1\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    fingerprint.verify(marks)  # the same bytes again: nothing to say


def test_changes_and_history_commands(invoke: Invoke, exports: Path, tmp_path: Path) -> None:
    """`followup changes` gives the reconcile run's changes file; `followup history` a
    person's statuses as periods, consecutive equal nights merged."""
    for day in (DAY1, DAY2, DAY3):
        assert nightly(invoke, exports, tmp_path, day).exit_code == 0
    history = str(tmp_path / "history")
    latest = invoke("changes", "--history", history)
    assert latest.exit_code == 0, latest.stderr
    assert latest.stdout.encode() == (tmp_path / f"out-{DAY3}-changes.csv").read_bytes()
    wide = invoke("changes", "--history", history, "--from", DAY1, "--to", DAY3)
    assert wide.exit_code == 0
    outputs = {day: read_text(tmp_path / f"out-{day}.csv") for day in (DAY1, DAY2, DAY3)}
    expected = expected_changes(outputs[DAY1], outputs[DAY3])
    got = pl.read_csv(wide.stdout.encode(), infer_schema=False)
    assert_frame_equal(got.select(expected.columns).sort("customer_id"), expected)

    # A person whose statuses moved on one of the nights, checked by hand from the outputs.
    nights = pl.concat(
        [f.select("customer_id", "follow_up_status", "account_status") for f in outputs.values()]
    )
    movers = nights.unique().group_by("customer_id").len().filter(pl.col("len") > 1)
    person = sorted(movers["customer_id"])[0]
    seen = [
        (day, *frame.filter(pl.col("customer_id") == person).row(0)[3:6:2])
        for day, frame in outputs.items()
    ]
    periods: list[list[str | None]] = []
    for day, status, account in seen:
        if periods and periods[-1][2:4] == [status, account]:
            periods[-1][1] = day
        else:
            periods.append([day, day, status, account])
    shown = invoke("history", person.lower(), "--history", history)
    assert shown.exit_code == 0, shown.stderr
    got_periods = pl.read_csv(shown.stdout.encode(), infer_schema=False)
    assert got_periods.columns == ["from", "to", "follow_up_status", "account_status", "reason"]
    assert [list(row[:4]) for row in got_periods.rows()] == periods
    assert len(periods) >= 2

    unknown = invoke("history", "C-NOBODY", "--history", history)
    assert unknown.exit_code == 2
    assert "C-NOBODY: not in any snapshot" in unknown.stderr


def test_health_warnings_for_a_shrunk_table_and_stale_exports(
    invoke: Invoke, exports: Path, tmp_path: Path
) -> None:
    """A table with more than 20% fewer rows than last run, and payments and events whose
    newest row is over 7 days old, are warnings in the summary and report, not exit codes."""
    assert nightly(invoke, exports, tmp_path, DAY2).exit_code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["warnings"] == []
    events = read_text(exports / "events.csv")
    kept = events.height * 3 // 4  # 25% fewer
    events.head(kept).write_csv(exports / "events.csv")
    result = nightly(invoke, exports, tmp_path, "2024-12-31")
    assert result.exit_code == 0, result.stderr
    warnings = json.loads((tmp_path / "report.json").read_text())["warnings"]
    assert any(w.startswith("events.csv: ") and "25% fewer" in w for w in warnings)
    # The generator's exports were taken on 2024-09-30 (bookings reach into November).
    assert any(w.startswith("payments: the newest row is from 2024-09-") for w in warnings)
    newest_event = events.head(kept)["starts_at"].max()
    assert any(
        w.startswith(f"events: the newest row is from {newest_event[:10]},") for w in warnings
    )
    assert "warning: events.csv" in result.stderr


def test_transitions_put_new_delinquency_first() -> None:
    """Newly Delinquent, Disabled and Collections lead the table, then the biggest moves."""
    row = {"name": "x", "reason": "r", "balance": "0.00"}
    before = pl.DataFrame(
        [
            {"customer_id": "C-1", "follow_up_status": "Lead", "account_status": None, **row},
            {"customer_id": "C-2", "follow_up_status": "Lead", "account_status": None, **row},
            {
                "customer_id": "C-3",
                "follow_up_status": "Active Customer",
                "account_status": "Due",
                **row,
            },
            {"customer_id": "C-4", "follow_up_status": "Web Lead", "account_status": None, **row},
        ]
    )
    after = pl.DataFrame(
        [
            {"customer_id": "c-1 ", "follow_up_status": "Referral", "account_status": None, **row},
            {"customer_id": "C-2", "follow_up_status": "Referral", "account_status": None, **row},
            {
                "customer_id": "C-3",
                "follow_up_status": "Delinquent Customer",
                "account_status": "Warning",
                **row,
            },
            {"customer_id": "C-5", "follow_up_status": "Lead", "account_status": None, **row},
        ]
    )
    moved = changes(before, after, None, None)
    # c-1 matches C-1 (trimmed, case-insensitive), so it moved rather than left and arrived.
    assert moved["customer_id"].to_list() == ["c-1 ", "C-2", "C-3", "C-5", "C-4"]
    assert transitions(moved).rows() == [
        ("follow_up_status", "Active Customer", "Delinquent Customer", 1),
        ("follow_up_status", "Lead", "Referral", 2),
        ("account_status", "Due", "Warning", 1),
        ("follow_up_status", "(new)", "Lead", 1),
        ("follow_up_status", "Web Lead", "(gone)", 1),
    ]


def test_a_list_named_disabled_is_not_an_urgent_account_move() -> None:
    """Newly Disabled accounts come first among the changes; a follow-up list a rules file
    names "Disabled" was ranked with them, above bigger moves, though it is no account
    status. Urgency now goes with its field."""
    row = {"name": "x", "reason": "r", "balance": None}
    before = pl.DataFrame(
        [
            {"customer_id": f"C-{i}", "follow_up_status": "Lead", "account_status": "Due", **row}
            for i in range(4)
        ]
    )
    after = pl.DataFrame(
        [
            {"customer_id": "C-0", "follow_up_status": "Lead", "account_status": "Disabled", **row},
            {"customer_id": "C-1", "follow_up_status": "Referral", "account_status": "Due", **row},
            {"customer_id": "C-2", "follow_up_status": "Referral", "account_status": "Due", **row},
            {"customer_id": "C-3", "follow_up_status": "Disabled", "account_status": "Due", **row},
        ]
    )
    assert transitions(changes(before, after, None, None)).rows() == [
        ("account_status", "Due", "Disabled", 1),
        ("follow_up_status", "Lead", "Referral", 2),
        ("follow_up_status", "Lead", "Disabled", 1),
    ]
