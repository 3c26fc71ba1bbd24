"""`make bench` is never run by `make test`, so its script's own set-up is checked here: the
layout moved under it once and `make bench` failed before measuring anything. Nothing here
times anything or runs the benchmark."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).with_name("bench") / "run_bench.py"
RULES_12 = Path(__file__).with_name("bench") / "rules-12.toml"


@pytest.fixture
def bench() -> Iterator[ModuleType]:
    """tests/bench/run_bench.py as a module (it is a script, not in a package)."""
    spec = importlib.util.spec_from_file_location("run_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_bench"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["run_bench"]


def test_the_bench_finds_the_generator_it_fingerprints(bench: ModuleType) -> None:
    """The fingerprint that decides whether bench data is generated again reads the generator's
    own sources (followup_cli/synthetic)."""
    first = bench.generator_fingerprint()
    assert len(first) == 16
    assert (bench.ROOT / "src" / "followup_cli" / "synthetic" / "generate.py").is_file()


def test_the_targets_are_issue_23s(bench: ModuleType) -> None:
    """At 1,000,000 customers ours / DuckDB <= 0.7 over Parquet and over CSV, ours / floor <= 5,
    peak memory under 1,000 MB (Parquet) and 1,500 MB (CSV); at 10,000,000 --buckets within
    1.25x of one pass, one pass under 8 GB."""
    t = bench.TARGETS
    assert (t.vs_duckdb_parquet, t.vs_duckdb_csv, t.vs_floor) == (0.7, 0.7, 5.0)
    assert (t.peak_mb_parquet, t.peak_mb_csv) == (1_000, 1_500)
    assert (t.buckets_vs_one_pass, t.one_pass_peak_mb) == (1.25, 8_000)
    assert bench.ISSUE_CUSTOMERS == 1_000_000
    # A ratio meets its target at it; memory only under it.
    assert bench.verdict(0.7, t.vs_duckdb_parquet) == "met"
    assert bench.verdict(0.71, t.vs_duckdb_parquet) == "MISSED"
    assert bench.verdict(1_000, t.peak_mb_parquet, under=True) == "MISSED"
    assert bench.verdict(999, t.peak_mb_parquet, under=True) == "met"


def test_the_12_rule_file_passes_rules_check_with_12_customer_rules(
    invoke: Callable[..., Any],
) -> None:
    checked = invoke("rules", "check", str(RULES_12))
    assert checked.exit_code == 0, checked.stderr
    assert "customer[12]  always" in checked.stdout
    assert "customer[13]" not in checked.stdout
    assert len(tomllib.loads(RULES_12.read_text())["customer"]) == 12


def test_each_new_list_of_the_12_rule_file_is_carved_from_the_default_list_after_it(
    bench: ModuleType, invoke: Callable[..., Any]
) -> None:
    """The bench checks the 12-rule output by `CARVED_FROM`: everyone outside the new lists
    keeps the default run's row, which holds only if the file is the defaults, in their order,
    with each new list just before the one it takes people from."""
    shown = invoke("rules", "init")
    assert shown.exit_code == 0
    defaults = tomllib.loads(shown.stdout)
    twelve = tomllib.loads(RULES_12.read_text())
    default_statuses = {rule["status"] for rule in defaults["customer"]}
    kept = [rule for rule in twelve["customer"] if rule["status"] in default_statuses]
    assert kept == defaults["customer"]
    assert twelve["prospect"] == defaults["prospect"]
    assert twelve["account"] == defaults["account"]
    rules = twelve["customer"]
    added = {
        rule["status"]: rules[n + 1]["status"]
        for n, rule in enumerate(rules)
        if rule["status"] not in default_statuses
    }
    assert added == bench.CARVED_FROM
    assert len(added) == 3


def test_the_nightly_options_timed_are_all_four_the_issue_names(
    bench: ModuleType, tmp_path: Path
) -> None:
    """Issue 23's third target is for history, report, metrics and changes against the previous
    night: the timed command carries each, and the bare one of its pair none of them."""
    options = bench.nightly_options(tmp_path)
    assert options[::2] == ["--history", "--changes", "--report", "--metrics"]
    assert bench.TARGETS.nightly_options == 1.10


def _runs(bench: ModuleType, label: str, walls: list[float]) -> Any:
    return bench.Result(label, 1, [bench.Run(wall, 100.0, {}) for wall in walls])


def test_what_the_nightly_options_add_is_the_median_of_each_rounds_own_ratio(
    bench: ModuleType,
) -> None:
    """Round by round: 1.05, 1.12, 1.08 -> 8% (met); a pair at 1.11 in the middle misses."""
    bare = _runs(bench, "ours, Parquet, Parquet output, no options", [4.0, 4.0, 5.0])
    night = _runs(bench, "ours, Parquet, Parquet output, nightly options", [4.2, 4.48, 5.4])
    csv_bare = _runs(bench, "ours, Parquet, CSV output, no options", [4.0, 4.0, 4.0])
    csv_night = _runs(bench, "ours, Parquet, CSV output, nightly options", [4.0, 4.44, 4.8])
    text, met, missed = bench.nightly_target([(bare, night), (csv_bare, csv_night)])
    assert (met, missed) == (1, 1)
    assert "Parquet output +8.0% (+5.0 to +12.0%) (target at most 10%: met)" in text
    assert "CSV output +11.0% (+0.0 to +20.0%) (target at most 10%: MISSED)" in text


def test_the_nightly_pairs_run_and_compare_with_the_previous_night(
    bench: ModuleType, tmp_path: Path
) -> None:
    """The bench's own commands on a small export: each nightly run compares with the night
    the history was given, and writes its changes (check_nightly refuses anything less)."""
    data = tmp_path / "data"
    made = bench.run_child(
        [*bench.followup_command(), "generate", "--customers", "2000", "--out", str(data), "-q"]
    )
    assert made.wall > 0
    contenders = bench.nightly_pairs(data, tmp_path)
    assert [c.label.split(", ")[2:] for c in contenders] == [
        ["Parquet output", "no options"],
        ["Parquet output", "nightly options"],
        ["CSV output", "no options"],
        ["CSV output", "nightly options"],
    ]
    for contender in contenders:
        bench.run_child(contender.command)
    bench.check_nightly(tmp_path)
    # The bare run of each pair has none of the options, not even the report.
    for bare in contenders[::2]:
        assert not {"--history", "--changes", "--report", "--metrics"} & set(bare.command)
    for fmt in bench.NIGHTLY_OUTPUTS:
        night = tmp_path / f"nightly-{fmt}"
        assert (night / f"plain.{fmt}").is_file()
        snapshots = sorted(p.name for p in (night / "history").iterdir() if p.is_dir())
        assert snapshots == ["as_of=2024-07-30", "as_of=2024-07-31"]
    (tmp_path / "nightly-csv" / "changes.csv").write_text("customer_id\n")
    with pytest.raises(SystemExit, match="wrote no changes"):
        bench.check_nightly(tmp_path)
