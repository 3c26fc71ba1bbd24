"""Tests that fail when the code is wrong (issue 19): one per hand-made mutant no test killed.

Each test names the mutant it kills: a small change to the source that the rest of the suite
let through. The expected values are worked out from the SPEC (and the README where the SPEC
leaves the wording to it), not copied from a run.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from followup_cli.nightly import stored_nights
from followup_cli.reading import fingerprint
from followup_cli.reading.fingerprint import InputChangedError
from followup_cli.scaleout import first_pass

from .conftest import write_exports

Invoke = Callable[..., Any]
AS_OF = "2024-07-31"  # a Wednesday: July's charge falls due today, June's on Friday 06-28
NOTHING: dict[str, list[str]] = {"customers": [], "agreements": [], "payments": [], "events": []}


def run(invoke: Invoke, data: Path, *options: str, as_of: str = AS_OF) -> Any:
    result = invoke("reconcile", "--data", str(data), "--as-of", as_of, "-q", *options)
    assert result.exit_code in (0, 1), result.output
    return result


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


# --- a. changes.py: the reason of a person who is gone ------------------------------------------


def test_a_person_who_is_gone_says_why(invoke: Invoke, tmp_path: Path) -> None:
    """Mutant: a gone person's `reason` left empty. SPEC 8: a person in the previous run and
    not in this one is a changes row with to_* empty; README: their reason is that they are
    no longer in the customers export."""
    people = ["C-1,Ann,web,2024-01-01", "C-2,Bob,referral,2024-01-01"]
    before = write_exports(tmp_path / "before", {**NOTHING, "customers": people})
    after = write_exports(tmp_path / "after", {**NOTHING, "customers": people[:1]})
    run(invoke, before, "-o", str(tmp_path / "before.csv"), as_of="2024-07-30")
    changes = tmp_path / "changes.csv"
    run(
        invoke,
        after,
        "-o",
        str(tmp_path / "after.csv"),
        "--previous",
        str(tmp_path / "before.csv"),
        "--changes",
        str(changes),
    )
    (gone,) = rows_of(changes)  # Ann is Web Lead both nights: no change, no row
    assert gone["customer_id"] == "C-2"
    assert (gone["from_status"], gone["to_status"]) == ("Referral", "")
    assert "no longer in the customers export" in gone["reason"]


# --- b. stored_nights.py: a night without the person ends their period -------------------------


def test_a_missing_night_ends_a_period(invoke: Invoke, tmp_path: Path) -> None:
    """Mutant: `periods` merges across a night the person was absent. SPEC 8: `followup
    history` gives a person's statuses over time as periods; C-2 is a Referral on the 1st,
    missing from the export on the 2nd and back, still a Referral, on the 3rd: two periods."""
    store = tmp_path / "history"
    everyone = ["C-1,Ann,web,2024-01-01", "C-2,Bob,referral,2024-01-01"]
    for day, people in (
        ("2024-07-01", everyone),
        ("2024-07-02", everyone[:1]),
        ("2024-07-03", everyone),
    ):
        data = write_exports(tmp_path / day, {**NOTHING, "customers": people})
        run(invoke, data, "-o", str(tmp_path / f"{day}.csv"), "--history", str(store), as_of=day)
    periods = stored_nights.periods(store, "c-2")
    assert periods.select("from", "to", "follow_up_status").rows() == [
        (dt.date(2024, 7, 1), dt.date(2024, 7, 1), "Referral"),
        (dt.date(2024, 7, 3), dt.date(2024, 7, 3), "Referral"),
    ]
    # Ann was there every night with the same status: one period.
    assert stored_nights.periods(store, "C-1").height == 1


# --- c. buckets: the newest payment and event across buckets -------------------------------------


def test_the_newest_row_across_buckets_is_the_latest(invoke: Invoke, tmp_path: Path) -> None:
    """Mutant: the newest date across buckets taken with min. The stale-export check (SPEC 8,
    "stale export") reads the newest payment and event on or before the as-of date: here the
    newest payment is 2024-07-20 (11 days before 2024-07-31: stale, more than 7) and the
    newest event 2024-07-30 (1 day: fresh). Each lies in another bucket than an older row
    (2024-01-15, 2024-03-01), so taking the earliest bucket's date would report both stale."""
    ids = [f"C-{n}" for n in range(1, 40)]
    recent = ids[0]
    old = next(c for c in ids if first_pass.bucket_of(c, 2) != first_pass.bucket_of(recent, 2))
    data = write_exports(
        tmp_path / "exports",
        {
            "customers": [f"{recent},Ann,web,2024-01-01", f"{old},Bob,web,2024-01-01"],
            "agreements": [],
            "payments": [
                f"P-1,{old},2024-01-15,9.00,one-off",
                f"P-2,{recent},2024-07-20,9.00,one-off",
            ],
            "events": [
                f"E-1,{recent},2024-07-30 10:00,trial,attended",
                f"E-2,{old},2024-03-01 10:00,trial,attended",
            ],
        },
    )
    warned = {}
    for label, extra in (("one", ()), ("buckets", ("--buckets", "2"))):
        report = tmp_path / f"{label}.json"
        run(invoke, data, "-o", str(tmp_path / f"{label}.csv"), "--report", str(report), *extra)
        found = json.loads(report.read_text())
        stale = [w for w in found["warnings"] if w.startswith(("payments", "events"))]
        warned[label] = (stale, found["buckets"] > 1)
    assert warned["one"][1] is False and warned["buckets"][1] is True
    for stale, _split in warned.values():
        assert len(stale) == 1
        assert stale[0].startswith("payments: the newest row is from 2024-07-20, 11 days before")


# --- d, e. --sort --------------------------------------------------------------------------------


def test_sort_keeps_ties_in_the_customers_file_order(invoke: Invoke, tmp_path: Path) -> None:
    """Mutant: `--sort` with maintain_order=False. README: the sort is stable, so people with
    equal values keep the customers file's order (SPEC 5). A first export of 3,000 web
    prospects, ids in no sorted order: every one is a Prospect on the Web Lead list, so
    sorting by either column, either way, must leave the file's order untouched.

    Polars' sort of one column is stable whatever maintain_order says, except on a column it
    knows is sorted (here a constant, since no one has an agreement): asked for the other
    direction it reverses the frame unless told to keep the order."""
    ids = [f"C-{(n * 7919) % 3000 + 1}" for n in range(3000)]
    assert len(set(ids)) == 3000
    data = write_exports(
        tmp_path / "exports",
        {
            "customers": [f"{i},Person {i},web,2024-01-01" for i in ids],
            "agreements": [],
            "payments": [],
            "events": [],
        },
    )
    for column in ("customer_type", "follow_up_status"):
        for direction in ("asc", "desc"):
            out = tmp_path / f"{column}-{direction}.csv"
            run(invoke, data, "-o", str(out), "--sort", f"{column}:{direction}")
            rows = pl.read_csv(out, infer_schema=False)
            assert rows["customer_id"].to_list() == ids, (column, direction)
            assert set(rows["customer_type"]) == {"Prospect"}
            assert set(rows["follow_up_status"]) == {"Web Lead"}


def test_sort_by_past_due_puts_the_most_owed_first(invoke: Invoke, tmp_path: Path) -> None:
    """Mutant: `past_due` dropped from the columns sorted largest first. README: `--sort
    past_due` sorts largest first, empty values last. Each customer bought a monthly
    subscription on 2024-06-01 and the club has no payments at all: June's fee fell due on
    Friday 2024-06-28 (June 30 is a Sunday) and is past due; July's falls due on the as-of
    date itself, so it is due, not past due (SPEC 3). past_due is one month's fee; the
    prospect has none."""
    data = write_exports(
        tmp_path / "exports",
        {
            "customers": [
                "C-1,Ann,web,2024-01-01",
                "C-2,Bob,web,2024-01-01",
                "C-3,Cy,web,2024-01-01",
                "C-4,Dee,web,2024-01-01",
            ],
            "agreements": [
                "A-1,C-1,2024-06-01,,,active,,10.00,",
                "A-2,C-2,2024-06-01,,,active,,30.00,",
                "A-4,C-4,2024-06-01,,,active,,20.00,",
            ],
            "events": [],
        },
    )
    out = tmp_path / "sorted.csv"
    run(invoke, data, "-o", str(out), "--sort", "past_due", "--without", "payments")
    assert [(r["customer_id"], r["past_due"]) for r in rows_of(out)] == [
        ("C-2", "30.00"),
        ("C-4", "20.00"),
        ("C-1", "10.00"),
        ("C-3", ""),
    ]


# --- f. the run report's rejects path ------------------------------------------------------------


def test_the_report_names_the_rejects_file(invoke: Invoke, tmp_path: Path) -> None:
    """Mutant: the report's `rejects.path` names the output. SPEC 8: the report lists the
    rejects; SPEC 6: the payment dated 2024-02-30 (line 2) is rejected into the --rejects file,
    the other two are used (one in three rejected is under --max-rejected's 50%)."""
    data = write_exports(
        tmp_path / "exports",
        {
            "customers": ["C-1,Ann,web,2024-01-01"],
            "agreements": [],
            "payments": [
                "P-1,C-1,2024-02-30,9.00,one-off",
                "P-2,C-1,2024-03-01,9.00,one-off",
                "P-3,C-1,2024-04-01,9.00,one-off",
            ],
            "events": [],
        },
    )
    out, rejects, report = tmp_path / "out.csv", tmp_path / "bad.csv", tmp_path / "report.json"
    result = run(invoke, data, "-o", str(out), "--rejects", str(rejects), "--report", str(report))
    assert result.exit_code == 1
    found = json.loads(report.read_text())
    assert found["rejects"] == {"rows": 1, "path": str(rejects)}
    kinds = {o["kind"]: o["path"] for o in found["outputs"]}
    assert kinds == {"output": str(out), "rejects": str(rejects)}
    assert [r["line"] for r in rows_of(rejects)] == ["2"]


# --- g, h. fingerprints --------------------------------------------------------------------------


def test_a_file_that_changes_while_it_is_hashed_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant: `fingerprint.take` not comparing the file before and after hashing. SPEC 8: an
    export that changed while it was read stops the run ("changed while reading; run again"),
    so one whose writer appends a row while the first fingerprint is taken is refused."""
    export = tmp_path / "payments.csv"
    export.write_text("payment_id,customer_id,paid_on,amount,kind\n")
    real = fingerprint.sha256_of

    def hashed_while_written(path: Path) -> str:
        digest = real(path)
        with path.open("a") as handle:  # the club system writes on meanwhile
            handle.write("P-1,C-1,2024-07-01,9.00,one-off\n")
        return digest

    monkeypatch.setattr(fingerprint, "sha256_of", hashed_while_written)
    with pytest.raises(InputChangedError, match="changed while reading; run again"):
        fingerprint.take(export)


def test_the_after_read_check_compares_size_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant: `verify` ignoring size and modified time (the hash only, or nothing). A file
    with the same bytes but another modified time has been rewritten since it was
    fingerprinted; so has one of another size (the hash is made to agree here, to check that
    the size is compared on its own)."""
    export = tmp_path / "payments.csv"
    export.write_text("payment_id,customer_id,paid_on,amount,kind\n")
    first = fingerprint.take_all([export])
    fingerprint.verify(first)  # untouched: passes
    stamp = export.stat()
    os.utime(export, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 5_000_000_000))
    with pytest.raises(InputChangedError, match="changed while reading"):
        fingerprint.verify(first)
    export.write_text("payment_id,customer_id,paid_on,amount,kind\nP-1,C-1,2024-07-01,9,one-off\n")
    os.utime(export, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # the old time put back
    monkeypatch.setattr(fingerprint, "sha256_of", lambda _path: first[export].sha256)
    with pytest.raises(InputChangedError, match="changed while reading"):
        fingerprint.verify(first)
