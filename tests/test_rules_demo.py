"""The At Risk demo of issue 21: `rules init` edited to Warning after 14 days and a 30-day
`no_visit` At Risk list before Active Customer, on sample_data (the lists worked out by hand
from the sample files) and on generated exports (members' visits, checked with plain Python
over the CSV files); the same file under Ray with two buckets; explain's conditions in words.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from followup_cli.core.default_rules import DEFAULT_TEXT
from followup_cli.synthetic.generate import generate

from .conftest import SAMPLE

AS_OF = dt.date(2024, 7, 31)
GOLDEN = Path(__file__).resolve().parent / "golden" / "sample_2024-07-31.csv"
AT_RISK = """\
[[customer]]
when = "no_visit"
days = 30
status = "At Risk"

"""


def edited_rules(folder: Path) -> Path:
    """`rules init` with warning_after_days = 14 and At Risk (no_visit 30) before `active`."""
    text = DEFAULT_TEXT.replace("warning_after_days = 7 ", "warning_after_days = 14", 1)
    active = '[[customer]]\nwhen = "active"'
    assert text.count(active) == 1 and "warning_after_days = 14" in text
    path = folder / "rules.toml"
    path.write_text(text.replace(active, AT_RISK + active))
    return path


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return {row["customer_id"]: row for row in csv.DictReader(f)}


def reconcile(invoke: Callable[..., object], data: Path, out: Path, *extra: str) -> None:
    done = invoke(
        "reconcile", "--data", str(data), "--as-of", str(AS_OF), "-q", "-o", str(out), *extra
    )
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]


# --- sample_data, by hand ---------------------------------------------------------------------

# Read from sample_data: C-1 to C-5 hold active monthly agreements. C-5 owes June's
# 4.00 (past due), so Delinquent Customer stays first. C-1 attended class E-7 on 2024-07-22
# (9 days before; their no-show E-12 of 2024-07-29 does not count). C-2 attended E-8 on
# 2024-07-01, exactly 30 days before, which is not within the 30 days (SPEC 11), and canceled
# E-11. C-3 attended E-9 on 2024-07-02, 29 days before (and E-6 in May). C-4 missed E-10 and
# never attended. Nobody's account is 8 to 14 days in arrears: the statuses stay; only the
# "(7 or fewer)" / "(more than 7)" of the account reasons say 14.
EXPECTED_CHANGES = {
    "C-2": (
        "At Risk",
        "active agreement A-2; last attended class E-8 on 2024-07-01, 30 days ago "
        "(no visit in 30 days)",
    ),
    "C-4": ("At Risk", "active agreement A-4; no attended event (no visit in 30 days)"),
}


def test_the_edited_file_on_the_sample(invoke: Callable[..., object], tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    reconcile(invoke, SAMPLE, out, "--rules", str(edited_rules(tmp_path)))
    rows, golden = read_rows(out), read_rows(GOLDEN)
    assert list(rows) == list(golden)
    at_risk = {cid: (r["follow_up_status"], r["reason"]) for cid, r in rows.items()
               if r["follow_up_status"] == "At Risk"}  # fmt: skip
    assert at_risk == EXPECTED_CHANGES
    for cid in ("C-1", "C-3"):
        assert rows[cid]["follow_up_status"] == "Active Customer"
    assert rows["C-5"]["follow_up_status"] == "Delinquent Customer"
    for cid, row in rows.items():
        expected = dict(golden[cid])
        if cid in EXPECTED_CHANGES:
            expected["follow_up_status"], expected["reason"] = EXPECTED_CHANGES[cid]
        expected["account_reason"] = (
            expected["account_reason"]
            .replace("(7 or fewer)", "(14 or fewer)")
            .replace("(more than 7)", "(more than 14)")
        )
        assert row == expected, cid


def test_the_sample_visits_leave_the_default_output_and_warnings(
    invoke: Callable[..., object], tmp_path: Path
) -> None:
    """The sample's members' visits (attended, no-show, canceled classes) change nothing by
    default: the golden bytes, and the newest past event is still 2024-07-30."""
    with (SAMPLE / "events.csv").open(newline="") as f:
        classes = [r for r in csv.DictReader(f) if r["kind"] == "class"]
    assert {r["outcome"] for r in classes} == {"attended", "no-show", "canceled"}
    assert max(r["starts_at"] for r in classes) < "2024-07-30"
    out = tmp_path / "out.csv"
    done = invoke("reconcile", "--data", str(SAMPLE), "--as-of", str(AS_OF), "-o", str(out))
    assert out.read_bytes() == GOLDEN.read_bytes()
    assert "events: the newest row" not in done.output  # type: ignore[attr-defined]


def test_explain_shows_each_condition_in_words(
    invoke: Callable[..., object], tmp_path: Path
) -> None:
    rules = edited_rules(tmp_path)
    done = invoke("explain", "C-2", "--data", str(SAMPLE), "--as-of", str(AS_OF),
                  "--rules", str(rules))  # fmt: skip
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    text = " ".join(done.output.split())  # type: ignore[attr-defined]
    assert str(rules) in text
    assert (
        "At Risk decided no_visit days=30: an active agreement and no attended event in the 30 "
        "days up to 2024-07-31 (active A-2; latest attended class E-8 on 2024-07-01, 30 days "
        "ago)"
    ) in text
    assert "Active Customer matched, lower in the table active: an active agreement" in text
    assert "Collections Customer no collections: any agreement in collections (none)" in text


# --- generated exports ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate(2_000, folder, seed=11, fmt="csv")
    return folder


def read_table(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_generated_at_risk_list(
    invoke: Callable[..., object], generated: Path, tmp_path: Path
) -> None:
    """Every At Risk person has an active agreement that is not a 1-session purchase and no
    attended event in the 30 days up to A; every Active Customer has one; all three kinds of
    At Risk person (recent visitor aside) appear."""
    out = tmp_path / "out.csv"
    reconcile(invoke, generated, out, "--rules", str(edited_rules(tmp_path)))
    rows = read_rows(out)
    active: set[str] = set()
    for a in read_table(generated, "agreements"):
        bought = dt.date.fromisoformat(a["purchase_date"]) <= AS_OF
        if bought and a["status"] == "active" and a["session_quantity"] != "1":
            active.add(a["customer_id"])
    visited: set[str] = set()
    attended_before: set[str] = set()
    for e in read_table(generated, "events"):
        day = dt.date.fromisoformat(e["starts_at"][:10])
        if e["outcome"] == "attended" and day <= AS_OF:
            (visited if day > AS_OF - dt.timedelta(days=30) else attended_before).add(
                e["customer_id"]
            )
    at_risk = {c for c, r in rows.items() if r["follow_up_status"] == "At Risk"}
    members = {c for c, r in rows.items() if r["follow_up_status"] == "Active Customer"}
    assert len(at_risk) >= 50 and len(members) >= 200
    assert at_risk <= active and not at_risk & visited
    assert members <= active and members <= visited
    assert at_risk & attended_before and at_risk - attended_before  # older visits, and none


def test_visits_change_nothing_by_default(
    invoke: Callable[..., object], generated: Path, tmp_path: Path
) -> None:
    """The visits are class events V-1, V-2, ... after the other events, only for people who
    bought by 2024-07-31; without them every list, reason and account column is the same."""
    events = read_table(generated, "events")
    visits = [e for e in events if e["event_id"].startswith("V-")]
    first = events.index(visits[0])
    assert len(visits) > 2_000 and all(e["event_id"].startswith("V-") for e in events[first:])
    assert {e["kind"] for e in visits} == {"class"}
    assert {e["outcome"] for e in visits} == {"attended", "no-show", "canceled"}
    bought = {a["customer_id"] for a in read_table(generated, "agreements")
              if dt.date.fromisoformat(a["purchase_date"]) <= AS_OF}  # fmt: skip
    assert {e["customer_id"] for e in visits} <= bought
    without = tmp_path / "without"
    without.mkdir()
    for name in ("customers", "agreements", "payments"):
        (without / f"{name}.csv").write_bytes((generated / f"{name}.csv").read_bytes())
    with (generated / "events.csv").open(newline="") as f:
        lines = f.read().splitlines(keepends=True)
    (without / "events.csv").write_text("".join(lines[: first + 1]), newline="")
    reconcile(invoke, generated, tmp_path / "with.csv")
    reconcile(invoke, without, tmp_path / "without.csv")
    with_visits, without_visits = (
        read_rows(tmp_path / "with.csv"),
        read_rows(tmp_path / "without.csv"),
    )
    assert list(with_visits) == list(without_visits)
    changed = set()
    for cid, row in with_visits.items():
        changed |= {column for column, value in row.items() if without_visits[cid][column] != value}
    # Only a column that reports visits as such may differ (last_visit_on, when it is there).
    assert changed <= {"last_visit_on"}


# --- Ray --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray() -> Iterator[object]:
    """A local Ray with 2 CPUs, or the one another test module already started."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def test_ray_with_a_rules_file_gives_one_pass_bytes(
    local_ray: object, invoke: Callable[..., object], generated: Path, tmp_path: Path
) -> None:
    rules = edited_rules(tmp_path)
    reconcile(invoke, generated, tmp_path / "one.csv", "--rules", str(rules))
    reconcile(invoke, generated, tmp_path / "ray.csv", "--rules", str(rules),
              "--engine", "ray", "--buckets", "2")  # fmt: skip
    one, ray = (tmp_path / "one.csv").read_bytes(), (tmp_path / "ray.csv").read_bytes()
    assert b",At Risk," in one
    assert ray == one
