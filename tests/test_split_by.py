"""--split-by COLUMN (SPEC 9, issue 22 item 4): one output set per club, beside -o, with file
names made safe and distinct, people without a value in a file of their own, all or none; and
`followup generate` writes home_club, phone and email so it can be tried at scale."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from followup_cli import Inputs, JobRequest, Lists, Outputs, Records, Scale, run_job
from followup_cli.job import deliver
from followup_cli.outputs.destinations import split_paths
from followup_cli.synthetic.generate import generate

AS_OF = dt.date(2024, 7, 31)
PEOPLE = 600
# Values that differ only in case, or in a character no file name may hold, and empty ones.
CLUBS = ["Downtown", "downtown", "Down/town", "", "Riverside", "  "]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated club whose home_club column holds the awkward values in turn."""
    folder = tmp_path_factory.mktemp("split") / "exports"
    generate(PEOPLE, folder, seed=5, fmt="csv")
    customers = pl.read_csv(folder / "customers.csv", infer_schema=False)
    clubs = pl.Series("home_club", [CLUBS[i % len(CLUBS)] for i in range(customers.height)])
    customers.with_columns(clubs).write_csv(folder / "customers.csv")
    return folder


def _run(exports: Path, output: Path | str | None, **lists: object) -> object:
    report = Path(str(output) + ".report.json") if isinstance(output, Path) else None
    return run_job(
        JobRequest(
            inputs=Inputs(data=exports),
            as_of=AS_OF,
            outputs=Outputs(output=output),
            lists=Lists(**lists),  # type: ignore[arg-type]
            records=Records(report=report),
        )
    )


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.endswith(".report.json")}


def _clubs_by_id(exports: Path) -> pl.DataFrame:
    customers = pl.read_csv(exports / "customers.csv", infer_schema=False)
    return customers.select("customer_id", pl.col("home_club").str.strip_chars())


def test_one_csv_per_club_with_safe_distinct_names(exports: Path, tmp_path: Path) -> None:
    """Downtown, downtown, Down/town and the empty value each get a file of their own; the files
    hold exactly the unsplit output's rows, each club's in the same order."""
    (tmp_path / "whole").mkdir()
    whole = _run(exports, tmp_path / "whole" / "lists.csv")
    assert whole.exit_code == 0, whole.error  # type: ignore[attr-defined]
    folder = tmp_path / "split"
    folder.mkdir()
    outcome = _run(exports, folder / "lists.csv", split_by="home_club")
    assert outcome.exit_code == 0, outcome.error  # type: ignore[attr-defined]
    downtown_lower = split_paths(folder / "lists.csv", "home_club", ["Downtown", "downtown"])
    expected = {
        "lists-Downtown.csv": "Downtown",
        downtown_lower["downtown"].name: "downtown",
        "lists-Down_town.csv": "Down/town",
        "lists-Riverside.csv": "Riverside",
        "lists-no-home_club.csv": None,
    }
    assert _names(folder) == set(expected)
    assert downtown_lower["downtown"].name.startswith("lists-downtown-")
    unsplit = pl.read_csv(tmp_path / "whole" / "lists.csv", infer_schema=False)
    unsplit = unsplit.join(
        _clubs_by_id(exports), on="customer_id", how="left", maintain_order="left"
    )
    for name, club in expected.items():
        wanted = unsplit.filter(
            pl.col("home_club").is_null() | (pl.col("home_club") == "")
            if club is None
            else pl.col("home_club") == club
        ).drop("home_club")
        got = pl.read_csv(folder / name, infer_schema=False)
        assert got.height > 0
        assert_frame_equal(got, wanted)


def test_report_lists_every_file_and_the_summary_counts_them(exports: Path, tmp_path: Path) -> None:
    """The run report lists each club's file with its value (null: no value); the summary
    says how many files were written."""
    outcome = _run(exports, tmp_path / "lists.csv", split_by="home_club")
    assert outcome.exit_code == 0  # type: ignore[attr-defined]
    report = json.loads((tmp_path / "lists.csv.report.json").read_text())
    listed = [o for o in report["outputs"] if o["kind"] == "output"]
    assert {Path(o["path"]).name for o in listed} == _names(tmp_path)
    values = [o["split_by"]["value"] for o in listed]
    assert values[-1] is None and sorted(values[:-1]) == [
        "Down/town",
        "Downtown",
        "Riverside",
        "downtown",
    ]
    assert all(o["split_by"]["column"] == "home_club" and o["sha256"] for o in listed)
    assert sum(o["rows"] for o in listed) == report["people"]["total"]
    assert outcome.summary.destination.startswith("5 files by home_club")  # type: ignore[attr-defined]


def test_one_workbook_per_club_counts_the_clubs_people(exports: Path, tmp_path: Path) -> None:
    """Each club's workbook lists only its people, and its Summary counts only them."""
    outcome = _run(exports, tmp_path / "lists.xlsx", split_by="home_club")
    assert outcome.exit_code == 0, outcome.error  # type: ignore[attr-defined]
    clubs = _clubs_by_id(exports)
    riverside = set(clubs.filter(pl.col("home_club") == "Riverside")["customer_id"])
    book = openpyxl.load_workbook(tmp_path / "lists-Riverside.xlsx")
    listed: set[str] = set()
    for sheet in book.worksheets[1:]:  # every list sheet starts with the person's id
        listed |= {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert listed and listed <= riverside
    report = json.loads((tmp_path / "lists.xlsx.report.json").read_text())
    rows = {Path(o["path"]).name: o["rows"] for o in report["outputs"]}
    assert rows["lists-Riverside.xlsx"] == len(riverside & set(_whole_ids(exports)))
    # The Summary's people: the figure under the header cell that reads "People" beside
    # "As of" (the run's figures), which is the club's, not the whole run's.
    summary = list(book["Summary"].iter_rows(values_only=True))
    at = summary[0].index("As of") + 1
    assert summary[0][at] == "People"
    assert summary[1][at] == rows["lists-Riverside.xlsx"] < report["people"]["total"]


def _whole_ids(exports: Path) -> list[str]:
    customers = pl.read_csv(exports / "customers.csv", infer_schema=False)
    kept = customers.filter(pl.col("created_on") <= str(AS_OF))
    return kept["customer_id"].to_list()


def test_all_or_none_when_one_target_cannot_be_written(exports: Path, tmp_path: Path) -> None:
    """A folder where one club's file would go: exit 2, and no file of the set is written or
    changed (yesterday's stay as they were)."""
    (tmp_path / "lists-Riverside.csv").mkdir()
    (tmp_path / "lists-Downtown.csv").write_text("yesterday\n")
    outcome = _run(exports, tmp_path / "lists.csv", split_by="home_club")
    assert outcome.exit_code == 2  # type: ignore[attr-defined]
    assert "lists-Riverside.csv" in outcome.error  # type: ignore[attr-defined]
    assert _names(tmp_path) == {"lists-Riverside.csv", "lists-Downtown.csv"}
    assert (tmp_path / "lists-Downtown.csv").read_text() == "yesterday\n"


def test_a_failure_while_writing_leaves_no_file(
    exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One club's file failing half way (a full disk): exit 3, and none of the set lands."""
    real = deliver.frame_writer

    def failing(rows, fmt, **options):  # type: ignore[no-untyped-def]
        fill = real(rows, fmt, **options)
        failing.calls += 1  # type: ignore[attr-defined]
        if failing.calls != 3:  # type: ignore[attr-defined]
            return fill

        def broken(sink):  # type: ignore[no-untyped-def]
            fill(sink)  # the third club's file, written in full, then the disk is full
            raise OSError(28, "No space left on device")

        return broken

    failing.calls = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(deliver, "frame_writer", failing)
    outcome = _run(exports, tmp_path / "lists.csv", split_by="home_club")
    assert outcome.exit_code == 3, outcome.error  # type: ignore[attr-defined]
    assert "No space left" in outcome.error  # type: ignore[attr-defined]
    assert _names(tmp_path) == set()


def test_a_club_file_is_never_an_input(exports: Path, tmp_path: Path) -> None:
    """A club's file that would be one of the exports is refused before anything is written."""
    folder = tmp_path / "clash"
    folder.mkdir()
    inputs = Inputs(data=exports, customers=folder / "lists-Riverside.csv")
    (folder / "lists-Riverside.csv").write_bytes((exports / "customers.csv").read_bytes())
    request = JobRequest(
        inputs=inputs,
        as_of=AS_OF,
        outputs=Outputs(output=folder / "lists.csv"),
        lists=Lists(split_by="home_club"),
    )
    refused = run_job(request)
    assert refused.exit_code == 2
    assert "one of the input files" in (refused.error or "")
    assert _names(folder) == {"lists-Riverside.csv"}


def test_status_leaves_a_club_without_people_a_header_only_file(
    exports: Path, tmp_path: Path
) -> None:
    """Every club gets its file even when --status keeps none of its people, so last night's
    list of that club is never left standing as tonight's."""
    outcome = _run(exports, tmp_path / "lists.csv", split_by="home_club", status=("Lead",))
    assert outcome.exit_code == 0, outcome.error  # type: ignore[attr-defined]
    assert len(_names(tmp_path)) == 5
    for path in tmp_path.glob("lists-*.csv"):
        frame = pl.read_csv(path, infer_schema=False)
        assert set(frame["follow_up_status"]) <= {"Lead"}


def test_buckets_give_the_same_files(exports: Path, tmp_path: Path) -> None:
    """--buckets 3 writes the same files, byte for byte, as one pass."""
    one, three = tmp_path / "one", tmp_path / "three"
    one.mkdir()
    three.mkdir()
    assert _run(exports, one / "lists.csv", split_by="home_club").exit_code == 0  # type: ignore[attr-defined]
    bucketed = run_job(
        JobRequest(
            inputs=Inputs(data=exports),
            as_of=AS_OF,
            outputs=Outputs(output=three / "lists.csv"),
            lists=Lists(split_by="home_club"),
            scale=Scale(buckets="3"),
        )
    )
    assert bucketed.exit_code == 0, bucketed.error
    assert _names(one) == _names(three) and len(_names(one)) == 5
    for name in _names(one):
        assert (one / name).read_bytes() == (three / name).read_bytes(), name


def test_split_by_needs_a_file_and_a_column(exports: Path, tmp_path: Path, invoke) -> None:
    """Without -o (or to a device) and with a column the customers file lacks: exit 2, saying
    what to do, and nothing written."""
    base = ["reconcile", "--data", str(exports), "--as-of", "2024-07-31"]
    result = invoke(*base, "--split-by", "home_club")
    assert result.exit_code == 2
    assert "give -o a file name" in result.output
    result = invoke(*base, "-o", "/dev/stdout", "--split-by", "home_club")
    assert result.exit_code == 2
    result = invoke(*base, "-o", str(tmp_path / "lists.csv"), "--split-by", "club")
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "--split-by club: customers.csv has no such column" in message
    assert "home_club" in message
    assert list(tmp_path.iterdir()) == []


def test_a_value_per_person_is_refused_before_any_file(tmp_path: Path, invoke) -> None:
    """--split-by on a column with a value per person (over 1,000 here) would write a file per
    person: it took 75 s and 1.8 GB at 50,000. Exit 2 naming the count, and nothing written;
    a thousand values are still split."""
    folder = tmp_path / "exports"
    generate(1_300, folder, seed=5, fmt="csv")
    customers = folder / "customers.csv"
    frame = pl.read_csv(customers, infer_schema=False)
    frame.with_columns(pl.col("customer_id").alias("member_no")).write_csv(customers)
    out = tmp_path / "out"
    out.mkdir()
    base = ["reconcile", "--data", str(folder), "--as-of", "2024-07-31", "-o", str(out / "l.csv")]
    result = invoke(*base, "--split-by", "member_no")
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    counted = r"--split-by member_no: ([0-9,]+) different values would make \1 files"
    found = re.search(counted, message)
    assert found is not None, message
    assert int(found.group(1).replace(",", "")) > 1_000
    assert (
        "files, more than 1,000; split by a column that names a club, not a person (such as "
        "home_club)"
    ) in message
    assert list(out.iterdir()) == []
    # A thousand values, the rest none: 1,000 clubs' files and the file of those without.
    some = pl.col("customer_id").head(1_000).extend_constant(None, frame.height - 1_000)
    frame.with_columns(some.alias("member_no")).write_csv(customers)
    result = invoke(*base, "--split-by", "member_no")
    assert result.exit_code in (0, 1), result.output
    written = [p.name for p in out.iterdir() if p.name.startswith("l-")]
    assert 900 < len(written) <= 1_001  # people the run leaves out have no file
    assert "l-no-member_no.csv" in written


def test_split_paths_are_safe_distinct_and_stable() -> None:
    """Only A-Z a-z 0-9 . _ - in a value's part, names distinct even ignoring case, and the
    same values give the same names in any order."""
    values: list[str | None] = [
        "Downtown", "downtown", "DOWNTOWN", "Down/town", "Down town", "", "rejects",
        "../etc", "x" * 300, "Café", None, "no-home_club",
    ]  # fmt: skip
    paths = split_paths(Path("out/lists.xlsx"), "home_club", values)
    names = [p.name for p in paths.values()]
    assert len({n.lower() for n in names}) == len(values)
    assert all(p.parent == Path("out") and p.suffix == ".xlsx" for p in paths.values())
    assert all(
        set(n) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
        for n in names
    )
    assert all(len(n) < 100 for n in names)
    assert paths[None].name == "lists-no-home_club.xlsx"
    assert paths["rejects"].name != "lists-rejects.xlsx"
    assert paths == split_paths(Path("out/lists.xlsx"), "home_club", list(reversed(values)))


def test_generate_writes_clubs_phones_and_emails(tmp_path: Path) -> None:
    """generate's customers carry home_club (a few clubs, some empty), phone and email (some
    missing), the same for the same seed; the reconciled output does not change with them."""
    generate(2000, tmp_path / "a", seed=9, fmt="csv")
    generate(2000, tmp_path / "b", seed=9, fmt="csv")
    a = (tmp_path / "a" / "customers.csv").read_bytes()
    assert a == (tmp_path / "b" / "customers.csv").read_bytes()
    customers = pl.read_csv(tmp_path / "a" / "customers.csv", infer_schema=False)
    assert customers.columns[-3:] == ["home_club", "phone", "email"]
    clubs = customers["home_club"].value_counts()
    assert set(clubs["home_club"].to_list()) == {"Downtown", "Riverside", "Uptown", None}
    for column in ("home_club", "phone", "email"):
        assert 0 < customers[column].null_count() < customers.height // 4
    assert customers["phone"].drop_nulls().str.contains(r"^555-01\d\d$").all()
    assert customers["email"].drop_nulls().str.contains(r"^[a-z]+\.[a-z]+@example\.com$").all()
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("agreements", "payments", "events"):
        (plain / f"{name}.csv").write_bytes((tmp_path / "a" / f"{name}.csv").read_bytes())
    customers.drop("home_club", "phone", "email").write_csv(plain / "customers.csv")
    outputs = {}
    for folder in (tmp_path / "a", plain):
        out = tmp_path / f"{folder.name}.csv"
        outcome = run_job(
            JobRequest(inputs=Inputs(data=folder), as_of=AS_OF, outputs=Outputs(output=out))
        )
        assert outcome.exit_code == 0
        outputs[folder.name] = out.read_bytes()
    assert outputs["a"] == outputs["plain"]
