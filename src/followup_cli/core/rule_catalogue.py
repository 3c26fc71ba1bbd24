"""The catalogue of conditions a rules file may use (SPEC 11): which table each belongs to, its
parameters with their defaults and ranges, and the words `rules init` and `rules show` give it.
Data only; `core.rules_file` checks a file against it and `core.conditions` turns a checked rule
into its Polars condition and reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["money", "days", "count", "alert", "texts"]
Table = Literal["customer", "prospect"]
TABLES: tuple[Table, ...] = ("customer", "prospect")


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    default: object = None  # None: required
    low: int = 0
    high: int | None = None


@dataclass(frozen=True)
class Condition:
    tables: tuple[Table, ...]
    params: tuple[Param, ...] = ()
    explain: str = ""


CATALOGUE: dict[str, Condition] = {
    "collections": Condition(("customer",), (), "any agreement has status collections"),
    "past_due": Condition(
        ("customer",),
        (Param("at_least", "money", 1, 1), Param("days_over", "days", 0, 0, 3650)),
        "past_due >= at_least and days_in_arrears > days_over",
    ),
    "suspended": Condition(("customer",), (), "any agreement is suspended"),
    "active": Condition(("customer",), (), "any active agreement that is not a 1-session purchase"),
    "sessions_left": Condition(
        ("customer",),
        (Param("at_least", "count", 1, 1),),
        "any active 1-session purchase with sessions_remaining >= at_least",
    ),
    "no_sessions_left": Condition(
        ("customer",), (), "any active 1-session purchase with sessions_remaining = 0"
    ),
    "no_visit": Condition(
        ("customer",),
        (Param("days", "days", None, 1, 3650),),
        "an active agreement that is not a 1-session purchase, and no attended event in the "
        "`days` days up to and including the as-of date",
    ),
    "latest_inactive": Condition(
        ("customer",),
        (Param("alert", "alert"),),
        "the most recent inactive agreement has that alert (canceled or expired)",
    ),
    "always": Condition(("customer", "prospect"), (), "always"),
    "upcoming_event": Condition(("prospect",), (), "an upcoming event (after the as-of date)"),
    "last_event_attended": Condition(("prospect",), (), "the most recent past event was attended"),
    "last_event_missed": Condition(
        ("prospect",), (), "the most recent past event was not attended"
    ),
    "origin": Condition(
        ("prospect",), (Param("in", "texts"),), "origin is one of them (trimmed, any case)"
    ),
}

ALERTS = ("canceled", "expired")
