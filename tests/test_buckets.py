"""Customer buckets and the Ray engine (SPEC 10): the same bytes as one pass, whatever the split."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from followup_cli.core.errors import FollowupError, UsageError
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.tables import id_hashes
from followup_cli.outputs import signals
from followup_cli.reading.locate import locate_tables
from followup_cli.scaleout import buckets, first_pass, one_bucket, work_folder
from followup_cli.scaleout.plan import BucketResult, Plan
from followup_cli.synthetic.generate import generate

from .conftest import AS_OF, SAMPLE

PEOPLE = 3000
SPLITS = (4, 7)  # every planted pair of customers lies in two different buckets for these


def bucket_of(customer_id: str, n: int) -> int:
    """The bucket `buckets` puts a customer in (its id trimmed and case-folded, hashed)."""
    return first_pass.bucket_of(customer_id, n)


def apart(first: str, candidates: list[str]) -> str:
    """A customer in another bucket than `first` under every split the tests use."""
    return next(
        c for c in candidates if all(bucket_of(c, n) != bucket_of(first, n) for n in SPLITS)
    )


def plant_csv(folder: Path) -> None:
    """Add to generated CSV exports what crosses buckets and what is broken: the same
    agreement, payment and event id under two customers in different buckets (the repeat
    both after and before its first holder), two payments without an id in different buckets,
    a customer repeated in another case, references to unknown and to set-aside customers,
    rows that cannot be split, a stray quote and bad values."""
    ids = [f"C-{i}" for i in range(2, PEOPLE)]
    first_agreement = pl.read_csv(folder / "agreements.csv", infer_schema=False).row(0)
    first_payment = pl.read_csv(folder / "payments.csv", infer_schema=False).row(0)
    last_payment = pl.read_csv(folder / "payments.csv", infer_schema=False).row(-1)
    first_event = pl.read_csv(folder / "events.csv", infer_schema=False).row(0)
    other_a = apart(first_agreement[1], ids)
    other_p = apart(first_payment[1], ids)
    other_last = apart(last_payment[1], ids)
    other_e = apart(first_event[1], ids)
    empty_a, empty_b = "C-5", apart("C-5", ids)
    extra = {
        "customers": [
            " c-10 ,Same Person Again,web,2020-01-01",
            "C-X1,Bad Date,web,2020-13-45",
            'C-X2,"Broken, row",web,2020-01-01,one field too many',
            "C-X3,Not Yet,referral,2024-09-01",
        ],
        "agreements": [
            f"{first_agreement[0].lower()},{other_a},2024-01-01,,,active,,29.00,",
            "A-NEW1,C-X1,2024-01-01,,,active,,29.00,",
            "A-NEW2,C-NOPE,2024-01-01,,,active,,29.00,",
            "A-NEW3,,2024-01-01,,,active,,29.00,",
            "A-NEW4,c-x2,2024-01-01,,,active,,29.00,",
            "A-NEW5,C-X3,2024-01-01,,,active,,29.00,",
        ],
        "payments": [
            f" {first_payment[0]} ,{other_p},2024-05-01,10.00,recurring",
            "P-NEW1,C-5,2024-05-01,abc,recurring",
            "P-NEW2,C-6,2024-05-01,10.00",
            "P-NEW3,C-NOPE,2024-05-01,10.00,recurring",
            f",{empty_a},2024-05-01,10.00,recurring",
            f",{empty_b},2024-05-01,10.00,recurring",
            'P-NEW4,C-8,2024-05-01,10.00,"recurring',
            "P-NEW5,C-9,2024-05-01,10.00,one off",
        ],
        "events": [
            f"{first_event[0]},{other_e},2024-07-01 10:00,class,attended",
            "E-NEW1,C-11,not a date,class,attended",
        ],
    }
    for name, rows in extra.items():
        path = folder / f"{name}.csv"
        lines = path.read_text().splitlines()
        # The plants are written for the contract's columns: a customers row gets empty values
        # for the columns the generator adds (home_club, phone, email), so it keeps its fault.
        pad = "," * (len(lines[0].split(",")) - 4) if name == "customers" else ""
        if name == "payments":
            # The repeat before its first holder: line 2 now has the id the last line has.
            lines.insert(1, f"{last_payment[0]},{other_last},2024-02-02,5.00,one-off")
        path.write_text("\n".join([*lines, *(row + pad for row in rows)]) + "\n")


def plant_parquet(folder: Path) -> None:
    """The same for Parquet exports, with native types: ids repeated across buckets, unknown
    customers, a missing customer id and values out of range."""
    ids = [f"C-{i}" for i in range(2, PEOPLE)]
    for name, key in (("agreements", "agreement_id"), ("payments", "payment_id")):
        frame = pl.read_parquet(folder / f"{name}.parquet")
        repeat = frame.head(1).with_columns(
            pl.col(key).str.to_lowercase(),
            pl.lit(apart(frame.item(0, "customer_id"), ids)).alias("customer_id"),
        )
        unknown = frame.slice(1, 1).with_columns(pl.lit("P-NEW", dtype=pl.String).alias(key))
        unknown = unknown.with_columns(pl.lit("C-NOPE").alias("customer_id"))
        nobody = frame.slice(2, 1).with_columns(
            pl.lit("X-NEW", dtype=pl.String).alias(key),
            pl.lit(None, pl.String).alias("customer_id"),
        )
        frame = pl.concat([frame, repeat, unknown, nobody])
        if name == "payments":
            bad = frame.slice(3, 1).with_columns(pl.lit("P-ZERO").alias(key), pl.col("amount") * 0)
            frame = pl.concat([frame, bad])
        frame.write_parquet(folder / f"{name}.parquet")
    events = pl.read_parquet(folder / "events.parquet")
    repeat = events.head(1).with_columns(
        pl.lit(apart(events.item(0, "customer_id"), ids)).alias("customer_id")
    )
    pl.concat([events, repeat]).write_parquet(folder / "events.parquet")
    customers = pl.read_parquet(folder / "customers.parquet")
    again = customers.slice(9, 1).with_columns(pl.col("customer_id").str.to_lowercase())
    pl.concat([customers, again]).write_parquet(folder / "customers.parquet")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated exports of PEOPLE customers, CSV and Parquet, with the plants above."""
    folders = {}
    for fmt, plant in (("csv", plant_csv), ("parquet", plant_parquet)):
        folder = tmp_path_factory.mktemp(f"planted-{fmt}")
        generate(PEOPLE, folder, seed=3, fmt=fmt)
        plant(folder)
        folders[fmt] = folder
    return folders


def reconcile_files(
    invoke: Callable[..., object], data: Path, out: Path, *options: str
) -> tuple[int, bytes, bytes, dict[str, object]]:
    """Run `followup reconcile` into `out`: exit code, output bytes, rejects bytes, report."""
    out.mkdir(parents=True, exist_ok=True)
    result = invoke(
        "reconcile",
        "--data",
        str(data),
        "--as-of",
        "2024-07-31",
        "-o",
        str(out / "followup.csv"),
        "--rejects",
        str(out / "rejects.csv"),
        "--report",
        str(out / "report.json"),
        "-q",
        *options,
    )
    code = result.exit_code  # type: ignore[attr-defined]
    assert code in (0, 1), result.output  # type: ignore[attr-defined]
    rejects = (out / "rejects.csv").read_bytes() if (out / "rejects.csv").exists() else b""
    report = json.loads((out / "report.json").read_text())
    return code, (out / "followup.csv").read_bytes(), rejects, report


def assert_one_pass_bytes(
    invoke: Callable[..., object],
    data: Path,
    out: Path,
    one_pass: tuple[int, bytes, bytes, dict[str, object]],
    *options: str,
) -> None:
    """A run with `options` writes one pass's output and rejects bytes."""
    _code, output, rejects, _report = reconcile_files(invoke, data, out, *options)
    assert (output, rejects) == one_pass[1:3]


def work_folders(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.glob(f"{work_folder.WORK_PREFIX}*")]


COUNT_KEYS = ("path", "rows_read", "rows_used", "rows_rejected", "rows_after_as_of")


def counts_of(report: dict[str, object]) -> list[tuple[object, ...]]:
    """Each input's path and row counts as the run report names them (SPEC 8). A key the
    report does not have is a KeyError, never None: a misspelt key once made every run's
    counts compare equal whatever they were."""
    inputs = report["inputs"]
    assert isinstance(inputs, list) and inputs
    return [tuple(entry[k] for k in COUNT_KEYS) for entry in inputs]


def test_counts_of_reads_the_report_s_counts(invoke: Callable[..., object], tmp_path: Path) -> None:
    """The helper the bucket and Ray tests compare reports with reads real figures: the
    sample's rows, used, rejected and after the as-of date 2024-07-31, counted by hand
    (customer C-19 created, agreement A-14 bought and payment P-13 made in August; the
    upcoming event E-1 is used, not left out)."""
    result = invoke(
        "reconcile",
        "--data",
        str(SAMPLE),
        "--as-of",
        "2024-07-31",
        "-o",
        str(tmp_path / "followup.csv"),
        "--report",
        str(tmp_path / "report.json"),
        "-q",
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    report = json.loads((tmp_path / "report.json").read_text())
    assert counts_of(report) == [
        (str(SAMPLE / "customers.csv"), 19, 18, 0, 1),
        (str(SAMPLE / "agreements.csv"), 14, 13, 0, 1),
        (str(SAMPLE / "payments.csv"), 13, 12, 0, 1),
        (str(SAMPLE / "events.csv"), 12, 12, 0, 0),
    ]
    with pytest.raises(KeyError):
        counts_of({"inputs": [{"path": "x.csv", "rows_read": 1, "used": 1}]})


@pytest.fixture(scope="module")
def single_pass(
    planted: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[int, bytes, bytes, dict[str, object]]]:
    """Each planted folder reconciled in one pass: the bytes every split must give."""
    from typer.testing import CliRunner

    from followup_cli.cli.main import app

    runner = CliRunner()
    found = {}
    for fmt, folder in planted.items():
        out = tmp_path_factory.mktemp(f"single-{fmt}")
        found[fmt] = reconcile_files(lambda *a: runner.invoke(app, list(a)), folder, out)
    return found


def test_planted_rows_cross_buckets(single_pass: dict[str, tuple[int, bytes, bytes, dict]]) -> None:
    """The plants do what the other tests rely on: one pass sets the repeats aside."""
    code, _output, rejects, _report = single_pass["csv"]
    text = rejects.decode()
    assert code == 1
    for key in ("agreement_id", "payment_id", "event_id", "customer_id"):
        assert f"duplicate {key} '" in text, key
    assert "customer 'C-NOPE' is not in the customers file" in text
    assert "was set aside (customers line" in text
    assert "payments.csv,2," not in text  # line 2 is the first holder of its id
    parquet = single_pass["parquet"][2].decode()
    for key in ("agreement_id", "payment_id", "event_id", "customer_id"):
        assert f"duplicate {key} '" in parquet, key


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("n", ["1", "7"])
def test_buckets_give_the_single_pass_bytes(
    invoke: Callable[..., object],
    planted: dict[str, Path],
    single_pass: dict[str, tuple[int, bytes, bytes, dict]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    n: str,
) -> None:
    """--buckets N writes the same output and rejects bytes, exit code and counts as one pass."""
    # A temporary folder of the test's own: other runs on the machine use /tmp too.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    code, output, rejects, report = reconcile_files(invoke, planted[fmt], tmp_path, "--buckets", n)
    one_code, one_output, one_rejects, one_report = single_pass[fmt]
    assert code == one_code
    assert output == one_output
    assert rejects == one_rejects
    assert counts_of(report) == counts_of(one_report)
    assert report["buckets"] == int(n)  # it did run in buckets
    assert not work_folders(tmp_path, private)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_first_pass_in_slices_gives_the_same_bytes(
    invoke: Callable[..., object],
    planted: dict[str, Path],
    single_pass: dict[str, tuple[int, bytes, bytes, dict]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    """Tables split a slice at a time (many files per bucket, a repeat's two rows in two
    slices) and outputs merged a range of lines at a time still give the single pass's
    bytes."""
    monkeypatch.setattr(first_pass, "CHUNK_ROWS", 997)
    monkeypatch.setattr(one_bucket, "OUTPUT_LINES", 101)
    assert_one_pass_bytes(invoke, planted[fmt], tmp_path, single_pass[fmt], "--buckets", "3")


def test_a_bucketed_output_streams_into_its_file(
    invoke: Callable[..., object],
    planted: dict[str, Path],
    single_pass: dict[str, tuple[int, bytes, bytes, dict]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain bucketed run (and one keeping some lists) never holds the whole output: the
    buckets' outputs are merged by line into the file as it is written."""
    from followup_cli.reading.run import RunResult

    def held(_self: RunResult) -> pl.DataFrame:
        raise AssertionError("the whole output was collected")

    monkeypatch.setattr(RunResult, "_whole", property(held))
    _code, output, rejects, _report = reconcile_files(
        invoke, planted["parquet"], tmp_path / "all", "--buckets", "5"
    )
    assert (output, rejects) == single_pass["parquet"][1:3]
    _code, listed, _rejects, report = reconcile_files(
        invoke, planted["parquet"], tmp_path / "some", "--buckets", "5", "--status", "Lead"
    )
    everyone = pl.read_csv(output, infer_schema=False)
    leads = everyone.filter(pl.col("follow_up_status") == "Lead")
    assert 0 < leads.height < everyone.height
    assert listed == leads.write_csv().encode()
    outputs = report["outputs"]
    assert isinstance(outputs, list)
    assert outputs[0]["rows"] == leads.height


@pytest.mark.parametrize(
    ("options", "name"),
    [
        (
            ("--status", "Lead", "--status", "Trial No Show", "--sort", "customer_id:desc"),
            "followup.csv",
        ),
        (("--carry", "origin,created_on"), "followup.csv"),
        ((), "followup.jsonl"),
        ((), "followup.parquet"),
        ((), "followup.xlsx"),
    ],
)
def test_buckets_match_one_pass_in_every_shape_of_output(
    invoke: Callable[..., object],
    planted: dict[str, Path],
    tmp_path: Path,
    options: tuple[str, ...],
    name: str,
) -> None:
    """Sorted, filtered, with carried columns, as JSON Lines, Parquet or a workbook: a
    bucketed run writes what one pass writes (the workbook compared sheet by sheet)."""
    written = {}
    for label, extra in (("one", ()), ("buckets", ("--buckets", "4"))):
        out = tmp_path / label
        out.mkdir()
        result = invoke(
            "reconcile",
            "--data",
            str(planted["csv"]),
            "--as-of",
            "2024-07-31",
            "-o",
            str(out / name),
            "-q",
            *options,
            *extra,
        )
        assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
        written[label] = out / name
    if name.endswith(".xlsx"):
        import openpyxl

        books = {label: openpyxl.load_workbook(path) for label, path in written.items()}
        assert books["one"].sheetnames == books["buckets"].sheetnames
        assert len(books["one"].sheetnames) > 3
        for sheet in books["one"].sheetnames:
            cells = [list(books[label][sheet].iter_rows(values_only=True)) for label in books]
            assert cells[0] == cells[1], sheet
    else:
        assert written["one"].read_bytes() == written["buckets"].read_bytes()
        assert written["one"].stat().st_size > 1000


def test_the_merged_output_reads_like_one_pass_s(
    planted: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The buckets' outputs read back in line order, range by range, whatever is asked of
    them: every row, some columns, a filter, the first few."""
    from followup_cli.reading.run import run

    monkeypatch.setattr(one_bucket, "OUTPUT_LINES", 101)
    located = locate_tables(planted["parquet"], {}, ())
    split = buckets.run_buckets(located, AS_OF, LedgerSettings(), 4, tmp_path / "work")
    one = run(planted["parquet"], {}, AS_OF, LedgerSettings())
    assert split.people == one.people > 2000
    leads = pl.col("follow_up_status") == "Lead"
    for ask in (
        lambda rows: rows,
        lambda rows: rows.select("customer_id", "_line"),
        lambda rows: rows.filter(leads).select("customer_id"),
        lambda rows: rows.filter(leads).head(7),
        lambda rows: rows.head(250),
    ):
        assert ask(split.rows).collect().equals(ask(one.rows).collect())
    assert split.output.equals(one.output)
    assert split.customer_lines.equals(one.customer_lines)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_blank_ids_are_missing_not_repeats_in_both_modes(
    invoke: Callable[..., object], tmp_path: Path, fmt: str
) -> None:
    """Two payments whose id is blank after trimming are each refused as missing, never as a
    repeat of the other, with or without buckets (the reviewer found one pass said
    "duplicate payment_id ''" and buckets "missing")."""
    data = tmp_path / "exports"
    generate(300, data, seed=11, fmt=fmt)
    blank = {"payment_id": [" ", "  ", "\t"], "customer_id": ["C-5", "C-6", "C-7"]}
    extra = pl.DataFrame(
        {**blank, "paid_on": ["2024-05-01"] * 3, "amount": ["10.00"] * 3, "kind": ["one-off"] * 3}
    )
    if fmt == "csv":
        with (data / "payments.csv").open("a") as payments:
            payments.write(extra.write_csv(include_header=False))
    else:
        payments = pl.read_parquet(data / "payments.parquet")
        extra = extra.with_columns(
            pl.col("paid_on").str.to_date(), pl.col("amount").cast(payments.schema["amount"])
        )
        pl.concat([payments, extra.select(payments.columns)]).write_parquet(
            data / "payments.parquet"
        )
    found = {}
    for label, options in (("one", ()), ("buckets", ("--buckets", "3"))):
        found[label] = reconcile_files(invoke, data, tmp_path / label, *options)
    assert found["one"][1:3] == found["buckets"][1:3]
    rejects = found["one"][2].decode()
    assert rejects.count("payment_id is missing; it is required") == 3
    assert "duplicate payment_id" not in rejects


def test_an_id_has_one_bucket_however_it_is_written() -> None:
    """Ids validation takes as equal share a bucket, whether their slice of rows is hashed as
    it is (all trimmed ASCII without lower case) or folded first."""
    plain = id_hashes(pl.Series(["C-1", "C-2", "12345", "É-1"]))
    folded = id_hashes(pl.Series([" c-1", "c-2 ", "12345", "é-1"]))
    assert plain.to_list() == folded.to_list()
    assert plain.null_count() == 0
    assert id_hashes(pl.Series(["", "   ", None])).null_count() == 3
    assert {bucket_of(written, 7) for written in ("C-10", " c-10 ", "c-10")} == {
        bucket_of("C-10", 7)
    }


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_hash_collisions_are_not_repeats(
    invoke: Callable[..., object],
    planted: dict[str, Path],
    single_pass: dict[str, tuple[int, bytes, bytes, dict]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    """Every id hashing alike makes every row a candidate repeat: the ids are compared
    exactly, so only the planted repeats are set aside, as in one pass."""
    hashed = id_hashes

    def colliding(text: pl.Series) -> pl.Series:
        found = hashed(text)
        return pl.select(pl.when(found.is_not_null()).then(pl.lit(42, pl.UInt64))).to_series()

    monkeypatch.setattr(first_pass, "id_hashes", colliding)
    assert_one_pass_bytes(invoke, planted[fmt], tmp_path, single_pass[fmt], "--buckets", "3")


def test_auto_on_small_input_is_one_pass(
    invoke: Callable[..., object],
    planted: dict[str, Path],
    single_pass: dict[str, tuple[int, bytes, bytes, dict]],
    tmp_path: Path,
) -> None:
    """--buckets auto on a few thousand people: one pass, no work folder, the same bytes."""
    _code, output, _rejects, report = reconcile_files(
        invoke, planted["csv"], tmp_path, "--buckets", "auto"
    )
    assert output == single_pass["csv"][1]
    assert report["buckets"] == 1
    assert "read" in report["stages"]


def test_auto_grows_with_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """auto: ceil(size x factor / (share x memory available)); 1 when that fits."""
    export = tmp_path / "payments.parquet"
    export.write_bytes(b"x" * 1000)
    monkeypatch.setattr(buckets, "memory_available", lambda: 1000)
    budget = buckets.BUCKET_SHARE_OF_MEMORY * 1000
    expected = -(-1000 * buckets.PEAK_PER_INPUT_BYTE["parquet"] // budget)
    assert buckets.auto_buckets({"payments": export, "events": None}) == expected
    monkeypatch.setattr(buckets, "memory_available", lambda: 10**12)
    assert buckets.auto_buckets({"payments": export}) == 1


def test_work_folder_removed_after_a_failed_bucket(
    invoke: Callable[..., object],
    planted: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bucket that fails ends the run with its one-line message, exit 3, no work folder
    and no output."""
    real = one_bucket.reconcile_bucket

    def failing(plan: Plan, bucket: int) -> BucketResult:
        if bucket == 2:
            assert work_folders(tmp_path)  # the folder is beside the output while it runs
            raise FollowupError("payments.csv: cannot be read (disk gone); re-export it")
        return real(plan, bucket)

    monkeypatch.setattr(one_bucket, "reconcile_bucket", failing)
    result = invoke(
        "reconcile",
        "--data",
        str(planted["csv"]),
        "--as-of",
        "2024-07-31",
        "-o",
        str(tmp_path / "followup.csv"),
        "--buckets",
        "5",
    )
    assert result.exit_code == 3  # type: ignore[attr-defined]
    assert "cannot be read (disk gone)" in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "followup.csv").exists()
    assert not work_folders(tmp_path)


def test_a_full_disk_in_the_work_folder_is_one_sentence(
    invoke: Callable[..., object],
    planted: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The work folder's disk filling up while the tables are split (in a writer thread) is
    exit 3 naming the work folder and the space it needs; nothing is written or left."""
    written = []
    real = pl.DataFrame.write_ipc

    def filling(self: pl.DataFrame, *args: object, **kwargs: object) -> object:
        written.append(1)
        if len(written) > 3:
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_ipc", filling)
    result = invoke(
        "reconcile",
        "--data",
        str(planted["parquet"]),
        "--as-of",
        "2024-07-31",
        "-o",
        str(tmp_path / "followup.csv"),
        "--buckets",
        "4",
    )
    assert result.exit_code == 3  # type: ignore[attr-defined]
    message = result.output  # type: ignore[attr-defined]
    assert "cannot be written (No space left on device)" in message
    assert "--buckets needs free space" in message and "internal error" not in message
    assert not (tmp_path / "followup.csv").exists()
    assert not work_folders(tmp_path)


def test_a_signal_removes_the_work_folder(tmp_path: Path) -> None:
    """A tracked work folder goes, with everything in it, when a signal stops the run."""
    with work_folder.work_folder(tmp_path / "followup.csv") as work:
        (work / "customers").mkdir()
        (work / "customers" / "b00000-0000.parquet").write_bytes(b"rows")
        signals.remove_temporaries()  # what the SIGTERM handler does first
        assert not work.exists()
    assert not work_folders(tmp_path)


def test_sigterm_during_buckets_leaves_no_work_folder(
    planted: dict[str, Path], tmp_path: Path
) -> None:
    """SIGTERM while buckets run: exit 143, no output, no work folder."""
    env = {**os.environ, "PYTHONPATH": str(Path(buckets.__file__).parents[2])}
    command = [sys.executable, "-m", "followup_cli", "reconcile", "--data", str(planted["csv"])]
    command += ["--as-of", "2024-07-31", "-o", str(tmp_path / "followup.csv"), "-q"]
    command += ["--buckets", "200"]
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list((tmp_path).glob(f"{work_folder.WORK_PREFIX}*/output")):
        assert child.poll() is None, "the run ended before any bucket was done"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, err
    assert not (tmp_path / "followup.csv").exists()
    assert not work_folders(tmp_path)


def test_sigterm_while_the_output_streams_leaves_nothing(tmp_path: Path) -> None:
    """SIGTERM while the buckets' outputs are being merged into the output (a FIFO here, held
    open by the reader, so the run is caught mid-stream): exit 143, no rejects file, no work
    folder. The signal is handled once Polars' sink returns (its thread holds the run until
    then), so the FIFO's reader may still get every row."""
    data = tmp_path / "exports"
    generate(20_000, data, seed=5, fmt="csv")
    with (data / "payments.csv").open("a") as payments:
        payments.write("P-BAD,C-7,2024-02-30,10.00,recurring\n")  # one row to reject
    fifo = tmp_path / "followup.csv"
    os.mkfifo(fifo)
    private = tmp_path / "tmp"  # where the work folder goes when the output is a FIFO
    private.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(buckets.__file__).parents[2])}
    env["TMPDIR"] = str(private)
    command = [sys.executable, "-m", "followup_cli", "reconcile", "--data", str(data), "-q"]
    command += ["--as-of", "2024-07-31", "-o", str(fifo), "--buckets", "3"]
    command += ["--rejects", str(tmp_path / "rejects.csv")]
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    with fifo.open("rb") as reader:
        first = reader.read(4096)  # the run is writing the output now
        assert first.startswith(b"customer_id,")
        assert work_folders(private)  # the buckets' outputs are still being read
        child.send_signal(signal.SIGTERM)
        reader.read()  # drain, so the run is never stuck on a full pipe
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, err
    assert not (tmp_path / "rejects.csv").exists()
    assert not work_folders(private)
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--buckets", "0"], "--buckets: '0' is not a number of buckets"),
        (["--buckets", "many"], "--buckets: 'many'"),
        (["--ray-address", "ray://head:10001"], "--ray-address needs --engine ray"),
        (["--engine", "spark"], "--engine: 'spark' is not an engine"),
    ],
)
def test_bad_scale_options_are_usage_errors(
    invoke: Callable[..., object], tmp_path: Path, options: list[str], message: str
) -> None:
    """A bad --buckets, --engine or --ray-address is exit 2 with a one-line message."""
    result = invoke(
        "reconcile",
        "--data",
        "sample_data",
        "--as-of",
        "2024-07-31",
        "-o",
        str(tmp_path / "out.csv"),
        *options,
    )
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert message in result.output  # type: ignore[attr-defined]


def test_ray_missing_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Ray installed, --engine ray says how to install it (exit 2)."""
    from followup_cli.scaleout import ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)  # what an absent package looks like
    with (
        pytest.raises(UsageError, match=r"pip install followup-cli\[ray\]"),
        ray_engine.session(None),
    ):
        pass


# --- Ray --------------------------------------------------------------------------------------


def test_a_local_ray_leaves_the_command_its_own_signal_handling() -> None:
    """Starting Ray puts Ray's SIGTERM handler in place, which ended a run stopped by `timeout`
    with exit 15 and a stack dump. The command's own handling (exit 143, one line, no partial
    file) is back while the buckets run and after Ray is shut down. In a process of its own:
    the session's Ray would be this one's."""
    child = textwrap.dedent(
        """
        import signal
        from followup_cli.outputs import signals
        from followup_cli.scaleout import ray_engine

        with signals.handled():
            with ray_engine.session(None):
                during = [signal.getsignal(s) is signals._on_signal for s in signals.HANDLED]
            after = [signal.getsignal(s) is signals._on_signal for s in signals.HANDLED]
        print(all(during), all(after))
        """
    )
    found = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    assert found[-2:] == ["True", "True"]


@pytest.fixture(scope="session")
def local_ray() -> Iterator[object]:
    """One local Ray with 2 CPUs for the whole session; the engine uses it and leaves it up."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_ray_gives_the_single_pass_bytes(
    local_ray: object,
    invoke: Callable[..., object],
    planted: dict[str, Path],
    single_pass: dict[str, tuple[int, bytes, bytes, dict]],
    tmp_path: Path,
    fmt: str,
) -> None:
    """--engine ray --buckets 4: Ray tasks write the same bytes as one pass."""
    code, output, rejects, report = reconcile_files(
        invoke, planted[fmt], tmp_path, "--engine", "ray", "--buckets", "4"
    )
    one_code, one_output, one_rejects, one_report = single_pass[fmt]
    assert (code, output, rejects) == (one_code, one_output, one_rejects)
    assert counts_of(report) == counts_of(one_report)
    assert not work_folders(tmp_path)


def test_ray_task_error_is_the_local_engine_error(
    local_ray: object, planted: dict[str, Path], tmp_path: Path
) -> None:
    """An error inside a Ray task comes back as the exception the local engine raises."""
    from followup_cli.scaleout import ray_engine

    located = locate_tables(planted["csv"], {}, ())
    plan, _inputs = first_pass.split(located, AS_OF, LedgerSettings(), 3, tmp_path / "work")
    damaged = sorted((tmp_path / "work" / "payments").glob("b00001-*.arrow"))[0]
    damaged.write_bytes(b"not an Arrow file at all")
    raised = []
    for engine in (one_bucket.LocalEngine(), ray_engine.RayEngine(local_ray)):
        with pytest.raises(Exception) as caught:
            engine.run(plan, lambda _result: None)
        raised.append((type(caught.value), str(caught.value)))
    assert raised[0] == raised[1]


def test_progress_counts_the_buckets_done(planted: dict[str, Path], tmp_path: Path) -> None:
    """The progress display is told each bucket as it is done: bucket 1/3 ... bucket 3/3."""
    stages: list[str] = []
    located = locate_tables(planted["csv"], {}, ())
    buckets.run_buckets(
        located, AS_OF, LedgerSettings(), 3, tmp_path / "work", progress=stages.append
    )
    done = [stage for stage in stages if stage.startswith("bucket ")]
    assert done == ["bucket 0/3", "bucket 1/3", "bucket 2/3", "bucket 3/3"]


def test_a_parquet_output_does_not_follow_the_frame_s_chunks(tmp_path: Path) -> None:
    """Row groups of a fixed size: a frame put together from seven buckets' pieces writes
    the same Parquet bytes as one pass's single chunk (at 10,000,000 customers it did not)."""
    from followup_cli.outputs.serialise import write_frame

    people = 1_000_000
    rows = pl.DataFrame({"customer_id": [f"C-{n}" for n in range(people)], "n": range(people)})
    pieces = pl.concat(
        [rows.slice(start, 94_000) for start in range(0, people, 94_000)], rechunk=False
    )
    assert pieces.n_chunks() > 1
    write_frame(rows, tmp_path / "one.parquet", "parquet")
    write_frame(pieces, tmp_path / "pieces.parquet", "parquet")
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "pieces.parquet").read_bytes()
