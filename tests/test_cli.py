"""The command line: exit codes, data on stdout and people on stderr, help with examples."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from followup_cli.cli.main import app
from tests.conftest import SAMPLE

SAMPLE_ARGS = ("reconcile", "--data", str(SAMPLE), "--as-of", "2024-07-31")


def test_summary_goes_to_stderr_and_data_to_stdout(invoke) -> None:
    """stdout holds only CSV; the summary (counts, owed, rows per file) is on stderr."""
    result = invoke(*SAMPLE_ARGS)
    assert result.exit_code == 0
    assert result.stdout.startswith("customer_id,name,customer_type,")
    assert "followup" not in result.stdout.splitlines()[0]
    err = result.stderr
    assert "18 people as of 2024-07-31" in err
    assert "Delinquent Customer" in err
    # Owed: C-1 4.00 + C-4 4.00 + C-5 8.00 + C-6 90.00 = 106.00.
    assert "106.00" in err
    assert "customers.csv" in err and "payments.csv" in err
    assert "unclassified: C-12" in err


def test_quiet_silences_the_summary(invoke) -> None:
    """-q leaves stderr empty on a clean run."""
    result = invoke(*SAMPLE_ARGS, "-q")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_no_colour_when_not_a_terminal(invoke) -> None:
    """The summary has no ANSI escapes when stderr is not a terminal."""
    result = invoke(*SAMPLE_ARGS)
    assert "\x1b[" not in result.stderr


def test_no_color_is_honoured_even_when_colour_is_forced(tmp_path: Path) -> None:
    """NO_COLOR wins over a terminal that would otherwise get colour."""
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "1", "COLUMNS": "120"}
    done = subprocess.run(
        [sys.executable, "-m", "followup_cli", *SAMPLE_ARGS, "-o", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Bold and italic may stay; a foreground colour (SGR 30-38, 90-97) may not.
    assert not re.search(r"\x1b\[(?:[0-9]+;)*(?:3[0-8]|9[0-7])(?:;[0-9]+)*m", done.stderr)
    assert "Follow-up status" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--as-of", "2024-13-01"), "not a real calendar date"),
        (("--as-of", "31/07/2024"), "expected YYYY-MM-DD"),
        (("--surcharge", "one pound"), "not an amount"),
        (("--on-error", "ignore"), "ignore"),
        (("--format", "xls"), "xls"),
        (("--no-such-option",), "No such option"),
    ],
)
def test_usage_errors_exit_2(invoke, args: tuple[str, ...], message: str) -> None:
    """A bad option or option value is exit code 2 with a message, and nothing on stdout."""
    result = invoke("reconcile", "--data", str(SAMPLE), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_surcharge_changes_the_ledger(invoke) -> None:
    """--surcharge 2.00: Customer 1's one-off 9.00 pays 7.00 of fees, so they owe 5.00."""
    # Customer 1: charges 5 fees x 4.00 + surcharge 2.00 = 22.00; credits 9 + 4 + 4 = 17.00.
    result = invoke(*SAMPLE_ARGS, "-q", "--surcharge", "2.00")
    c1 = next(line for line in result.stdout.splitlines() if line.startswith("C-1,"))
    assert ",-5.00," in c1


def test_every_command_and_option_has_help_with_an_example() -> None:
    """--help text exists for every command and option, and each carries an example."""
    group = typer.main.get_command(app)
    commands = group.commands
    assert set(commands) == {
        "reconcile", "explain", "generate", "changes", "history", "trends", "rules"
    }  # fmt: skip
    for name, command in commands.items():
        assert command.help and "Example:" in command.help, name
        for param in command.params:
            if param.name == "help":
                continue
            assert param.help, f"{name} {param.name} has no help"
            assert "Example" in param.help, f"{name} {param.name} has no example"


@pytest.mark.parametrize(
    "command",
    [(), ("reconcile",), ("explain",), ("generate",), ("changes",), ("history",), ("trends",)],
)
def test_help_runs(invoke, command: tuple[str, ...]) -> None:
    """followup [COMMAND] --help prints usage and exits 0."""
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.stdout
    assert "Example" in result.stdout


def test_the_module_runs_from_a_shell(tmp_path: Path) -> None:
    """`python -m followup_cli` (this copy, not an installed script) gives the golden bytes."""
    done = subprocess.run(
        [sys.executable, "-m", "followup_cli", *SAMPLE_ARGS, "-q"],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0
    golden = (Path(__file__).parent / "golden" / "sample_2024-07-31.csv").read_bytes()
    assert done.stdout == golden
    assert done.stderr == b""


def test_the_console_script_entry_point_resolves_and_runs() -> None:
    """The `followup` console script (package metadata) loads cli.main, and running that entry
    point the way the installed script does gives the golden bytes and exit 0."""
    from importlib.metadata import entry_points

    from followup_cli.cli import main as cli

    (script,) = entry_points(group="console_scripts", name="followup")
    assert script.load() is cli.main
    runner = (
        "import sys; from importlib.metadata import entry_points; "
        "(ep,) = entry_points(group='console_scripts', name='followup'); "
        "sys.argv[0] = 'followup'; sys.exit(ep.load()())"
    )
    done = subprocess.run(
        [sys.executable, "-c", runner, *SAMPLE_ARGS, "-q"], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    golden = (Path(__file__).parent / "golden" / "sample_2024-07-31.csv").read_bytes()
    assert done.stdout == golden
    assert done.stderr == b""


def test_changes_dates_are_read_by_the_one_date_parser(invoke, tmp_path: Path) -> None:
    """--from and --to are read like --as-of, and a bad one is named as itself (exit 2)."""
    result = invoke("changes", "--history", str(tmp_path), "--from", "2024-02-30")
    assert result.exit_code == 2
    assert "--from: '2024-02-30' is not a real calendar date" in result.stderr
    result = invoke("changes", "--history", str(tmp_path), "--to", "31/07/2024")
    assert result.exit_code == 2
    assert "--to: '31/07/2024' is not a date; expected YYYY-MM-DD" in result.stderr


def test_explain_shows_ledger_and_rules(invoke) -> None:
    """explain C-5: the four fee charges, two payments, Warning, and Delinquent deciding."""
    result = invoke("explain", "C-5", "--data", str(SAMPLE), "--as-of", "2024-07-31")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    # April-July fees due 04-30, 05-31, 06-28, 07-31; payments 04-29 and 05-29 settle the first
    # two; the balance ends at -8.00.
    for text in ("2024-04-30", "2024-05-31", "2024-06-28", "2024-07-31", "-8.00", "Warning"):
        assert text in out
    assert "unpaid" in out and "settled" in out
    assert "Delinquent Customer" in out and "decided" in out
    # C-5's agreement is active, so Active Customer also matched but lost on precedence.
    assert "matched, lower in the table" in out
    # Unclassified, the catch-all, is only reached when nothing above matched.
    assert "9   Unclassified                  not reached" in out


def test_explain_unknown_customer_is_a_usage_error(invoke) -> None:
    """explain with an id not on the customers file: exit 2 and a sentence, no traceback."""
    result = invoke("explain", "NOPE", "--data", str(SAMPLE), "--as-of", "2024-07-31")
    assert result.exit_code == 2
    assert "'NOPE' is not among the customers" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_generate_writes_exports_that_reconcile_cleanly(tmp_path: Path, invoke) -> None:
    """followup generate makes four files that reconcile with nothing rejected (exit 0)."""
    out = tmp_path / "gen"
    made = invoke("generate", "--customers", "300", "--out", str(out), "--format", "csv")
    assert made.exit_code == 0, made.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "agreements.csv",
        "customers.csv",
        "events.csv",
        "payments.csv",
    ]
    assert "customers 300" in made.stderr
    result = invoke("reconcile", "--data", str(out), "--as-of", "2024-07-31", "-q")
    assert result.exit_code == 0, result.stderr
    assert not (Path.cwd() / "followup-rejects.csv").exists()


def test_progress_shows_on_a_terminal_only_and_never_when_quiet() -> None:
    """The spinner names the stage on a terminal; off a terminal or with -q it prints nothing."""
    import io

    from rich.console import Console

    from followup_cli.cli import render

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=80)
    with render.progress(terminal) as step:
        step("ledger")
    assert "ledger…" in screen.getvalue()

    for console in (
        Console(file=io.StringIO(), force_terminal=False),
        Console(file=io.StringIO(), force_terminal=True, quiet=True),
    ):
        with render.progress(console) as step:
            step("ledger")
        assert console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_the_summary_gives_the_time_of_every_stage(invoke) -> None:
    """The summary ends with the elapsed time per stage: read, validate, ledger, statuses, write."""
    result = invoke(*SAMPLE_ARGS, "-o", "-")
    last = result.stderr.replace("\n", " ")
    for stage in ("read", "validate", "ledger", "statuses", "write"):
        assert re.search(rf"{stage} [0-9]+\.[0-9]{{2}}s", last), stage
