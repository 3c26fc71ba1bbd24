"""Repeated ids (SPEC 2) proven absent from the whole-column figures (issue 23).

The figures' second look asks whether each table's ids as written stand in strictly
increasing order (shorter first, then byte order: `P-1`, `P-2`, ... `P-10`); in order, with
the ids all in one case, proves that no row repeats another's id, and the per-row hashing and
comparing is skipped. Anything else (another order, a repeat, mixed case, missing ids) is
compared row by row. The buckets' first pass takes the same proof a slice at a time
(`whole_column.IdsInOrder`) and, when it holds, neither hashes the ids nor searches them."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.schema import normalise_id
from followup_cli.reading import validation, whole_column
from followup_cli.reading.loading import RawTable
from followup_cli.reading.run import read_and_validate
from followup_cli.reading.run import run as single_pass
from followup_cli.scaleout import buckets, first_pass
from followup_cli.scaleout.buckets import Scale

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


@pytest.mark.parametrize(
    ("figures", "asked"),
    [
        ({"p:nulls": 0, "p:not_upper": False}, True),
        ({"p:nulls": 0, "p:not_upper": True}, True),  # may still be all lower case
        ({"p:nulls": 2, "p:not_upper": False}, False),  # a missing id: cannot be proven
        ({"p:nulls": 0}, False),  # not text
    ],
)
def test_when_the_order_of_the_ids_is_asked(figures: dict[str, object], asked: bool) -> None:
    """Only for text ids without a missing one: asking holds the whole column."""
    assert bool(whole_column.order_look("p", figures)) is asked


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


# --- The same proof a slice at a time: the buckets' first pass (SPEC 10) -----------------------

_ID_TEXT = st.text(alphabet="Pp-12 é", max_size=4)


_IN_ORDER = st.lists(st.integers(0, 40), max_size=5, unique=True).map(
    lambda ns: [f"P-{n}" for n in sorted(ns)]
)


@st.composite
def _sliced_ids(draw: st.DrawFn) -> tuple[list[str | None], list[int]]:
    """Ids and where to cut them: blocks each in order (so order breaks, if at all, where one
    block meets the next, often on a cut), or any short text."""
    if draw(st.booleans()):
        blocks = draw(st.lists(_IN_ORDER, max_size=4))
        ids: list[str | None] = [i for block in blocks for i in block]
        cuts = list(itertools.accumulate(len(block) for block in blocks))
        cuts = draw(st.lists(st.sampled_from(cuts), max_size=4)) if cuts else []
    else:
        ids = draw(st.lists(st.one_of(st.none(), _ID_TEXT), max_size=12))
        cuts = []
    return ids, [*cuts, *draw(st.lists(st.integers(0, len(ids)), max_size=3))]


@settings(max_examples=400, deadline=None)
@given(sliced=_sliced_ids())
def test_the_proof_by_slices_is_sound(sliced: tuple[list[str | None], list[int]]) -> None:
    """Proven a slice at a time only when the whole column proves it (`in_order`, one case),
    so only when no two ids are matched alike; and ids in order in upper case always are."""
    ids, cuts = sliced
    column = pl.Series("id", ids, dtype=pl.String)
    proof = whole_column.IdsInOrder()
    bounds = sorted({0, len(ids), *cuts})
    for start, end in itertools.pairwise(bounds):
        proof.add(column.slice(start, end - start))
    frame = column.to_frame()
    whole = frame.select(whole_column.in_order(pl.col("id"))).item()
    case = whole_column.id_case(column.drop_nulls())
    if proof.proven:
        assert whole and case is not None
        matched = normalise_id(column).to_list()
        assert len(set(matched)) == len(matched)
    if whole and case == "upper":
        assert proof.proven


@pytest.mark.parametrize(
    ("slices", "proven"),
    [
        ([["P-1", "P-2"], ["P-3", "P-10"]], True),
        ([["P-1", "P-9"], ["P-10"]], True),  # longer after shorter, across slices
        ([["P-1", "P-3"], ["P-2"]], False),  # each slice in order, not the two
        ([["P-1", "P-2"], ["P-2", "P-3"]], False),  # a repeat across the cut
        ([["p-1"], ["p-2"]], True),  # all lower case from the first slice
        ([["P-1"], ["p-2"]], False),  # mixed case across slices
        ([["1-2"], ["p-3"]], False),  # lower case after a slice not asked about: not taken
        ([["P-1"], [], ["P-2"]], True),  # an empty slice changes nothing
        ([["P-1"], [None]], False),
    ],
)
def test_which_slices_prove_the_ids_distinct(slices: list[list[str | None]], proven: bool) -> None:
    proof = whole_column.IdsInOrder()
    for ids in slices:
        proof.add(pl.Series(ids, dtype=pl.String))
    assert proof.proven is proven


def _repeat_searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables whose ids the first pass hashed and searched for repeats."""
    searched: list[str] = []
    real = first_pass._repeated_ids

    def counting(raw: RawTable, folder: Path) -> pl.DataFrame:
        searched.append(raw.table.name)
        return real(raw, folder)

    monkeypatch.setattr(first_pass, "_repeated_ids", counting)
    return searched


@pytest.mark.parametrize(
    ("payment_ids", "searched", "repeats"),
    [
        ([f"P-{n}" for n in range(1, 8)], [], []),  # in order, in slices of 2: proven
        (["P-1", "P-2", "P-3", "P-2", "P-5", "P-6", "P-7"], ["payments"], [5]),
        (["P-1", "P-2", "P-3", "P-4", "P-5", "p-6", "P-6"], ["payments"], [8]),  # as matched
        (["P-3", "P-2", "P-1", "P-4", "P-5", "P-6", "P-7"], ["payments"], []),  # another order
        (["P-1", "P-2", "P-2", "P-4", "P-5", "P-6", "P-7"], ["payments"], [4]),  # on the cut
        (["P-1", "P-3", "P-2", "P-4", "P-5", "P-6", "P-7"], ["payments"], []),  # on the cut
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_buckets_skip_the_repeat_search_only_when_the_ids_are_in_order(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    payment_ids: list[str],
    searched: list[str],
    repeats: list[int],
    fmt: str,
) -> None:
    """Read in slices of two rows, ids in order skip the first pass's hashing and repeat
    search; a repeat or another order anywhere is searched, and buckets set aside what one
    pass sets aside: from a CSV file and from a Parquet file (streamed in batches)."""
    monkeypatch.setattr(first_pass, "CHUNK_ROWS", 2)
    found = _repeat_searches(monkeypatch)
    folder = _folder(tmp_path, payment_ids)
    if fmt == "parquet":
        pl.read_csv(folder / "payments.csv", infer_schema=False).with_columns(
            pl.col("paid_on").str.to_date(), pl.col("amount").str.to_decimal(scale=2)
        ).write_parquet(folder / "payments.parquet", row_group_size=3)
        (folder / "payments.csv").unlink()
    one = single_pass(folder, {}, AS_OF, LedgerSettings())
    with buckets.run(
        folder, {}, AS_OF, LedgerSettings(), Scale("3"), beside=tmp_path / "o.csv"
    ) as split:
        assert split.rejects.equals(one.rejects)
        assert split.output.equals(one.output)
    assert [t for t in found if t == "payments"] == searched
    duplicates = one.rejects.filter(pl.col("reason").str.starts_with("duplicate payment_id"))
    rows = repeats if fmt == "csv" else [line - 1 for line in repeats]  # no header row
    assert duplicates.get_column("line").to_list() == rows
