"""The payments' own ids (issue 23): read to find repeated ids, never kept for the rules.

The main path validates with `payment_ids=False`, so the payments table holds no id column
(1.4 GB at 10,000,000 customers); the ids are hashed in the same streaming pass that types
the rows (`tables.id_hash`, the expression form of `id_hashes`). `explain` keeps them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from followup_cli.core import pipeline
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.tables import id_hash, id_hashes
from followup_cli.reading.run import read_and_validate
from followup_cli.reading.run import run as single_pass

from .conftest import AS_OF, write_exports

MIXED = ["P-1", " p-1", "p-1 ", "É-1", "é-1", "Ｐ-1", "", "   ", None, "p-2", "P-2"]
PLAIN = ["P-1", "P-2", "12345", "A_B.C/9", None, "", "P-1"]


@pytest.mark.parametrize("ids", [MIXED, PLAIN], ids=["mixed", "plain"])
def test_the_expression_hashes_as_the_series_does(ids: list[str | None]) -> None:
    """Validation hashes in the query, the buckets' first pass on a Series: one hash."""
    series = pl.Series("id", ids, dtype=pl.String)
    expected = id_hashes(series).to_list()
    folded = pl.select(id_hash(pl.lit(series))).to_series().to_list()
    assert folded == expected
    if ids is PLAIN:  # proven plain: hashed as written, the same hashes
        plain = pl.select(id_hash(pl.lit(series), plain_upper=True)).to_series().to_list()
        assert plain == expected


def test_the_expression_hashes_number_ids_as_their_text() -> None:
    numbers = pl.Series("id", [7, 7, None, 12], dtype=pl.Int64)
    expected = id_hashes(numbers).to_list()
    assert pl.select(id_hash(pl.lit(numbers))).to_series().to_list() == expected
    assert expected[0] == expected[1] and expected[2] is None and expected[0] != expected[3]


def _exports(folder: Path, payment_ids: list[str]) -> Path:
    customers = ["C-1,Ann,web,2024-01-01", "C-2,Bob,web,2024-01-01"]
    agreements = ["A-1,C-1,2024-01-01,0,0,active,,30.00,"]
    payments = [
        f"{pid},C-{1 + n % 2},2024-0{1 + n % 6}-05,30.00,recurring"
        for n, pid in enumerate(payment_ids)
    ]
    tables = {"customers": customers, "agreements": agreements, "payments": payments}
    return write_exports(folder, {**tables, "events": []})


@pytest.mark.parametrize(
    ("payment_ids", "repeats"),
    [
        (["P-1", "P-2", "P-1", "P-3", "P-2", "P-4"], [4, 6]),  # plain: hashed as written
        # Case and spaces fold; a full-width letter is another id.
        (["P-1", " p-1", "p-2", "P-2 ", "Ｐ-1", "P-3"], [3, 5]),
    ],
    ids=["plain", "folded"],
)
def test_repeated_payment_ids_are_set_aside_without_keeping_the_ids(
    tmp_path: Path, payment_ids: list[str], repeats: list[int]
) -> None:
    folder = _exports(tmp_path / "x", payment_ids)
    kept, _, _ = read_and_validate(folder, {}, AS_OF)
    lean, _, _ = read_and_validate(folder, {}, AS_OF, payment_ids=False)
    assert "payment_id" in kept.payments.columns
    assert "payment_id" not in lean.payments.columns
    # The same rows (the tables' row order is the streaming join's, not the file's).
    rows = lean.payments.columns
    assert lean.payments.sort(rows).equals(kept.payments.drop("payment_id").sort(rows))
    assert lean.rejects.equals(kept.rejects)
    assert lean.counts == kept.counts
    duplicates = lean.rejects.filter(pl.col("reason").str.starts_with("duplicate payment_id"))
    assert duplicates.get_column("line").to_list() == repeats


def test_the_run_keeps_no_payment_ids_and_its_rows_are_unchanged(tmp_path: Path) -> None:
    folder = _exports(tmp_path / "x", ["P-1", "P-2", "P-1", "P-3"])
    result = single_pass(folder, {}, AS_OF, LedgerSettings())
    full, _, _ = read_and_validate(folder, {}, AS_OF)
    assert result.rejects.equals(full.rejects)
    expected = pipeline.reconcile(full, AS_OF, LedgerSettings()).collect()
    assert result.output.equals(expected)
    balance = dict(result.output.select("customer_id", "balance").iter_rows())
    # Ann (C-1): seven fees of 30.00 due January to July (July's billing date, Wednesday the
    # 31st, is the as-of day); she paid 30.00 on line 2, and line 4 repeats P-1 and is set
    # aside, so she owes 180.00 (150.00 had the repeat counted).
    assert balance["C-1"] == Decimal("-180.00")
