"""Issue 19, "each decision once": every path asks one function, so no two can disagree."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import followup_cli
from followup_cli.core import pipeline
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.schema import normalise_id
from followup_cli.core.tables import TableCount, id_hashes
from followup_cli.outputs.destinations import is_special
from followup_cli.reading.locate import locate_tables
from followup_cli.reading.run import Tally
from followup_cli.reading.run import run as single_pass
from followup_cli.reading.validation import POSITION, TABLE_RANK
from followup_cli.scaleout import buckets, first_pass, merging, one_bucket
from followup_cli.scaleout.buckets import Scale, one_pass
from followup_cli.scaleout.work_folder import work_parent

from .conftest import AS_OF, SAMPLE, write_exports

NOBODY = 65534
GOLDEN = Path(__file__).parent / "golden" / "sample_2024-07-31.csv"


# --- 1. is the target a device ----------------------------------------------------------------


@pytest.fixture
def targets(tmp_path: Path) -> Iterator[dict[str, Path]]:
    regular = tmp_path / "out" / "followup.csv"
    regular.parent.mkdir()
    regular.write_text("old\n")
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    link = tmp_path / "to-null.csv"
    link.symlink_to("/dev/null")
    held = regular.open("a")  # /dev/stdout sent to a regular file, as the shell does
    try:
        yield {
            "regular": regular,
            "new": tmp_path / "out" / "new.csv",
            "/dev/null": Path("/dev/null"),
            "/dev/stdout": Path("/dev/stdout"),
            "fd of a regular file": Path(f"/proc/self/fd/{held.fileno()}"),
            "fifo": fifo,
            "link to a device": link,
        }
    finally:
        held.close()


def test_the_work_folder_goes_where_the_writer_says_the_output_is_a_file(
    targets: dict[str, Path],
) -> None:
    """The work folder goes beside the output exactly when the writer takes it for a regular
    file (`is_special`), and never in /dev or /proc."""
    temporary = Path(tempfile.gettempdir())
    for name, target in targets.items():
        parent = work_parent(target)
        expected = temporary if is_special(target) else target.parent.absolute()
        assert parent == expected, name
        assert parent.parts[1:2] not in (("dev",), ("proc",)), name
    assert work_parent(targets["regular"]) == targets["regular"].parent
    assert work_parent(targets["fd of a regular file"]) == temporary


def _python_for_nobody() -> tuple[str, dict[str, str]]:
    """An interpreter of this Python version that user 65534 may run, with this project and
    its dependencies on its path (pyenv's copy may lie in /root, which that user cannot
    enter: then the system's own of the same version, which reads the same packages)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = sysconfig.get_paths()["purelib"]
    source = str(Path(followup_cli.__file__).parents[1])
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{source}:{site}", "LC_ALL": "C.UTF-8"}
    for candidate in (sys.executable, shutil.which(version), f"/usr/bin/{version}"):
        if candidate is None:
            continue
        try:
            tried = subprocess.run(
                [candidate, "-s", "-c", "import followup_cli, polars"],
                preexec_fn=_as_nobody,
                env=env,
                capture_output=True,
                check=False,
            )
        except PermissionError:  # not even to be started by that user
            continue
        if tried.returncode == 0:
            return candidate, env
    raise AssertionError(f"no {version} that user {NOBODY} can run with this project's packages")


def _as_nobody() -> None:
    """Become user 65534 (a no-op when the tests already run as a user who is not root)."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def test_buckets_to_dev_stdout_as_a_user_who_cannot_write_in_dev() -> None:
    """`--buckets 2 -o /dev/stdout > file` as a user who is not root: exit 0 and one pass's
    bytes (the work folder was made in /dev, where only root may write)."""
    python, env = _python_for_nobody()
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        here.chmod(0o777)
        shutil.copytree(SAMPLE, here / "data")
        out = here / "out.csv"
        out.touch()
        if os.geteuid() == 0:
            os.chown(out, NOBODY, NOBODY)  # the user's shell makes the file it redirects to
        command = [python, "-s", "-c", "from followup_cli.cli.main import main; main()"]
        command += ["reconcile", "--data", "data", "--as-of", "2024-07-31", "-q"]
        command += ["--buckets", "2", "-o", "/dev/stdout"]
        with out.open("wb") as stdout:
            done = subprocess.run(
                command,
                preexec_fn=_as_nobody,
                env={**env, "HOME": folder, "TMPDIR": "/tmp"},
                cwd=here,
                stdout=stdout,
                stderr=subprocess.PIPE,
                timeout=300,
                check=False,
            )
        assert (done.returncode, done.stderr.decode()) == (0, "")
        assert out.read_bytes() == GOLDEN.read_bytes()


# --- 3. repeated ids: one hashing, one normalisation ------------------------------------------


IDS = ["P-1", " p-1", "p-1 ", "É-1", "é-1", "Ｐ-1", unicodedata.normalize("NFKC", "Ｐ-1"), "p-2"]


def test_ids_hash_alike_exactly_when_they_are_matched_alike() -> None:
    """Case and spaces fold; NFKC forms (a full-width letter) are other ids, in every path."""
    hashes = id_hashes(pl.Series(IDS)).to_list()
    for a, hash_a in zip(IDS, hashes, strict=True):
        for b, hash_b in zip(IDS, hashes, strict=True):
            assert (hash_a == hash_b) == (normalise_id(a) == normalise_id(b)), (a, b)
            same = first_pass.bucket_of(a, 97) == first_pass.bucket_of(b, 97)
            assert same or normalise_id(a) != normalise_id(b), (a, b)


def test_repeated_ids_in_one_pass_and_across_buckets(tmp_path: Path) -> None:
    """The same payment ids repeated under two customers, written with case, spaces and a
    full-width letter: one pass and buckets set aside the same rows, for the same reasons."""
    customers = [f"C-{n},Person {n},web,2024-01-01" for n in range(1, 9)]
    payments = [f"{pid},C-{n},2024-03-01,10.00,one-off" for n, pid in enumerate(IDS * 2, start=1)]
    folder = write_exports(
        tmp_path / "x",
        {"customers": customers, "agreements": [], "payments": payments[:16], "events": []},
    )
    one = single_pass(folder, {}, AS_OF, LedgerSettings())
    with buckets.run(
        folder, {}, AS_OF, LedgerSettings(), Scale("5"), beside=tmp_path / "o.csv"
    ) as split:
        assert split.rejects.equals(one.rejects)
        assert split.counts == one.counts
    assert one.rejects.filter(pl.col("reason").str.starts_with("duplicate")).height == 12


# --- 4. is this one pass ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "measured", "expected"),
    [
        (Scale(), None, True),
        (Scale("1"), None, False),
        (Scale("1"), 1, False),
        (Scale("auto"), 1, True),
        (Scale(" AUTO "), 1, True),
        (Scale("auto"), 3, False),
        (Scale(None, "ray"), 1, False),
        (Scale("auto", "ray"), 1, True),
        (Scale(None, "local", "ray://head:10001"), None, False),
        (Scale(None, "ray", "head:6379"), 2, False),
    ],
)
def test_the_one_pass_decision(scale: Scale, measured: int | None, expected: bool) -> None:
    assert one_pass(scale, measured) is expected
    assert scale.one_pass is one_pass(scale)


def test_auto_in_any_case_on_a_small_export_is_one_pass(tmp_path: Path) -> None:
    """`--buckets AUTO` came to one bucket: one pass, as `auto` (it ran one bucket)."""
    with buckets.run(SAMPLE, {}, AS_OF, LedgerSettings(), Scale("AUTO"), beside=None) as result:
        assert result.buckets == 1 and "read" in result.timings


# --- 5 and 6. one pipeline; counts, newest and rejects put together once -----------------------


def test_every_bucket_reconciles_through_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pass and each bucket compose facts and labels through `pipeline.reconcile`."""
    calls: list[int] = []
    real = pipeline.reconcile

    def counted(*args: object, **kwargs: object) -> pl.LazyFrame:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "reconcile", counted)
    single_pass(SAMPLE, {}, AS_OF, LedgerSettings())
    assert len(calls) == 1
    located = locate_tables(SAMPLE, {}, ())
    plan, _inputs = first_pass.split(located, AS_OF, LedgerSettings(), 3, tmp_path / "work")
    results = one_bucket.LocalEngine().run(plan, lambda _result: None)
    assert len(calls) == 1 + len(plan.to_run)
    # Each bucket's rejects come unsorted, with the order's columns: sorted once, together.
    assert {TABLE_RANK, POSITION} <= set(results[0].rejects.columns)
    whole = single_pass(SAMPLE, {}, AS_OF, LedgerSettings())
    assert merging.rejects(results).equals(whole.rejects)
    assert merging.tally(results) == Tally(whole.counts, whole.newest)


def test_parts_add_up_to_one_tally() -> None:
    day = dt.date(2024, 7, 1)
    a = Tally((TableCount("payments", "p.csv", 3, 2, 1, 0),), {"payments": day, "events": None})
    b = Tally((TableCount("payments", "p.csv", 4, 4, 0, 0),), {"payments": None, "events": day})
    assert a + b == Tally(
        (TableCount("payments", "p.csv", 7, 6, 1, 0),), {"payments": day, "events": day}
    )
    with pytest.raises(ValueError, match="only one file"):
        _ = TableCount("payments", "p.csv", 1, 1, 0, 0) + TableCount(
            "payments", "q.csv", 1, 1, 0, 0
        )
