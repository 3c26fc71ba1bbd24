"""Each follow-up rule's condition in words with one person's figures, for `explain` (SPEC 11):
`no_visit days=30: no attended event in the 30 days up to 2024-07-31 (latest class E-8 on
2024-07-01, 30 days ago)`. Read from the same facts row the verdicts come from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from followup_cli.core.conditions import sessions_column
from followup_cli.core.money import cents_text
from followup_cli.core.rules_file import RuleSpec

Facts = Mapping[str, Any]


def conditions_in_words(specs: tuple[RuleSpec, ...], facts: Facts, as_of: dt.date) -> list[str]:
    """`describe(): words (the person's figures)` for each rule of the person's table."""
    return [f"{spec.describe()}: {_WORDS[spec.when](spec, facts, as_of)}" for spec in specs]


def _found(text: str, value: object) -> str:
    return f"{text} ({value if value is not None else 'none'})"


def _event(facts: Facts, prefix: str) -> str:
    if facts.get(f"{prefix}_event_id") is None:
        return "none"
    kind = facts.get(f"{prefix}_event_kind") or "event"
    day = facts[f"{prefix}_event_at"].date()
    return f"{kind} {facts[f'{prefix}_event_id']} on {day}"


def _past_due(spec: RuleSpec, facts: Facts, as_of: dt.date) -> str:
    at_least, days_over = int(spec.param("at_least")), int(spec.param("days_over"))  # type: ignore[arg-type]
    past_due, days = facts.get("past_due_cents"), facts.get("days_in_arrears")
    owed = "no ledger" if past_due is None else f"past due {cents_text(past_due)}"
    arrears = "not in arrears" if days is None else f"{days} days in arrears"
    return (
        f"past due at least {cents_text(at_least)} and more than {days_over} days in arrears "
        f"({owed}, {arrears})"
    )


def _sessions_left(spec: RuleSpec, facts: Facts, as_of: dt.date) -> str:
    at_least = int(spec.param("at_least"))  # type: ignore[arg-type]
    found = facts.get(sessions_column(at_least, "id"))
    left = facts.get(sessions_column(at_least, "left"))
    text = f"an active 1-session purchase with {at_least} or more sessions left"
    return f"{text} ({found}, {left} left)" if found is not None else f"{text} (none)"


def _no_visit(spec: RuleSpec, facts: Facts, as_of: dt.date) -> str:
    days = int(spec.param("days"))  # type: ignore[arg-type]
    text = f"an active agreement and no attended event in the {days} days up to {as_of}"
    if facts.get("active_id") is None:
        return f"{text} (no active agreement that is not a 1-session purchase)"
    if facts.get("attended_event_id") is None:
        return f"{text} (active {facts['active_id']}; no attended event)"
    ago = facts["attended_days_ago"]
    latest = _event(facts, "attended")
    return f"{text} (active {facts['active_id']}; latest attended {latest}, {ago} days ago)"


def _latest_inactive(spec: RuleSpec, facts: Facts, as_of: dt.date) -> str:
    text = f"the most recent inactive agreement has alert {spec.param('alert')}"
    found = facts.get("inactive_id")
    if found is None:
        return f"{text} (no inactive agreement)"
    return f"{text} ({found}: {facts.get('inactive_alert') or 'no alert'})"


def _last_event(attended: bool) -> Callable[[RuleSpec, Facts, dt.date], str]:
    def words(spec: RuleSpec, facts: Facts, as_of: dt.date) -> str:
        text = f"the most recent past event was {'' if attended else 'not '}attended"
        if facts.get("last_event_id") is None:
            return f"{text} (no past event)"
        return f"{text} ({_event(facts, 'last')}: {facts['last_event_outcome']})"

    return words


def _origin(spec: RuleSpec, facts: Facts, as_of: dt.date) -> str:
    listed = ", ".join(spec.param("in"))  # type: ignore[arg-type]
    return f"origin is one of {listed} (origin {facts.get('origin') or 'empty'})"


_WORDS: dict[str, Callable[[RuleSpec, Facts, dt.date], str]] = {
    "collections": lambda _, f, __: _found("any agreement in collections", f.get("collections_id")),
    "past_due": _past_due,
    "suspended": lambda _, f, __: _found("any agreement suspended", f.get("suspended_id")),
    "active": lambda _, f, __: _found(
        "an active agreement that is not a 1-session purchase", f.get("active_id")
    ),
    "sessions_left": _sessions_left,
    "no_sessions_left": lambda _, f, __: _found(
        "an active 1-session purchase with 0 sessions left", f.get("drop_in_id")
    ),
    "no_visit": _no_visit,
    "latest_inactive": _latest_inactive,
    "always": lambda _, __, ___: "always",
    "upcoming_event": lambda _, f, a: f"an event after {a} ({_event(f, 'next')})",
    "last_event_attended": _last_event(attended=True),
    "last_event_missed": _last_event(attended=False),
    "origin": _origin,
}
