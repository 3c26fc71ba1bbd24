"""Review of round 3 (SPEC 8, 9, 11 as a hostile gym manager and a careless on-call engineer
would use them): each test failed on the code before its fix."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import openpyxl
import pytest

from followup_cli.core.default_rules import DEFAULT_TEXT
from followup_cli.core.rules_file import RulesRefused, parse
from tests.conftest import SAMPLE


def _problems(text: str) -> list[str]:
    with pytest.raises(RulesRefused) as refused:
        parse(text, "r.toml")
    return refused.value.problems


def _renamed(old: str, new: str) -> str:
    """The default rules with the list `old` called `new` (TOML basic string text)."""
    assert f'status = "{old}"' in DEFAULT_TEXT
    return DEFAULT_TEXT.replace(f'status = "{old}"', f'status = "{new}"')


def _not_waiting_on(fifo: Path, call, what: str):
    """`call()` in a thread, which must return without a writer at `fifo` (the old code blocked
    in open(); then the FIFO is opened for writing so that the test can end)."""
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(call()))
    worker.daemon = True
    worker.start()
    worker.join(60)
    if worker.is_alive():
        with open(fifo, "wb"):
            pass
        worker.join(60)
        pytest.fail(f"{what} waited on a FIFO")
    return result[0]


def _two_nights(invoke, tmp_path: Path) -> Path:
    """A --history folder of the sample's nights 2024-07-30 and 2024-07-31."""
    history = tmp_path / "history"
    for day in ("2024-07-30", "2024-07-31"):
        done = invoke(
            "reconcile", "--data", str(SAMPLE), "--as-of", day, "-q", "--history", str(history),
            "-o", str(tmp_path / f"{day}.csv"),
        )  # fmt: skip
        assert done.exit_code == 0, done.output
    return history


def _run(invoke, tmp_path: Path, rules_text: str, output: str = "out.xlsx") -> tuple[int, str]:
    rules = tmp_path / "rules.toml"
    rules.write_text(rules_text, encoding="utf-8")
    done = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-07-31", "-q",
        "-o", str(tmp_path / output), "--rules", str(rules),
    )  # fmt: skip
    return done.exit_code, done.output


# --- list names that a workbook cannot hold -------------------------------------------------
# Each became an internal error (exit 3) at the workbook, or a workbook no program opens.


@pytest.mark.parametrize("name", ["Summary", "Changes", "Rejected rows", "Trends", "trends"])
def test_a_list_named_as_one_of_the_workbooks_own_sheets_is_refused(name, invoke, tmp_path):
    problems = _problems(_renamed("Collections Customer", name))
    assert len(problems) == 1 and "customer[1] status" in problems[0], problems
    assert "taken" in problems[0]
    code, output = _run(invoke, tmp_path, _renamed("Collections Customer", name))
    assert code == 2 and "internal error" not in output, output


def test_two_lists_spelled_alike_but_for_case_are_refused(invoke, tmp_path) -> None:
    text = _renamed("Lead", "ACTIVE CUSTOMER")  # Excel: one sheet name, whatever the case
    problems = _problems(text)
    assert problems == [
        "prospect[6] status: 'ACTIVE CUSTOMER' differs from 'Active Customer' (customer[4]) "
        "only in case; spell one list one way"
    ]
    code, output = _run(invoke, tmp_path, text)
    assert code == 2 and "internal error" not in output, output


def test_the_same_list_in_both_tables_still_makes_one_sheet(invoke, tmp_path) -> None:
    code, output = _run(invoke, tmp_path, _renamed("Lead", "Active Customer"))
    assert code == 0, output
    names = openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True).sheetnames
    assert names.count("Active Customer") == 1


@pytest.mark.parametrize(
    "name",
    [
        "'Lead'",  # Excel refuses a sheet name starting or ending with an apostrophe
        "Le\\u0000ad",  # NUL: the workbook's XML was not well-formed, written with exit 0
        "Le\\nad",
        "Le\\tad",
        "🏋️" * 11,  # 22 code points, 33 UTF-16 units: over Excel's 31
    ],
)
def test_a_list_name_no_sheet_can_have_is_refused(name, invoke, tmp_path) -> None:
    problems = _problems(_renamed("Lead", name))
    assert len(problems) == 1 and problems[0].startswith("prospect[6] status:"), problems
    code, output = _run(invoke, tmp_path, _renamed("Lead", name))
    assert code == 2 and "internal error" not in output, output
    assert not (tmp_path / "out.xlsx").exists()


def test_31_characters_of_any_script_are_a_list_name(invoke, tmp_path) -> None:
    name = "Интересующийся клиент ёжик ёжик"
    assert len(name) == 31
    code, output = _run(invoke, tmp_path, _renamed("Lead", name))
    assert code == 0, output
    assert name in openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True).sheetnames


# --- money in the rules file ----------------------------------------------------------------


def test_an_amount_past_28_digits_is_refused_not_rounded() -> None:
    """Decimal's 28 digits made "99999999999999999999999999999.99" 10**29 cents, silently."""
    text = DEFAULT_TEXT.replace(
        'at_least = "0.01"', 'at_least = "99999999999999999999999999999.99"'
    )
    problems = _problems(text)
    assert problems == [
        "customer[2] at_least: 99999999999999999999999999999.99 is too large (at most "
        "99,999,999.99)"
    ]


def test_the_files_surcharge_has_the_same_ceiling_as_the_option(invoke, tmp_path) -> None:
    """99,999,999.99 stopped the run with an internal error (i128 in the ledger); --surcharge
    refuses anything past 1,000,000.00, and so does the file now."""
    text = DEFAULT_TEXT.replace('surcharge = "1.00"', 'surcharge = "99999999.99"')
    assert _problems(text) == ["account.surcharge: 99999999.99 is too large (at most 1,000,000.00)"]
    code, output = _run(invoke, tmp_path, text, "out.csv")
    assert code == 2 and "internal error" not in output, output
    most = DEFAULT_TEXT.replace('surcharge = "1.00"', 'surcharge = "1000000.00"')
    assert parse(most, "r.toml").account.surcharge_cents == 1_000_000_00


def test_digits_of_other_scripts_are_not_money() -> None:
    text = DEFAULT_TEXT.replace('at_least = "0.01"', 'at_least = "١.٠٠"')
    assert _problems(text) == [
        "customer[2] at_least: '١.٠٠' is not money; write it as text, like \"1.00\""
    ]


# --- what --rules may name ------------------------------------------------------------------


def test_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer(invoke, tmp_path) -> None:
    fifo = tmp_path / "rules.toml"
    os.mkfifo(fifo)
    done = _not_waiting_on(fifo, lambda: invoke("rules", "check", str(fifo)), "rules check")
    assert done.exit_code == 2  # type: ignore[attr-defined]
    assert "not a regular file" in done.output  # type: ignore[attr-defined]


def test_a_device_is_refused_instead_of_read_until_memory_ends(invoke) -> None:
    done = invoke("rules", "show", "--rules", "/dev/zero")
    assert done.exit_code == 2, done.output
    assert "not a regular file" in done.output


def test_a_file_too_big_to_be_rules_is_refused(invoke, tmp_path) -> None:
    big = tmp_path / "rules.toml"
    big.write_bytes(b"#" * (2**20 + 1))
    done = invoke("rules", "check", str(big))
    assert done.exit_code == 2 and "too big for a rules file" in done.output, done.output


def test_a_file_saved_with_a_bom_reads_as_without(invoke, tmp_path) -> None:
    """Windows Notepad saves UTF-8 with a BOM; tomllib called it 'line 1, column 1: Invalid
    statement'."""
    code, output = _run(invoke, tmp_path, "\ufeff" + DEFAULT_TEXT, "bom.csv")
    assert code == 0, output
    plain_code, _ = _run(invoke, tmp_path, DEFAULT_TEXT, "plain.csv")
    assert plain_code == 0
    assert (tmp_path / "bom.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()


# --- the Trends table -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["as_of", "Night", "Owed (Due)", "owed (warning)"])
def test_a_list_named_as_a_trends_column_is_refused(name, invoke, tmp_path) -> None:
    """A list is a column of the Trends table: 'as_of' stopped a nightly run with --history and
    a workbook with an internal error (DuplicateError), and so did 'Owed (Due)'; 'Night' (as_of
    on the sheet) with exit 3, "column 'Night' is duplicate"."""
    text = _renamed("Lead", name)
    problems = _problems(text)
    assert len(problems) == 1 and "a column of the Trends table" in problems[0], problems
    rules = tmp_path / "rules.toml"
    rules.write_text(text)
    done = invoke(
        "reconcile", "--data", str(SAMPLE), "--as-of", "2024-07-31", "-q", "--rules", str(rules),
        "--history", str(tmp_path / "history"), "-o", str(tmp_path / "out.xlsx"),
    )  # fmt: skip
    assert done.exit_code == 2 and "internal error" not in done.output, done.output


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("people", "by_follow_up_status", "Lead"), 10**30),
        (("people", "by_follow_up_status", "Lead"), -5),
        (("accounts", "by_account_status", "Warning", "owed"), "1e999"),
        (("accounts", "by_account_status", "Warning", "owed"), "9" * 35 + ".99"),
        (("accounts", "by_account_status", "Warning", "owed"), "-3.00"),
    ],
)
def test_a_report_with_figures_no_run_writes_is_counted_from_its_snapshot(
    path, value, invoke, tmp_path
) -> None:
    """A damaged report.json with a 31-digit figure was an internal error (exit 3); one with
    a negative count was shown as it was. Either is now counted from the night's snapshot."""
    history = _two_nights(invoke, tmp_path)
    before = invoke("trends", "--history", str(history))
    assert before.exit_code == 0, before.output
    report = history / "as_of=2024-07-30" / "report.json"
    document = json.loads(report.read_text())
    *parents, key = path
    place = document
    for step in parents:
        place = place[step]
    place[key] = value
    report.write_text(json.dumps(document))
    after = invoke("trends", "--history", str(history))
    assert after.exit_code == 0, after.output
    assert after.stdout == before.stdout


def test_explain_says_no_unpaid_charge_instead_of_none(invoke) -> None:
    """C-2 of the sample owes nothing: the Warning rule's figure read '(None)'."""
    done = invoke("explain", "C-2", "--data", str(SAMPLE), "--as-of", "2024-07-31")
    assert done.exit_code == 0, done.output
    assert "None" not in done.output
    assert "more than 7 days in arrears (no unpaid charge)" in done.output


def test_a_fifo_in_place_of_a_nights_report_does_not_block_trends(invoke, tmp_path) -> None:
    """trends opened each night's report.json as it was: a FIFO there waited for a writer."""
    history = _two_nights(invoke, tmp_path)
    before = invoke("trends", "--history", str(history))
    report = history / "as_of=2024-07-30" / "report.json"
    report.unlink()
    os.mkfifo(report)
    after = _not_waiting_on(report, lambda: invoke("trends", "--history", str(history)), "trends")
    assert after.exit_code == 0, after.output  # type: ignore[attr-defined]
    assert after.stdout == before.stdout  # type: ignore[attr-defined]
