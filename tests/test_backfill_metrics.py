"""Backfills do no harm, and monitoring sees what ran (issue 20 items 4 and 5, SPEC 8).

A backfill (an as-of date older than a night already delivered) stores its snapshot but writes
its output set beside the later night's, with its date in the names, and never moves the
monitored as-of date back; the metrics count the run's warnings by kind, say how many buckets
ran, and keep the one pass's stage names however the run is split; the summary's time is the
whole run's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from followup_cli.job import nightly as job
from followup_cli.job import options
from followup_cli.synthetic.generate import generate

from .conftest import SAMPLE

Invoke = Callable[..., Any]
LATER, EARLIER = "2024-07-31", "2024-07-29"
ONE_PASS_STAGES = {"fingerprint", "read", "validate", "ledger", "statuses", "verify", "write"}


def metrics_of(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a metrics file: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
    }


def as_of_gauge(path: Path) -> dt.date:
    seconds = metrics_of(path)[("followup_as_of_timestamp_seconds", ())]
    return dt.datetime.fromtimestamp(seconds, dt.UTC).date()


def warned(path: Path, kind: str) -> float:
    return metrics_of(path)[("followup_warnings", (("kind", kind),))]


def reconcile(invoke: Invoke, work: Path, as_of: str, *extra: str) -> Any:
    """One nightly run on the sample exports into `work`, always to the same -o and --metrics."""
    result = invoke(
        "reconcile",
        "--data",
        str(SAMPLE),
        "--as-of",
        as_of,
        "-o",
        str(work / "out" / "followup.csv"),
        "--metrics",
        str(work / "metrics" / "followup.prom"),
        "--report",
        str(work / "report.json"),
        *extra,
    )
    assert result.exit_code in (0, 1), result.output
    return result


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    (tmp_path / "metrics").mkdir()
    return tmp_path


@pytest.mark.parametrize("with_history", [True, False])
def test_a_backfill_keeps_the_later_nights_lists(
    invoke: Invoke, work: Path, with_history: bool
) -> None:
    """31st then 29th to the same -o and --metrics: followup.csv still holds the 31st, the
    29th is written beside it with its date in the name, and the as-of gauge stays at the
    31st. Without --history the previous metrics file says which night is in place."""
    history = ("--history", str(work / "history")) if with_history else ()
    reconcile(invoke, work, LATER, *history)
    output = work / "out" / "followup.csv"
    tonight = output.read_bytes()
    result = reconcile(invoke, work, EARLIER, *history)
    assert output.read_bytes() == tonight
    dated = work / "out" / f"followup-{EARLIER}.csv"
    assert dated.is_file() and dated.read_bytes() != tonight
    prom = work / "metrics" / "followup.prom"
    assert as_of_gauge(prom) == dt.date.fromisoformat(LATER)
    assert warned(prom, "backfill") == 1
    report = json.loads((work / "report.json").read_text())
    assert report["backfill"] == {"as_of": EARLIER, "later_night": LATER, "written": [str(dated)]}
    said = f"backfill of {EARLIER}: the lists of {LATER} are kept; written to {dated}"
    assert any(w.startswith(said) for w in report["warnings"])
    assert said in " ".join(result.output.split())
    if with_history:  # the snapshot of the 29th is stored all the same
        assert (work / "history" / f"as_of={EARLIER}" / "followup.parquet").is_file()
        assert (work / "history" / f"as_of={LATER}" / "followup.parquet").is_file()


@pytest.mark.parametrize("with_history", [True, False])
def test_nights_in_order_are_no_backfill(invoke: Invoke, work: Path, with_history: bool) -> None:
    """29th then 31st: the 31st replaces the lists as every night does, the gauge moves on,
    and the backfill gauge says 0."""
    history = ("--history", str(work / "history")) if with_history else ()
    reconcile(invoke, work, EARLIER, *history)
    earlier = (work / "out" / "followup.csv").read_bytes()
    reconcile(invoke, work, LATER, *history)
    assert (work / "out" / "followup.csv").read_bytes() != earlier
    assert not [p.name for p in (work / "out").iterdir() if EARLIER in p.name]
    prom = work / "metrics" / "followup.prom"
    assert as_of_gauge(prom) == dt.date.fromisoformat(LATER)
    assert warned(prom, "backfill") == 0
    assert json.loads((work / "report.json").read_text())["backfill"] is None


@pytest.mark.parametrize("records", [("--history",), ("--metrics",), ("--history", "--metrics")])
def test_a_night_not_yet_come_is_refused_when_the_run_records_it(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, records: tuple[str, ...]
) -> None:
    """Today the 31st: a run as of the 2nd (a mistyped month) with --history or --metrics is
    exit 2, names the option and writes no lists, snapshot or as-of date; a night after
    tonight's would have made every night until the 2nd a backfill (SPEC 8). Tomorrow is
    allowed (a club's clock a zone ahead), and so is any day without the records."""
    monkeypatch.setattr(options, "today", lambda: dt.date.fromisoformat(LATER))
    history, prom = tmp_path / "history", tmp_path / "followup.prom"
    paths = {"--history": history, "--metrics": prom}
    recorded = [arg for option in records for arg in (option, str(paths[option]))]
    run = ("reconcile", "--data", str(SAMPLE), "-q", "-o", str(tmp_path / "out.csv"))
    if "--metrics" in records:  # the night in place before the mistake: the 30th
        before = ("reconcile", "--data", str(SAMPLE), "-q", "-o", str(tmp_path / "before.csv"))
        assert invoke(*before, "--as-of", "2024-07-30", "--metrics", str(prom)).exit_code in (0, 1)
    result = invoke(*run, "--as-of", "2024-08-02", *recorded)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    named = " and ".join(records)
    assert f"--as-of 2024-08-02 is after tomorrow (2024-08-01): {named}" in said
    assert f"run without {named} to look ahead" in said
    assert not (tmp_path / "out.csv").exists() and not history.exists()
    if "--metrics" in records:  # the refused run is recorded; the night in place stays
        assert metrics_of(prom)[("followup_last_run_success", ())] == 0
        assert as_of_gauge(prom) == dt.date(2024, 7, 30)
    assert invoke(*run, "--as-of", "2024-08-01", *recorded).exit_code in (0, 1)
    assert invoke(*run, "--as-of", "2099-01-01").exit_code in (0, 1)


@pytest.mark.parametrize("with_history", [True, False])
def test_a_backfill_held_back_by_a_night_not_yet_come_says_where_it_is(
    invoke: Invoke, work: Path, monkeypatch: pytest.MonkeyPatch, with_history: bool
) -> None:
    """A night recorded ahead of today (by a version that did not check, or a clock set back)
    holds every later run back as a backfill; the warning names the snapshot and the metrics
    file holding it (the metrics file alone without --history), and once they are removed
    the night's lists are delivered again."""
    history = ("--history", str(work / "history")) if with_history else ()
    monkeypatch.setattr(options, "today", lambda: dt.date(2030, 1, 1))
    reconcile(invoke, work, "2029-07-31", *history)
    monkeypatch.setattr(options, "today", lambda: dt.date.fromisoformat(LATER))
    result = reconcile(invoke, work, LATER, *history)
    mistaken = work / "history" / "as_of=2029-07-31"
    prom = work / "metrics" / "followup.prom"
    said = " ".join(result.output.split())
    assert "the monitored as-of date stays 2029-07-31; a night after tomorrow (2024-08-01)" in said
    if with_history:
        assert f"is recorded in {mistaken}, {prom}; if it was a mistake, remove them" in said
    else:
        assert f"is recorded in {prom}; if it was a mistake, remove it and run again" in said
    dated = work / "out" / f"followup-{LATER}.csv"
    assert dated.is_file()
    if with_history:
        shutil.rmtree(mistaken)
    prom.unlink()
    result = reconcile(invoke, work, LATER, *history)
    assert "backfill of" not in result.output
    assert (work / "out" / "followup.csv").read_bytes() == dated.read_bytes()
    assert as_of_gauge(prom) == dt.date.fromisoformat(LATER)


def test_a_shrunk_payments_table_counts_in_the_metrics_when_quiet(
    invoke: Invoke, tmp_path: Path
) -> None:
    """1,000 payment rows, then 600: exit 0 with -q, and followup_warnings says so."""
    exports = tmp_path / "exports"
    generate(300, exports, seed=3, fmt="csv")
    payments = (exports / "payments.csv").read_text().splitlines(keepends=True)
    prom = tmp_path / "followup.prom"
    for as_of, rows in (("2024-07-30", 1000), ("2024-07-31", 600)):
        (exports / "payments.csv").write_text("".join(payments[: rows + 1]))
        result = invoke(
            "reconcile",
            *("--data", str(exports), "--as-of", as_of, "-q"),
            *("-o", str(tmp_path / "out.csv"), "--metrics", str(prom)),
            *("--history", str(tmp_path / "history")),
        )
        assert result.exit_code == 0, result.output
    assert warned(prom, "shrunk_table") == 1
    kinds = {
        dict(labels)["kind"] for name, labels in metrics_of(prom) if name == "followup_warnings"
    }
    assert {"stale_export", "shrunk_table", "empty_table", "backfill", "other"} <= kinds


def test_buckets_auto_says_the_number_it_chose(invoke: Invoke, work: Path) -> None:
    """--buckets auto on a small export: one pass, and the report and metrics say 1."""
    reconcile(invoke, work, LATER, "--buckets", "auto")
    report = json.loads((work / "report.json").read_text())
    assert report["arguments"]["buckets"] == "auto"
    assert report["buckets"] == 1
    assert metrics_of(work / "metrics" / "followup.prom")[("followup_buckets", ())] == 1


def stages(work: Path) -> tuple[set[str], set[str]]:
    """The stage names in the run report and in the metrics file."""
    report = json.loads((work / "report.json").read_text())
    labels = {
        dict(labels)["stage"]
        for name, labels in metrics_of(work / "metrics" / "followup.prom")
        if name == "followup_stage_duration_seconds"
    }
    return set(report["stages"]), labels


def test_stage_names_are_the_same_in_one_pass_and_in_buckets(
    invoke: Invoke, tmp_path: Path
) -> None:
    """An alert on stage="validate" holds whether the run is one pass or --buckets 3."""
    found = {}
    for label, extra in (("one", ()), ("buckets", ("--buckets", "3"))):
        work = tmp_path / label
        (work / "out").mkdir(parents=True)
        (work / "metrics").mkdir()
        reconcile(invoke, work, LATER, *extra)
        found[label] = stages(work)
        counted = json.loads((work / "report.json").read_text())["buckets"]
        assert counted == (3 if extra else 1)
    assert found["one"] == (ONE_PASS_STAGES, ONE_PASS_STAGES)
    assert found["buckets"] == found["one"]


def test_rays_start_up_is_a_stage_of_its_own(invoke: Invoke, work: Path) -> None:
    """--engine ray --buckets 2 on a local Ray started for the run: ray_start is a stage, the
    others are the one pass's, and the summary's time is no less than all of them."""
    result = reconcile(invoke, work, LATER, "--engine", "ray", "--buckets", "2")
    in_report, in_metrics = stages(work)
    assert in_report == in_metrics == ONE_PASS_STAGES | {"ray_start"}
    report = json.loads((work / "report.json").read_text())
    took = float(re.findall(r"took (\d+\.\d+)s", result.output)[0])
    assert took >= round(sum(report["stages"].values()), 2) - 0.01


def test_the_summary_time_is_the_whole_runs(
    invoke: Invoke, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work outside the reading stages (here, finding the previous run, made slow) is in the
    summary's "took" and in the run's duration."""
    found = job.previous_run

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(2.0)
        return found(*args, **kwargs)

    monkeypatch.setattr(job, "previous_run", slow)
    result = reconcile(invoke, work, LATER)
    took = float(re.findall(r"took (\d+\.\d+)s", result.output)[0])
    assert took >= 2.0
    report = json.loads((work / "report.json").read_text())
    assert report["elapsed_seconds"] >= 2.0
    assert took == pytest.approx(report["elapsed_seconds"], abs=0.01)


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-Inf", "1e20", "-1e20", "-86400"])
@pytest.mark.parametrize(
    "name", ["followup_as_of_timestamp_seconds", "followup_last_success_timestamp_seconds"]
)
def test_a_metrics_file_holding_no_time_is_not_kept_and_the_night_recovers(
    invoke: Invoke, work: Path, name: str, value: str
) -> None:
    """A metrics file whose as-of or last success holds no time a run writes (damaged by
    hand, or by another tool) stopped every later run with "internal error" (exit 3), and was
    written back as it was, so no night ever recovered. The value is not kept, said as a
    warning; the run reconciles and the file holds this night's times."""
    metrics = work / "metrics" / "followup.prom"
    metrics.write_text(f"# TYPE {name} gauge\n{name} {value}\n")
    result = reconcile(invoke, work, LATER)
    assert result.exit_code == 0, result.output
    assert f"--metrics {metrics}: the file there holds {name}" in result.output
    assert as_of_gauge(metrics) == dt.date.fromisoformat(LATER)
    success = metrics_of(metrics)[("followup_last_success_timestamp_seconds", ())]
    assert abs(success - time.time()) < 3600
    report = json.loads((work / "report.json").read_text())
    assert report["exit_code"] == 0
