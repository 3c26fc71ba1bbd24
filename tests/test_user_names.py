"""Names a person chooses beside the names followup uses inside (a fresh-eyes hunt, round five).

A customers file's extra column, a `--carry` or `--sort` name, a header a club system wrote
and a list named in a rules file are all the person's; the frames the run builds have names
of their own (`_split_value`, `_line`, `x_duplicated_0`, the Trends sheet's `Owed (...)`).
Where the two met, people were lost from `--split-by` files (exit 0), a header was read as a
contract column it is not (exit 0), or the run stopped with an internal error. Each test
below failed before its fix.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from followup_cli.core.list_names import OWED_COLUMNS
from followup_cli.nightly.trends import OWING, owed_column
from tests.conftest import SAMPLE

Invoke = Callable[..., Any]
DAY = "2024-07-31"


def _exports(folder: Path, columns: dict[str, Callable[[int, list[str]], str]]) -> Path:
    """The sample exports with `columns` added to the customers file: name -> the value of
    row `i` (from 0) given that row's fields."""
    shutil.copytree(SAMPLE, folder)
    path = folder / "customers.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[0] += list(columns)
    for i, row in enumerate(rows[1:]):
        row += [value(i, list(row)) for value in columns.values()]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    path.write_text(text.getvalue(), encoding="utf-8")
    return folder


def _run(invoke: Invoke, data: Path, *options: str) -> Any:
    result = invoke("reconcile", "--data", str(data), "--as-of", DAY, "-q", *options)
    for said in ("internal error", "Traceback", "PanicException"):
        assert said not in result.output, result.output
    return result


def _by_person(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["customer_id"]: row for row in csv.DictReader(handle)}


@pytest.mark.parametrize("buckets", [(), ("--buckets", "3")], ids=["one-pass", "buckets"])
def test_a_carried_column_named_as_the_splits_own_keeps_every_club(
    invoke: Invoke, tmp_path: Path, buckets: tuple[str, ...]
) -> None:
    """`--split-by home_club --carry _split_value`: every club's file was a header alone (its
    people lost, exit 0), the carried column renamed `_split_value_right`. Each club's file
    now holds its people with their own carried values, and the files hold everyone once."""
    data = _exports(
        tmp_path / "data",
        {
            "home_club": lambda i, _: "Downtown" if i % 2 else "Riverside",
            "_split_value": lambda i, row: f"x-{row[0]}",
        },
    )
    out = tmp_path / "out"
    out.mkdir()
    result = _run(
        invoke, data, "-o", str(out / "l.csv"), "--split-by", "home_club",
        "--carry", "_split_value", *buckets,
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    whole = tmp_path / "whole.csv"
    assert _run(invoke, data, "-o", str(whole), "--carry", "home_club").exit_code in (0, 1)
    everyone = _by_person(whole)
    seen: list[str] = []
    for club in ("Downtown", "Riverside"):
        rows = _by_person(out / f"l-{club}.csv")
        assert rows, f"{club}: no one"
        for person, row in rows.items():
            assert list(row)[-1] == "_split_value"
            assert row["_split_value"] == f"x-{person}"
            assert everyone[person]["home_club"] == club
        seen += rows
    assert sorted(seen) == sorted(everyone)


def test_two_carried_columns_headed_alike_once_guarded_are_refused_before_any_work(
    invoke: Invoke, tmp_path: Path
) -> None:
    """`--carry "=x,'=x"` to a CSV: `=x` is guarded as `'=x` (a spreadsheet would run it), the
    other's own name. The write failed after the work with a Polars plan dump (exit 3); it is
    now exit 2 before any work, and `--raw-text` (no guard) writes both."""
    data = _exports(tmp_path / "data", {"=x": lambda i, _: f"a{i}", "'=x": lambda i, _: f"b{i}"})
    out = tmp_path / "out.csv"
    refused = _run(invoke, data, "-o", str(out), "--carry", "=x,'=x")
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.split())
    assert "--carry =x and '=x: a CSV would head both \"'=x\"" in said
    assert "or use --raw-text" in said and not out.exists()
    raw = _run(invoke, data, "-o", str(out), "--carry", "=x,'=x", "--raw-text")
    assert raw.exit_code in (0, 1), raw.output
    assert out.read_text(encoding="utf-8").splitlines()[0].endswith(",=x,'=x")
    workbook = _run(invoke, data, "-o", str(tmp_path / "out.xlsx"), "--carry", "=x,'=x")
    assert workbook.exit_code in (0, 1), workbook.output


def test_a_parquet_export_with_its_own_line_columns_reads_as_the_csv_does(
    invoke: Invoke, tmp_path: Path
) -> None:
    """A Parquet export with columns `_line` and `_line (from the file)`: its `_line` was
    renamed onto the other (internal error, exit 3). Both are now ignored columns, as in the
    same file as CSV, and the output is the sample's."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    frame = pl.read_csv(data / "customers.csv", infer_schema=False).with_columns(
        pl.col("created_on").str.to_date(),
        pl.lit("a").alias("_line"),
        pl.lit("b").alias("_line (from the file)"),
    )
    frame.write_parquet(data / "customers.parquet")
    (data / "customers.csv").unlink()
    out, plain = tmp_path / "out.csv", tmp_path / "plain.csv"
    result = _run(invoke, data, "-o", str(out))
    assert result.exit_code in (0, 1), result.output
    assert _run(invoke, SAMPLE, "-o", str(plain)).exit_code == result.exit_code
    assert out.read_bytes() == plain.read_bytes()
    explained = invoke("explain", "C-5", "--data", str(data), "--as-of", DAY)
    assert explained.exit_code == 0, explained.output


def test_a_header_named_as_a_repeat_of_a_column_it_lacks_is_not_that_column(
    invoke: Invoke, tmp_path: Path
) -> None:
    """`customer_id_duplicated_0` and `created_on_duplicated_3` in a header without
    `customer_id` or `created_on`: read as the customer ids and creation dates (exit 0). They
    are the reader's names for a repeated header name only when the name itself is there, so
    the file lacks its required columns (exit 3); a header that does repeat `customer_id` is
    still refused as naming it twice."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    path = data / "customers.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].replace("customer_id", "customer_id_duplicated_0")
    path.write_text(header.replace("created_on", "created_on_duplicated_3") + "".join(lines[1:]))
    result = _run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 3, result.output
    assert "required column customer_id, created_on is missing" in " ".join(result.output.split())
    path.write_text(lines[0].rstrip("\n") + ",customer_id\n" + "".join(
        line.rstrip("\n") + ",C-x\n" for line in lines[1:]
    ))  # fmt: skip
    twice = _run(invoke, data, "-o", str(tmp_path / "out.csv"))
    assert twice.exit_code == 3
    said = " ".join(twice.output.split())  # the file's names and places, not the reader's
    assert (
        "names column 'customer_id' twice ('customer_id' and 'customer_id', columns 1 and 7)"
        in said
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_header_of_its_own_named_as_a_repeat_is_an_ignored_column(
    invoke: Invoke, tmp_path: Path, fmt: str
) -> None:
    """`customer_id, ..., created_on_duplicated_0` (a column of its own, not a second
    created_on) was refused as naming created_on twice (exit 3), and in Parquet, which cannot
    repeat a name at all, so was `customer_id_duplicated_0`. Only the reader's names for a
    name the header repeats are repeats; these are ignored, and the output is the sample's."""
    data = _exports(
        tmp_path / "data",
        {"created_on_duplicated_0": lambda i, _: "x", "customer_id_duplicated_0": lambda i, _: "y"},
    )
    if fmt == "parquet":
        customers = pl.read_csv(data / "customers.csv", infer_schema=False)
        customers = customers.with_columns(pl.col("created_on").str.to_date())
        customers.write_parquet(data / "customers.parquet")
        (data / "customers.csv").unlink()
    out, plain = tmp_path / "out.csv", tmp_path / "plain.csv"
    result = _run(invoke, data, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert _run(invoke, SAMPLE, "-o", str(plain)).exit_code == 0
    assert out.read_bytes() == plain.read_bytes()


def test_sort_names_a_carried_column_as_carry_does(invoke: Invoke, tmp_path: Path) -> None:
    """`--sort` matched names by lower case alone and split at the first colon, so a carried
    `Home Club` (output column home_club) or `club:zone` could not be sorted by (exit 2,
    listing the very column). Both now sort, with or without a direction after the last
    colon; a wrong direction is still refused."""
    data = _exports(
        tmp_path / "data",
        {
            "Home Club": lambda i, _: f"club {i % 7}",
            "club:zone": lambda i, _: f"z{(i * 5) % 11:02d}",
        },
    )
    for sort, column, descending in (
        ("Home Club", "home_club", False),
        ("home club:desc", "home_club", True),
        ("club:zone", "club:zone", False),
        ("club:zone:desc", "club:zone", True),
    ):
        out = tmp_path / "out.csv"
        result = _run(
            invoke, data, "-o", str(out), "--carry", "Home Club,club:zone", "--sort", sort
        )
        assert result.exit_code in (0, 1), (sort, result.output)
        values = [row[column] for row in _by_person(out).values()]
        assert values == sorted(values, reverse=descending), sort
        assert len(set(values)) > 1
    for sort in ("club:zone:up", "balance::desc"):
        wrong = _run(
            invoke, data, "-o", str(tmp_path / "w.csv"), "--carry", "club:zone", "--sort", sort
        )
        assert wrong.exit_code == 2
        assert "the direction after ':' is asc or desc" in wrong.output


def test_carry_takes_the_column_named_exactly_and_refuses_an_ambiguous_name(
    invoke: Invoke, tmp_path: Path
) -> None:
    """Headers `phone` and `Phone`: `--carry Phone` carried `phone` (the first), and `Phone`
    could never be carried. The exact name wins now; a name matching both only after case
    folding (`PHONE`), or carrying both under one output name, is refused (exit 2)."""
    data = _exports(tmp_path / "data", {"Phone": lambda i, _: f"mobile-{i}"})
    out = tmp_path / "out.csv"
    sample = _by_person(SAMPLE / "customers.csv")
    for name, expected in (
        ("Phone", lambda i, p: f"mobile-{i}"),
        ("phone", lambda i, p: sample[p]["phone"]),
    ):
        result = _run(invoke, data, "-o", str(out), "--carry", name)
        assert result.exit_code in (0, 1), result.output
        order = list(sample)
        for person, row in _by_person(out).items():
            assert row["phone"] == expected(order.index(person), person), (name, person)
    spaced = _exports(tmp_path / "spaced", {"phone ": lambda i, _: f"spaced-{i}"})
    for name in ("phone ", "phone , email"):  # as written; a list's spaces are trimmed
        result = _run(invoke, spaced, "-o", str(out), "--carry", name)
        assert result.exit_code in (0, 1), result.output
        assert {row["phone"][:7] for row in _by_person(out).values()} == {"spaced-"}
    ambiguous = _run(invoke, data, "-o", str(out), "--carry", "PHONE")
    assert ambiguous.exit_code == 2
    assert "has 2 columns read as phone ('phone', 'Phone')" in " ".join(ambiguous.output.split())
    both = _run(invoke, data, "-o", str(out), "--carry", "phone,Phone")
    assert both.exit_code == 2
    assert "'phone' is carried as phone already" in both.output


def test_a_list_named_like_a_money_column_is_drawn_as_people(
    invoke: Invoke, tmp_path: Path
) -> None:
    """A list named `Owed (Late)` (a rules file may name it so) was drawn on the Trends
    sheet's money chart, by its prefix, and left off the people chart. The money columns are
    now known by their exact names, the ones no list may take. And the sheet heads each list
    by its name: `customer_id` was headed "Customer", `at_risk` "At risk", beside sheets
    named `customer_id` and `at_risk`."""
    assert tuple(owed_column(status) for status in OWING) == OWED_COLUMNS

    made = invoke("rules", "init").stdout
    rules = tmp_path / "rules.toml"
    renamed = {"Active Customer": "Owed (Late)", "Drop-In": "at_risk", "Lead": "customer_id"}
    for old, new in renamed.items():
        made = made.replace(f'status = "{old}"\n', f'status = "{new}"\n')
    rules.write_text(made)
    history = tmp_path / "runs"
    for night in ("2024-07-30", DAY):
        out = str(tmp_path / f"{night}.csv")
        ran = invoke("reconcile", "--data", str(SAMPLE), "--as-of", night, "--rules", str(rules),
                     "--history", str(history), "-o", out, "-q")  # fmt: skip
        assert ran.exit_code in (0, 1), ran.output
    book = tmp_path / "trends.xlsx"
    assert invoke("trends", "--history", str(history), "-o", str(book)).exit_code == 0
    sheet = openpyxl.load_workbook(book)["Trends"]
    header = [cell.value for cell in sheet[1]]
    with zipfile.ZipFile(book) as opened:
        charts = [opened.read(f"xl/charts/chart{n}.xml").decode() for n in (1, 2)]
    series = r"<c:tx><c:strRef><c:f>Trends!\$([A-Z]+)\$1</c:f>"
    charted = [[header[_column(ref)] for ref in re.findall(series, xml)] for xml in charts]
    people, money = charted
    assert set(renamed.values()) <= set(people)
    assert money == list(OWED_COLUMNS)


def _column(letters: str) -> int:
    """A spreadsheet column's letters as a place from 0 (`A` 0, `AA` 26)."""
    place = 0
    for letter in letters:
        place = place * 26 + ord(letter) - ord("A") + 1
    return place - 1


@pytest.mark.parametrize("word", ["(new)", "(Gone)", "(none)"])
def test_a_list_named_as_a_changes_word_is_refused(
    invoke: Invoke, tmp_path: Path, word: str
) -> None:
    """A list named `(gone)` read in the changes as a person who left ("Delinquent Customer ->
    (gone)"); the rules file is refused (exit 2), naming the words."""
    made = invoke("rules", "init").stdout
    rules = tmp_path / "rules.toml"
    rules.write_text(made.replace('status = "Drop-In"\n', f'status = "{word}"\n'))
    result = invoke("rules", "check", str(rules))
    assert result.exit_code == 2
    assert f"'{word}' is taken (any case): the changes say (new), (gone), (none)" in " ".join(
        result.output.split()
    )


def test_a_column_named_with_a_comma_can_be_carried(invoke: Invoke, tmp_path: Path) -> None:
    """`--carry` lists names with commas, so a header `Phone, mobile` could never be carried
    (exit 2, "no such column Phone"). A `--carry` value the header has as written is that
    column; any other is still a list."""
    data = _exports(tmp_path / "data", {"Phone, mobile": lambda i, _: f"m-{i}"})
    out = tmp_path / "out.csv"
    result = _run(
        invoke, data, "-o", str(out), "--carry", "Phone, mobile", "--carry", "phone,email"
    )
    assert result.exit_code in (0, 1), result.output
    rows = list(_by_person(out).values())
    assert list(rows[0])[-3:] == ["phone,_mobile", "phone", "email"]
    assert all(row["phone,_mobile"].startswith("m-") and "@" in row["email"] for row in rows)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_exports_own_line_column_can_be_carried(
    invoke: Invoke, tmp_path: Path, fmt: str
) -> None:
    """A customers file's own `_line` column (not the line numbers the run keeps under that
    name) was refused by `--carry _line`, "no such column", its columns listed without it.
    It is carried as `_line` with the file's values, split by too, in CSV and Parquet."""
    data = _exports(tmp_path / "data", {"_line": lambda i, row: f"own-{row[0]}"})
    if fmt == "parquet":
        customers = pl.read_csv(data / "customers.csv", infer_schema=False)
        customers = customers.with_columns(pl.col("created_on").str.to_date())
        customers.write_parquet(data / "customers.parquet")
        (data / "customers.csv").unlink()
    out = tmp_path / "out.csv"
    result = _run(invoke, data, "-o", str(out), "--carry", "_line", "--buckets", "2")
    assert result.exit_code in (0, 1), result.output
    rows = _by_person(out)
    assert rows and all(row["_line"] == f"own-{person}" for person, row in rows.items())
    split = tmp_path / "split"
    split.mkdir()
    result = _run(invoke, data, "-o", str(split / "l.csv"), "--split-by", "_line")
    assert result.exit_code in (0, 1), result.output
    assert len(list(split.glob("l-own-*.csv"))) == len(rows)
