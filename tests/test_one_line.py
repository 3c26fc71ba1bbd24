"""Issue 20 items 6 and 8: off a terminal a message is one line (SPEC 5), and the smaller
items: --report's metavar, --format's refusal, explain of a person created later, and
--history naming no folder. The command is run as a process, its streams to pipes, as cron
runs it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.conftest import SAMPLE

LONG_ID = "A-" + "7" * 300  # an agreement id as long as a message must survive whole
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _env() -> dict[str, str]:
    """As under cron: no terminal hints, the 80 columns Rich assumes, no colour."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "FOLLOWUP_DEBUG"}
    }
    env.update(COLUMNS="80", LINES="24", NO_COLOR="1")
    return env


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "followup_cli", *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        env=_env(),
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def _on_a_terminal(*args: str | Path) -> str:
    """Standard output and error on an 80-column pseudo-terminal, as a person sees them."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "followup_cli", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=_env(),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    process.wait(timeout=120)
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


@pytest.fixture
def long_exports(tmp_path: Path) -> Path:
    """sample_data with C-12's agreement (the Unclassified one) given a 302-character id."""
    folder = tmp_path / "exports"
    shutil.copytree(SAMPLE, folder)
    agreements = folder / "agreements.csv"
    text = agreements.read_text()
    assert "\nA-13," in text
    agreements.write_text(text.replace("\nA-13,", f"\n{LONG_ID},"))
    return folder


def test_reconcile_says_each_message_on_one_line_in_a_log(
    long_exports: Path, tmp_path: Path
) -> None:
    """A note, a warning, the output line and a table row with long values are one line each."""
    customers = long_exports / ("customers_" + "c" * 200 + ".csv")
    (long_exports / "customers.csv").rename(customers)
    out = tmp_path / ("o" * 200) / "followup.csv"
    out.parent.mkdir()
    done = _run(
        "reconcile", "--data", long_exports, "--customers", customers,
        "--as-of", "2024-07-31", "-o", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    reason = f"no rule matched: latest inactive agreement {LONG_ID} has no alert"
    assert f"unclassified: C-12: {reason}" in lines
    assert any(line.startswith(f"output: {out}; took ") for line in lines), done.stderr
    stale = [line for line in lines if line.startswith("warning: payments: the newest row")]
    assert len(stale) == 1 and stale[0].endswith("is the export up to date?"), done.stderr
    row = re.compile(rf"^\s*{re.escape(customers.name)}\s+19\s+18\s+0\s+1\s*$")
    assert any(row.match(line) for line in lines), done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr  # no progress, no colour


def test_explain_is_unwrapped_in_a_file_and_wrapped_on_a_terminal(long_exports: Path) -> None:
    """`explain C-12 > file` keeps the long reason on the heading's line; a terminal wraps."""
    args = ("explain", "C-12", "--data", long_exports, "--as-of", "2024-07-31")
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    heading = done.stdout.splitlines()[0]
    assert heading.startswith("C-12 ")
    assert heading.endswith(f"(no rule matched: latest inactive agreement {LONG_ID} has no alert)")
    seen = _on_a_terminal(*args)
    assert LONG_ID not in seen  # cut across lines at the terminal's width
    assert seen.startswith("C-12 ")
    assert max(len(line) for line in seen.splitlines()) <= 80


def test_generate_and_its_refusal_are_one_line(tmp_path: Path) -> None:
    """`generate`'s summary names a long folder on one line; so does the error refusing it."""
    out = tmp_path / ("g" * 200) / ("h" * 100)
    done = _run("generate", "--customers", "20", "--out", out, "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(rf"wrote {re.escape(str(out))}: customers 20, .*s\)\n", done.stderr)
    again = _run("generate", "--customers", "20", "--out", out, "--format", "csv")
    assert again.returncode == 2
    assert again.stderr.startswith(f"followup: error: --out {out} holds exports already (")
    assert len(again.stderr.splitlines()) == 1, again.stderr


def test_report_option_shows_path_like_the_others() -> None:
    """-h shows `--report PATH`, and no option of any command shows Typer's `<path>`."""
    shown = _run("reconcile", "-h")
    assert shown.returncode == 0
    assert re.search(r"--report PATH\b", shown.stdout), shown.stdout
    for command in ("reconcile", "changes", "history", "explain", "generate"):
        assert "<path>" not in _run(command, "-h").stdout, command


@pytest.mark.parametrize(
    ("command", "choices"),
    [("reconcile", "csv, parquet, jsonl or xlsx"), ("generate", "csv or parquet")],
)
def test_an_unknown_format_is_one_plain_sentence(
    tmp_path: Path, command: str, choices: str
) -> None:
    """--format xls names the option, the value and the formats; no pydantic "Value error"."""
    if command == "reconcile":
        args: tuple[str | Path, ...] = ("--data", SAMPLE, "--as-of", "2024-07-31")
    else:
        args = ("--customers", "5", "--out", tmp_path / "gen")
    done = _run(command, *args, "--format", "xls")
    assert done.returncode == 2
    assert f"--format: 'xls' is not a format; choose {choices}\n" in done.stderr
    assert "Value error" not in done.stderr
    assert not (tmp_path / "gen").exists()


def test_explain_names_the_day_a_later_customer_was_created() -> None:
    """C-19 (created 2024-08-05) explained as of 2024-07-31: the sentence gives created_on."""
    done = _run("explain", "C-19", "--data", SAMPLE, "--as-of", "2024-07-31")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "followup: error: C-19 was created on 2024-08-05, after the as-of date 2024-07-31"
    ), done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("command", [("changes",), ("history", "C-5")])
def test_history_naming_no_folder_says_so(tmp_path: Path, command: tuple[str, ...]) -> None:
    """`--history nonexist` is "no such folder" (exit 2), not "0 snapshot(s)"."""
    missing = tmp_path / "nonexist"
    done = _run(*command, "--history", missing)
    assert done.returncode == 2
    assert done.stderr == f"followup: error: --history {missing}: no such folder\n"
    assert not missing.exists()
