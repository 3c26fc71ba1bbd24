"""Everything a person reads, on standard error, drawn with Rich (the only module that may).

Colour only on a terminal; Rich itself honours NO_COLOR. Data never comes through here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from followup_cli.core.conditions import UNMATCHED
from followup_cli.core.listing import LISTED_NAMES, first_of
from followup_cli.core.money import cents_text
from followup_cli.job.explain import DECIDED, OUTRANKED, Explanation
from followup_cli.nightly.changes import URGENT
from followup_cli.outputs.summary import Summary

SIDE_BY_SIDE_WIDTH = 110  # below this the three summary tables are stacked
TRANSITIONS_SHOWN = 12  # moves listed in the summary; the newly urgent ones always are
# Off a terminal a table is laid out at this width, so that each of its rows is one line
# however long its cells (a file path, a reason); tables never pad themselves to the width.
UNWRAPPED_WIDTH = 100_000


def console(quiet: bool = False, stderr: bool = True) -> Console:
    """The stderr console; `quiet` silences everything but errors.

    `explain` prints to standard output instead: its report is that command's product, so
    `followup explain C-5 > c5.txt` keeps it.
    """
    return _unwrapped_off_a_terminal(Console(stderr=stderr, quiet=quiet, highlight=False))


def _unwrapped_off_a_terminal(out: Console) -> Console:
    """SPEC 5: off a terminal (a cron log, a pipe) a message is one line, so `grep` finds it.

    Rich lays out for 80 columns when it cannot ask a terminal, and would break a long
    sentence (or a table cell) across lines; there, sentences are not wrapped at all and
    tables are laid out wide enough that each row is one line. On a terminal Rich wraps at
    the terminal's width, as a person reading it expects.
    """
    if not out.is_terminal:
        out.soft_wrap = True
        out.width = UNWRAPPED_WIDTH
    return out


def error(message: str) -> None:
    """An error is shown even with --quiet: the person or the cron log needs it."""
    _always().print(Text.assemble(("followup: error: ", "bold red"), message))


def _always() -> Console:
    """Standard error even with --quiet, a sentence never wrapped by Rich (a terminal wraps
    it at its own edge)."""
    return _unwrapped_off_a_terminal(Console(stderr=True, highlight=False, soft_wrap=True))


def note(out: Console, message: str) -> None:
    """A warning for the person at the terminal (silenced by --quiet)."""
    out.print(Text(message, style="yellow"))


@contextlib.contextmanager
def progress(out: Console) -> Iterator[Callable[[str], None]]:
    """A spinner naming the stage under way, only on an interactive terminal."""
    if out.quiet or not out.is_terminal:
        yield lambda _stage: None
        return
    with out.status("reading exports") as status:
        yield lambda stage: status.update(f"{stage}…")


def summary(out: Console, s: Summary) -> None:
    if out.quiet:
        if s.rejected_rows:
            # Quiet must not mean unaware: exit 1 alone is easy to miss in a cron log.
            rows = "row" if s.rejected_rows == 1 else "rows"
            _always().print(f"followup: {s.rejected_rows:,} {rows} set aside, see {s.rejects_path}")
        return
    follow, accounts, files = _follow_up_table(s), _accounts_table(s), _files_table(s)
    out.print(Text(f"followup: {s.people:,} people as of {s.as_of}", style="bold"))
    if out.is_terminal and out.width >= SIDE_BY_SIDE_WIDTH:
        # Side by side only for a person: in a log, a line holds one table's row.
        right = Table.grid()
        right.add_row(accounts)
        right.add_row(files)
        layout = Table.grid(padding=(0, 2))
        layout.add_row(follow, right)
        out.print(layout)
    else:
        for table in (follow, accounts, files):
            out.print(table)
    _summary_notes(out, s)
    stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in s.timings)
    total = s.elapsed if s.elapsed is not None else sum(seconds for _, seconds in s.timings)
    out.print(Text(f"output: {s.destination}; took {total:.2f}s ({stages})", style="dim"))


def _follow_up_table(s: Summary) -> Table:
    follow = Table(title="Follow-up status", box=box.SIMPLE_HEAD, title_justify="left")
    follow.add_column("status")
    follow.add_column("people", justify="right")
    for status, count in s.follow_up:
        follow.add_row(status, f"{count:,}", style=None if count else "dim")
    return follow


def _accounts_table(s: Summary) -> Table:
    accounts = Table(title="Account status", box=box.SIMPLE_HEAD, title_justify="left")
    accounts.add_column("status")
    accounts.add_column("accounts", justify="right")
    accounts.add_column("owed", justify="right")
    for status, count, owed in s.accounts:
        accounts.add_row(status, f"{count:,}", cents_text(owed), style=None if count else "dim")
    accounts.add_row("total", "", cents_text(s.owed_cents), style="bold")
    return accounts


def _files_table(s: Summary) -> Table:
    files = Table(title="Rows per file", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("file", "read", "used", "rejected", "after as-of"):
        files.add_column(name, justify="left" if name == "file" else "right")
    for t in s.tables:
        files.add_row(
            t.file,
            f"{t.read:,}",
            f"{t.used:,}",
            Text(f"{t.rejected:,}", style="bold yellow" if t.rejected else ""),
            f"{t.left_out:,}",
        )
    return files


def _summary_notes(out: Console, s: Summary) -> None:
    """Ignored columns, tables run without, the unclassified and the rows set aside."""
    for file, names in s.ignored_columns:
        shown = first_of([repr(n) for n in names[:LISTED_NAMES]], LISTED_NAMES, len(names))
        out.print(Text(f"{file}: ignored column(s) not in the contract: {shown}", style="yellow"))
    for name in s.without:
        out.print(Text(f"ran without {name} (--without {name}): counted as empty", style="yellow"))
    for customer_id, reason in s.unclassified:
        out.print(Text(f"unclassified: {customer_id}: {reason}", style="yellow"))
    unclassified = s.unclassified_count
    if unclassified is None:
        unclassified = dict(s.follow_up).get(s.unclassified_status, 0)
    if unclassified > len(s.unclassified):
        out.print(
            Text(
                f"... and {unclassified - len(s.unclassified):,} more unclassified "
                f"(follow_up_status {s.unclassified_status}, reason "
                f"'{UNMATCHED}...', in the output)",
                style="yellow",
            )
        )
    for sentence in s.rejects_shown:
        out.print(Text(sentence, style="yellow"))
    if s.rejected_rows:
        out.print(
            Text(
                f"{s.rejected_rows:,} row(s) set aside; see {s.rejects_path} "
                f"(file, line, column, value, reason)",
                style="bold yellow",
            )
        )


def explanation(out: Console, e: Explanation) -> None:
    p = e.person
    out.print(
        Text.assemble(
            (f"{p['customer_id']} {p['name'] or ''}".strip(), "bold"),
            f" as of {e.as_of}" if e.as_of else "",
            f"  {p['customer_type']}: ",
            (str(p["follow_up_status"]), "bold cyan"),
            f" ({p['reason']})",
        )
    )
    # SPEC 9's two dates, as the output has them ("none" where the output is empty).
    out.print(
        f"last paid on {p.get('last_paid_on') or 'none'}; "
        f"last visit on {p.get('last_visit_on') or 'none'}"
    )
    if e.entries.height:
        _account(out, e)
    else:
        out.print("account: no recurring agreement, so no ledger")
    # The condition goes last: in words with the person's figures it is the longest cell.
    rows = [(*rule, words) for rule, words in zip(e.rules, e.rule_conditions, strict=True)]
    columns = ("#", "status", "verdict", "condition")
    out.print(_verdicts("Follow-up rules, first match wins", columns, rows))
    if not e.rejected:
        out.print("rejected rows naming this person: none")
        return
    rejected = Table(
        title="Rejected rows naming this person (their status may be incomplete)",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for name in ("file", "line", "column", "reason"):
        rejected.add_column(name, justify="right" if name == "line" else "left")
    for file, line, column, reason in e.rejected:
        rejected.add_row(file, str(line), column, reason, style="yellow")
    out.print(rejected)


def _account(out: Console, e: Explanation) -> None:
    """The ledger as the account's events, the account status and its rules' verdicts."""
    p = e.person
    ledger = Table(
        title="Ledger, as the account's events", box=box.SIMPLE_HEAD, title_justify="left"
    )
    for name in ("date", "entry", "charge", "credit", "balance", "settlement"):
        ledger.add_column(
            name, justify="right" if name in {"charge", "credit", "balance"} else "left"
        )
    for row in e.entries.iter_rows(named=True):
        ledger.add_row(
            str(row["date"]),
            row["entry"],
            _money(row["charge_cents"]),
            _money(row["credit_cents"]),
            _money(row["balance_cents"]),
            Text(row["settled"] or "", style="red" if row["settled"] == "unpaid" else ""),
        )
    out.print(ledger)
    out.print(
        Text.assemble(
            "account: ",
            (str(p["account_status"]), "bold cyan"),
            f" ({p['account_reason']}); balance {p['balance']}, past due {p['past_due']}",
        )
    )
    if e.account is not None:
        a = e.account
        out.print(
            Text(
                f"replayed as events: {a.account_status}; balance "
                f"{_money(a.balance_cents)}, past due {_money(a.past_due_cents)}, oldest "
                f"unpaid {a.oldest_unpaid_on or '-'}, {a.days_in_arrears or 0} days in arrears",
                style="dim",
            )
        )
    if e.account_rules:
        out.print(
            _verdicts(
                "Account status rules, first match wins",
                ("#", "status", "condition", "verdict"),
                e.account_rules,
            )
        )


def _money(cents: int | None) -> str:
    return "" if cents is None else cents_text(cents)


def nightly(
    out: Console,
    transitions: tuple[tuple[str, str, str, int], ...] | None,
    previous_as_of: object,
    warnings: list[str],
) -> None:
    """Since the previous run: the from -> to moves (urgent ones first), then health warnings."""
    if out.quiet:
        return
    if transitions is not None:
        since = f"since {previous_as_of}" if previous_as_of else "since the previous run"
        if not transitions:
            out.print(Text(f"no status changes {since}", style="dim"))
        else:
            moves = Table(title=f"Changes {since}", box=box.SIMPLE_HEAD, title_justify="left")
            for name in ("status", "from", "", "to", "people"):
                moves.add_column(name, justify="right" if name == "people" else "left")
            urgent_rows = [t for t in transitions if (t[0], t[2]) in URGENT]
            shown = max(TRANSITIONS_SHOWN, len(urgent_rows))
            for field, before, after, people in transitions[:shown]:
                kind = "follow-up" if field == "follow_up_status" else "account"
                urgent = (field, after) in URGENT
                moves.add_row(
                    kind,
                    before,
                    "->",
                    Text(after, style="bold red" if urgent else ""),
                    f"{people:,}",
                )
            out.print(moves)
            if len(transitions) > shown:
                rest = sum(t[3] for t in transitions[shown:])
                out.print(
                    Text(
                        f"... and {len(transitions) - shown:,} smaller moves ({rest:,} changes) "
                        f"in the changes file",
                        style="dim",
                    )
                )
    for warning in warnings:
        out.print(Text(f"warning: {warning}", style="bold yellow"))


def _verdicts(title: str, columns: tuple[str, ...], rows: Sequence[tuple[int | str, ...]]) -> Table:
    """A rule table: number, status, a verdict and a condition (in `columns`' order); the
    deciding rule in green."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for name in columns:
        table.add_column(name, justify="right" if name == "#" else "left")
    at = columns.index("verdict")
    for cells in rows:
        style = {DECIDED: "bold green", OUTRANKED: "yellow"}.get(str(cells[at]), "dim")
        table.add_row(
            *(Text(str(c), style=style) if n == at else str(c) for n, c in enumerate(cells))
        )
    return table
