"""The command's path is the core's path: `run` reconciles through `reconcile`, cut at one day."""

from __future__ import annotations

import datetime as dt
import gc
import weakref
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from followup_cli.core import pipeline
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.pipeline import reconcile
from followup_cli.core.schema import TABLE_NAMES
from followup_cli.core.tables import Validated
from followup_cli.reading import run as run_module
from followup_cli.reading.run import load, run
from followup_cli.scaleout import buckets, one_bucket
from followup_cli.scaleout.buckets import Scale
from tests.conftest import AS_OF, SAMPLE


def test_validated_tables_remember_their_day() -> None:
    """validate() records the as-of date it left later rows out at."""
    tables, _ = load(SAMPLE, {}, AS_OF)
    assert tables.as_of == AS_OF


@pytest.mark.parametrize("other", [dt.date(2024, 8, 31), dt.date(2024, 6, 30)])
def test_reconciling_at_another_day_is_refused(other: dt.date) -> None:
    """Tables cut at 2024-07-31 are not reconciled as of another day (no silent miscount)."""
    tables, _ = load(SAMPLE, {}, AS_OF)
    with pytest.raises(ValueError, match="validated as of 2024-07-31"):
        reconcile(tables, other, LedgerSettings())


def test_run_reconciles_through_reconcile(monkeypatch: pytest.MonkeyPatch) -> None:
    """run() calls reconcile() (one path for tests and command) and times its stages."""
    calls: list[dt.date] = []
    real = pipeline.reconcile

    def spy(*args: object, **kwargs: object) -> pl.LazyFrame:
        calls.append(args[1])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "reconcile", spy)
    stages: list[str] = []
    result = run(SAMPLE, {}, AS_OF, LedgerSettings(), progress=stages.append)
    assert calls == [AS_OF]
    assert stages == ["read", "ledger", "statuses"]
    assert list(result.timings) == ["read", "validate", "ledger", "statuses"]
    tables, _ = load(SAMPLE, {}, AS_OF)
    assert_frame_equal(result.output, reconcile(tables, AS_OF, LedgerSettings()).collect())


def test_handed_tables_give_the_same_facts_and_are_let_go() -> None:
    """Tables handed over (`Validated.hand_over`, as one pass and each bucket do) give the
    facts the kept tables give, and the pipeline holds none of them once the facts are out:
    the one-pass run's memory peak depends on it (issue 23)."""
    tables, _ = load(SAMPLE, {}, AS_OF)
    kept = pipeline.people_facts(tables, AS_OF, LedgerSettings()).collect()
    gone = [weakref.ref(tables.events), weakref.ref(tables.payments)]
    handed = tables.hand_over()
    del tables
    facts = pipeline.people_facts(handed, AS_OF, LedgerSettings()).collect()
    assert_frame_equal(facts, kept)
    gc.collect()
    assert [ref() for ref in gone] == [None, None]
    with pytest.raises(RuntimeError, match="taken already"):
        handed.take("events")


def test_handed_tables_are_refused_at_another_day() -> None:
    """Handing the tables over keeps the day they were cut at."""
    tables, _ = load(SAMPLE, {}, AS_OF)
    with pytest.raises(ValueError, match="validated as of 2024-07-31"):
        reconcile(tables.hand_over(), dt.date(2024, 8, 31), LedgerSettings())


def _alive_when_labelled(monkeypatch: pytest.MonkeyPatch, module: object) -> list[list[str]]:
    """For each `label` call (the statuses, after the rule facts), which of the tables that
    `module`'s `validate` returned are still alive."""
    refs: list[dict[str, weakref.ref[pl.DataFrame]]] = []
    alive: list[list[str]] = []
    real_validate, real_label = module.validate, pipeline.label  # type: ignore[attr-defined]

    def validating(*args: object, **kwargs: object) -> Validated:
        tables = real_validate(*args, **kwargs)
        refs.append({name: weakref.ref(getattr(tables, name)) for name in TABLE_NAMES})
        return tables  # type: ignore[no-any-return]

    def labelling(*args: object, **kwargs: object) -> pl.LazyFrame:
        gc.collect()
        alive.append([name for name, ref in refs[-1].items() if ref() is not None])
        return real_label(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "validate", validating)
    monkeypatch.setattr(pipeline, "label", labelling)
    return alive


def test_one_pass_holds_no_table_once_the_facts_are_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """run() hands its tables over and keeps no reference: by the statuses, none is held."""
    alive = _alive_when_labelled(monkeypatch, run_module)
    run(SAMPLE, {}, AS_OF, LedgerSettings())
    assert alive == [[]]


def test_a_bucket_holds_no_table_once_the_facts_are_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each bucket does the same (and lets its rows as read go after validation)."""
    alive = _alive_when_labelled(monkeypatch, one_bucket)
    with buckets.run(
        SAMPLE, {}, AS_OF, LedgerSettings(), Scale("2"), beside=tmp_path / "o.csv"
    ) as split:
        assert split.people == 18
    assert alive == [[], []]
