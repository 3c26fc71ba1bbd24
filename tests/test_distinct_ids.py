"""Repeated ids (SPEC 2) proven absent from the whole-column figures (issue 23).

The figures' second look asks whether each table's ids as written stand in strictly
increasing order (shorter first, then byte order: `P-1`, `P-2`, ... `P-10`); in order, with
the ids all in one case, proves that no row repeats another's id, and the per-row hashing and
comparing is skipped. Anything else (another order, a repeat, mixed case, missing ids) is
compared row by row."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from followup_cli.reading import validation, whole_column
from followup_cli.reading.run import read_and_validate

from .conftest import AS_OF, write_exports


@pytest.mark.parametrize(
    ("figures", "proven"),
    [
        ({"p:in_order": True, "p:not_upper": False}, True),
        ({"p:in_order": True, "p:not_upper": True, "p:not_lower": False}, True),
        # Mixed case: `P-1` and `p-2` in order as written, yet `P-1` and `p-1` could both be.
        ({"p:in_order": True, "p:not_upper": True, "p:not_lower": True}, False),
        ({"p:in_order": False, "p:not_upper": False}, False),  # a repeat, or another order
        ({"p:not_upper": False}, False),  # not asked (a bucket is given its repeats)
        ({"p:in_order": True}, False),  # no case figure: not text, compared
    ],
)
def test_what_proves_the_ids_distinct(figures: dict[str, object], proven: bool) -> None:
    assert whole_column.ids_distinct(figures, "p") is proven


def _folder(tmp_path: Path, payment_ids: list[str]) -> Path:
    customers = ["C-1,Ann,web,2024-01-01", "C-2,Bob,web,2024-01-01"]
    payments = [f"{pid},C-1,2024-0{1 + n}-05,30.00,one-off" for n, pid in enumerate(payment_ids)]
    tables = {"customers": customers, "agreements": [], "payments": payments, "events": []}
    return write_exports(tmp_path / "x", tables)


def _counting_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The columns validation hashed row by row, in order."""
    hashed: list[str] = []
    real = validation.id_hash

    def counting(ids: pl.Expr, *, plain_upper: bool = False) -> pl.Expr:
        hashed.append(ids.meta.output_name())
        return real(ids, plain_upper=plain_upper)

    monkeypatch.setattr(validation, "id_hash", counting)
    return hashed


def test_distinct_ids_are_not_hashed_row_by_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = _counting_hashes(monkeypatch)
    tables, _, _ = read_and_validate(_folder(tmp_path, ["P-1", "P-2", "P-3"]), {}, AS_OF)
    assert hashed == []
    assert tables.rejects.height == 0 and tables.payments.height == 3


@pytest.mark.parametrize(
    ("payment_ids", "repeats"),
    [
        (["P-1", "P-2", "P-1"], [4]),  # a repeat as written
        (["P-1", "p-1", "P-2"], [3]),  # one id as matched, two as written
        (["P-1", " P-1", "P-2"], [3]),  # padding: not plain, compared as matched
    ],
)
def test_anything_unproven_is_compared_row_by_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payment_ids: list[str], repeats: list[int]
) -> None:
    hashed = _counting_hashes(monkeypatch)
    tables, _, _ = read_and_validate(_folder(tmp_path, payment_ids), {}, AS_OF)
    assert "payment_id" in hashed
    found = tables.rejects.filter(pl.col("reason").str.starts_with("duplicate payment_id"))
    assert found.get_column("line").to_list() == repeats


@pytest.mark.parametrize(
    ("ids", "ordered"),
    [
        (["P-1", "P-2", "P-10", "P-11"], True),  # shorter first, then byte order
        (["P-001", "P-002", "P-010"], True),  # one width
        (["A"], True),
        (["P-1", "P-10", "P-2"], False),  # byte order alone: distinct, but not proven
        (["P-2", "P-1"], False),
        (["P-1", "P-1"], False),  # a repeat is never "after" itself
        (["P-1", None, "P-1"], False),  # a missing id breaks the chain, not skipped
        ([None], False),
        ([], True),  # no two rows alike
    ],
)
def test_which_ids_stand_in_order(ids: list[str | None], ordered: bool) -> None:
    frame = pl.DataFrame({"id": ids}, schema={"id": pl.String})
    assert frame.select(whole_column.in_order(pl.col("id"))).item() is ordered


def test_distinct_ids_out_of_order_are_compared_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids in another order are not taken for repeats: the proof fails, and the row-by-row
    comparison finds none."""
    hashed = _counting_hashes(monkeypatch)
    tables, _, _ = read_and_validate(_folder(tmp_path, ["P-2", "P-10", "P-1"]), {}, AS_OF)
    assert "payment_id" in hashed
    assert tables.rejects.height == 0 and tables.payments.height == 3


def test_number_ids_in_parquet_are_compared_row_by_row(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["1", "2", "3"])
    frame = pl.read_csv(folder / "payments.csv", infer_schema=False)
    payments = frame.with_columns(
        pl.Series("payment_id", [7, 8, 7], dtype=pl.Int64),
        pl.col("paid_on").str.to_date(),
        pl.col("amount").str.to_decimal(scale=2),
    )
    payments.write_parquet(folder / "payments.parquet")
    (folder / "payments.csv").unlink()
    tables, _, _ = read_and_validate(folder, {}, AS_OF)
    found = tables.rejects.filter(pl.col("reason").str.starts_with("duplicate payment_id"))
    assert found.get_column("line").to_list() == [3]  # a Parquet file's third row
