"""`followup explain`: one person's output row, ledger and every rule's verdict, as plain data.

The row, the facts and the rule verdicts come from the main path's own functions
(`people_facts`, `label`, the rule tables of follow_up_tables.py and account_status.py) on the
validated tables, so they are what the reconcile run computed. The ledger is told as the account
aggregate's domain events (oracle.py): subscriptions started, payments made, charges due, the
account reconciled; its figures are a second, independent reading, and the tests check the two
agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from followup_cli.core import follow_up_tables as followup
from followup_cli.core.account_status import (
    DISABLED,
    DUE,
    PAID_IN_FULL,
    WARNING,
    account_rules,
    disabled_on,
)
from followup_cli.core.errors import UsageError
from followup_cli.core.first_match import verdicts as rule_verdicts
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.listing import first_of
from followup_cli.core.money import cents_text
from followup_cli.core.oracle import (
    AccountReconciled,
    ChargeDue,
    OneOffPaymentMade,
    RecurringPaymentMade,
    SubscriptionStarted,
    replay,
)
from followup_cli.core.pipeline import label, people_facts
from followup_cli.core.rules_file import AccountRules
from followup_cli.core.schema import CUST, LINE, normalise_id
from followup_cli.core.tables import REF, Validated
from followup_cli.job.rule_words import conditions_in_words
from followup_cli.reading.loading import RawTable

DECIDED = "decided"
OUTRANKED = "matched, lower in the table"
NOT_MATCHED = "no"
NOT_REACHED = "not reached: a rule above decided"


ENTRIES = pl.Schema(
    {
        "date": pl.Date,
        "entry": pl.String,
        "charge_cents": pl.Int64,
        "credit_cents": pl.Int64,
        "balance_cents": pl.Int64,
        "settled": pl.String,
    }
)


@dataclass(frozen=True)
class AccountFigures:
    """What the account aggregate came to by replaying the person's events."""

    balance_cents: int
    past_due_cents: int
    oldest_unpaid_on: dt.date | None
    days_in_arrears: int | None
    account_status: str


@dataclass(frozen=True)
class Explanation:
    person: dict[str, Any]  # the person's output row
    entries: pl.DataFrame  # ENTRIES: the account's events with the running balance
    rules: tuple[tuple[int, str, str], ...]  # number, status, verdict
    as_of: dt.date | None = None
    # number, status, condition with the person's figures, verdict; empty without a ledger
    account_rules: tuple[tuple[int, str, str, str], ...] = ()
    rejected: tuple[tuple[str, int, str, str], ...] = ()  # file, line, column, reason
    account: AccountFigures | None = None  # None without a subscription: no ledger
    # each follow-up rule's condition in words with the person's figures, as `rules`
    rule_conditions: tuple[str, ...] = ()


def explain(
    tables: Validated,
    customer_id: str,
    as_of: dt.date,
    settings: LedgerSettings,
    customers_file: RawTable | None = None,
) -> Explanation:
    """`customers_file`, the customers table as read, lets a person created after the as-of
    date be told apart from an id that is nowhere in the file."""
    person = tables.customers.filter(
        normalise_id(pl.col("customer_id")) == normalise_id(customer_id)
    )
    if person.height == 0:
        raise UsageError(_not_there(tables, customer_id, as_of, customers_file))
    index = person.item(0, CUST)
    facts = people_facts(tables, as_of, settings).filter(pl.col(CUST) == index).collect()
    row = label(facts.lazy(), settings.rules).collect().row(0, named=True)
    is_customer = bool(facts.item(0, "has_agreement"))
    # By position: a rules file may give two rules one list's name.
    checks = followup.verdicts(is_customer, settings.rules)
    flags = facts.select(check.alias(f"rule{n}") for n, check in enumerate(checks)).row(0)
    table = settings.rules.customer if is_customer else settings.rules.prospect
    rules = _verdicts(tuple(rule.status for rule in table), flags)
    entries, account = _story(tables, index, as_of, settings)
    return Explanation(
        row,
        entries,
        rules,
        as_of=as_of,
        account_rules=_account_rules(facts, as_of, settings.rules.account),
        rejected=_rejected(tables, str(person.item(0, "customer_id"))),
        account=account,
        rule_conditions=tuple(conditions_in_words(table, facts.row(0, named=True), as_of)),
    )


def _not_there(
    tables: Validated, customer_id: str, as_of: dt.date, customers_file: RawTable | None
) -> str:
    """Why `customer_id` has no row as of `as_of`: its rows were set aside, it was created
    later (with the day, so the person can rerun as of it), or the id is not in the file."""
    set_aside = _set_aside(_rejected(tables, customer_id))
    if set_aside:
        return (
            f"customer {customer_id!r} is not among the customers created on or before "
            f"{as_of}; rows naming it were set aside: {set_aside}"
        )
    later = _created_later(customers_file, customer_id) if customers_file else None
    if later is not None:
        created_on, line = later
        return (
            f"{customer_id} was created on {created_on}, after the as-of date {as_of} "
            f"({customers_file.file_label if customers_file else 'customers'} line {line}); "
            f"explain them as of that day or later, e.g. --as-of {created_on}"
        )
    return (
        f"customer {customer_id!r} is not among the customers created on or before {as_of} "
        f"(check the id, the --as-of date, and the rejects of a reconcile run)"
    )


def _created_later(customers_file: RawTable, customer_id: str) -> tuple[str, int] | None:
    """The created_on and line, as written, of the first row of the customers file with this
    id: a valid row that is not among the customers was created after the as-of date."""
    found = (
        customers_file.frame.filter(
            normalise_id(pl.col("customer_id").cast(pl.String)) == normalise_id(customer_id)
        )
        .select(pl.col("created_on").cast(pl.String).str.strip_chars(), LINE)
        .head(1)
        .collect()
    )
    if found.height == 0:
        return None
    created_on, line = found.row(0)
    return str(created_on), int(line)


def _verdicts(
    statuses: tuple[str, ...], flags: tuple[Any, ...]
) -> tuple[tuple[int, str, str], ...]:
    rules = []
    decided = False
    last = len(statuses)
    for number, (status, matched) in enumerate(zip(statuses, flags, strict=True), start=1):
        verdict = NOT_MATCHED
        if matched and decided:
            # The last rule of each table is the catch-all: it "matches" everyone, so it only
            # counts when nothing above it did.
            verdict = NOT_REACHED if number == last else OUTRANKED
        elif matched:
            verdict = DECIDED
            decided = True
        rules.append((number, status, verdict))
    return tuple(rules)


def _account_rules(
    facts: pl.DataFrame, as_of: dt.date, thresholds: AccountRules
) -> tuple[tuple[int, str, str, str], ...]:
    """The account status rules with this person's figures, the same expressions as the run's."""
    if facts.item(0, "balance_cents") is None:
        return ()
    rules = account_rules(as_of, thresholds)
    warning, months = thresholds.warning_after_days, thresholds.disabled_after_months
    figures = facts.select(
        *rule_verdicts(rules),
        disabled_on(months).alias("_disabled_on"),
        "balance_cents",
        "oldest_unpaid_on",
        "days_in_arrears",
    ).row(0, named=True)
    statuses = tuple(rule.status for rule in rules)
    verdicts = _verdicts(statuses, tuple(figures[status] for status in statuses))
    oldest, days = figures["oldest_unpaid_on"], figures["days_in_arrears"]
    conditions = {
        PAID_IN_FULL: f"balance >= 0 (balance {cents_text(figures['balance_cents'])})",
        DISABLED: (
            f"as-of on or after {oldest} + {months} months = {figures['_disabled_on']}"
            if oldest is not None
            else "no unpaid charge"
        ),
        WARNING: f"more than {warning} days in arrears "
        + (f"({days})" if days is not None else "(no unpaid charge)"),
        DUE: f"owed, {warning} days or fewer in arrears",
    }
    return tuple(
        (number, status, conditions[status], verdict) for number, status, verdict in verdicts
    )


def _rejected(tables: Validated, customer_id: str) -> tuple[tuple[str, int, str, str], ...]:
    """The set-aside rows that name this person: their status may be missing what those say."""
    lines = (
        tables.rejected_people.filter(pl.col(REF) == normalise_id(customer_id))
        .select("file", "line")
        .unique()
    )
    found = tables.rejects.join(lines, on=["file", "line"], how="semi", maintain_order="left")
    return tuple(
        (str(f), int(n), str(c), str(r))
        for f, n, c, r in found.select("file", "line", "column", "reason").iter_rows()
    )


LISTED_REJECTS = 5  # in the one-line message; the rejects file of a run has them all


def _set_aside(rejected: tuple[tuple[str, int, str, str], ...]) -> str:
    """`customers.csv line 2 (created_on: not a date), ...`: one entry per rejected row."""
    rows: dict[tuple[str, int], list[str]] = {}
    for file, line, column, reason in rejected:
        rows.setdefault((file, line), []).append(f"{column}: {reason}")
    shown = [f"{f} line {n} ({'; '.join(why)})" for (f, n), why in rows.items()]
    return first_of(shown, LISTED_REJECTS)


def _story(
    tables: Validated, index: int, as_of: dt.date, settings: LedgerSettings
) -> tuple[pl.DataFrame, AccountFigures | None]:
    """The person's ledger told as the account aggregate's events (`reference.CustomerAccount`):
    subscriptions started, payments made, charges due with their settlement, the account
    reconciled; with the running balance, and the figures the aggregate came to."""
    account = replay(
        tables.agreements.filter(pl.col(CUST) == index),
        tables.payments.filter(pl.col(CUST) == index),
        as_of,
        settings.surcharge_cents,
        settings.rules.account,
    ).get(index)
    if account is None or not account.has_subscription():
        return pl.DataFrame(), None
    rows = []
    balance = 0
    for event in account.story():
        charge = credit = settled = None
        match event:
            case SubscriptionStarted():
                day = event.purchase_date
                entry = (
                    f"subscription started: agreement {event.agreement_id}, "
                    f"{cents_text(event.monthly_fee_cents)} a month"
                )
            case OneOffPaymentMade() | RecurringPaymentMade():
                day, credit = event.paid_on, event.amount_cents
                kind = "one-off" if isinstance(event, OneOffPaymentMade) else "recurring"
                entry = f"{kind} payment {event.payment_id}"
            case ChargeDue():
                day, charge, entry = event.due_on, event.cents, event.what
                settled = _settlement(event)
            case AccountReconciled():
                day, entry = event.as_of, f"account reconciled: {account.account_status()}"
        balance += (credit or 0) - (charge or 0)
        rows.append((day, entry, charge, credit, balance, settled))
    figures = AccountFigures(
        balance_cents=account.balance_cents(),
        past_due_cents=account.past_due_cents(),
        oldest_unpaid_on=account.oldest_unpaid_on(),
        days_in_arrears=account.days_in_arrears(),
        account_status=account.account_status(),
    )
    return pl.DataFrame(rows, schema=ENTRIES, orient="row"), figures


def _settlement(charge: ChargeDue) -> str:
    if charge.unpaid_cents == 0:
        return "settled"
    return "part settled" if charge.unpaid_cents < charge.cents else "unpaid"
