"""The catalogue of conditions (SPEC 11) as Polars: each checked rule of a rules file becomes
a `first_match.Rule` (status, condition, reason) over one row of facts per person, for all
people at once. The default tables of SPEC 4 are made here too, from the default file.

The facts a condition reads are computed by `follow_up_tables.agreement_facts` and
`event_facts`; `needs` says which optional ones a rule set asks for (a `sessions_left`
threshold other than 1, the latest attended event for `no_visit`).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from followup_cli.core import money
from followup_cli.core.first_match import Rule
from followup_cli.core.rules_file import RuleSet, RuleSpec


def sessions_column(at_least: int, what: str) -> str:
    """The facts' column for `sessions_left at_least=N`: `renewal_id` for the default 1."""
    return f"renewal_{what}" if at_least == 1 else f"renewal{at_least}_{what}"


def session_thresholds(rules: RuleSet) -> tuple[int, ...]:
    """Every `sessions_left` threshold the customer table uses (1 always, for explain)."""
    found = {int(r.param("at_least")) for r in rules.customer if r.when == "sessions_left"}  # type: ignore[arg-type]
    return tuple(sorted({1, *found}))


def needs_visits(rules: RuleSet) -> bool:
    return any(rule.when == "no_visit" for rule in rules.customer)


def event(prefix: str) -> pl.Expr:
    return pl.format(
        "{} {} on {}",
        pl.col(f"{prefix}_event_kind").fill_null("event"),
        pl.col(f"{prefix}_event_id"),
        pl.col(f"{prefix}_event_at").dt.date(),
    )


def _origin() -> pl.Expr:
    return pl.format("no events; origin {}", pl.col("origin")).fill_null(
        pl.lit("no events; no origin")
    )


def _agreement(text: str, column: str) -> tuple[pl.Expr, pl.Expr]:
    return pl.col(column).is_not_null(), pl.format(text, pl.col(column))


def _past_due(spec: RuleSpec) -> tuple[pl.Expr, pl.Expr]:
    at_least, days_over = int(spec.param("at_least")), int(spec.param("days_over"))  # type: ignore[arg-type]
    days = pl.col("days_in_arrears")
    when = pl.col("past_due_cents").fill_null(0) >= at_least
    if days_over:
        # With 0 it is implied: past due is owed on a charge due before the as-of date, so the
        # oldest unpaid charge is at least a day old.
        when = when & (days > days_over)
    reason = pl.format(
        "past due {} since {}",
        money.as_text(pl.col("past_due_cents")),
        pl.col("oldest_unpaid_on"),
    )
    if days_over:
        reason = pl.format("{}, {} days in arrears (more than {})", reason, days, pl.lit(days_over))
    return when, reason


def _sessions_left(spec: RuleSpec) -> tuple[pl.Expr, pl.Expr]:
    at_least = int(spec.param("at_least"))  # type: ignore[arg-type]
    found, left = pl.col(sessions_column(at_least, "id")), pl.col(sessions_column(at_least, "left"))
    reason = pl.format(
        "1-session purchase {}, {} {} left",
        found,
        left,
        pl.when(left == 1).then(pl.lit("session")).otherwise(pl.lit("sessions")),
    )
    return found.is_not_null(), reason


def _no_visit(spec: RuleSpec) -> tuple[pl.Expr, pl.Expr]:
    """Active, and the latest attended event (canceled ones aside) is on or before A - days."""
    days = int(spec.param("days"))  # type: ignore[arg-type]
    ago = pl.col("attended_days_ago")
    when = pl.col("active_id").is_not_null() & (ago.is_null() | (ago >= days))
    reason = pl.format(
        "active agreement {}; {}",
        pl.col("active_id"),
        pl.format("last attended {}, {} days ago", event("attended"), ago).fill_null(
            pl.lit("no attended event")
        ),
    )
    return when, pl.format("{} (no visit in {} days)", reason, pl.lit(days))


def _latest_inactive(spec: RuleSpec) -> tuple[pl.Expr, pl.Expr]:
    alert = str(spec.param("alert"))
    return pl.col("inactive_alert") == alert, pl.format(
        "latest inactive agreement {} alert " + alert, pl.col("inactive_id")
    )


# How every reason of the customers' catch-all begins, and no other rule's: the summary
# finds the unclassified by it, whatever the catch-all's list is named (another rule may
# share the name).
UNMATCHED = "no rule matched"


def _always(table: str) -> tuple[pl.Expr, pl.Expr]:
    if table == "prospect":
        return pl.lit(True), _origin()
    reason = pl.format(
        UNMATCHED + ": latest inactive agreement {} has no alert", pl.col("inactive_id")
    ).fill_null(pl.lit(UNMATCHED))
    return pl.lit(True), reason


def _last_event_missed() -> tuple[pl.Expr, pl.Expr]:
    outcome = pl.col("last_event_outcome")
    reason = pl.format(
        "latest past {} {}",
        event("last"),
        pl.when(outcome == "scheduled")
        .then(pl.lit("still marked scheduled, so not attended"))
        .otherwise(outcome.cast(pl.String)),
    )
    return outcome.is_not_null() & (outcome != "attended"), reason


def _origin_in(spec: RuleSpec) -> tuple[pl.Expr, pl.Expr]:
    return pl.col("origin").is_in(list(spec.param("in"))), _origin()  # type: ignore[arg-type]


_BUILDERS: dict[str, Callable[[RuleSpec], tuple[pl.Expr, pl.Expr]]] = {
    "collections": lambda _: _agreement("collections: agreement {}", "collections_id"),
    "past_due": _past_due,
    "suspended": lambda _: _agreement("suspended: agreement {}", "suspended_id"),
    "active": lambda _: _agreement("active agreement {}", "active_id"),
    "sessions_left": _sessions_left,
    "no_sessions_left": lambda _: _agreement(
        "1-session purchase {}, 0 sessions left", "drop_in_id"
    ),
    "no_visit": _no_visit,
    "latest_inactive": _latest_inactive,
    "upcoming_event": lambda _: (
        pl.col("next_event_id").is_not_null(),
        pl.format("upcoming {}", event("next")),
    ),
    "last_event_attended": lambda _: (
        pl.col("last_event_outcome") == "attended",
        pl.format("latest past {} attended", event("last")),
    ),
    "last_event_missed": lambda _: _last_event_missed(),
    "origin": _origin_in,
}


def rule(spec: RuleSpec, table: str) -> Rule:
    """One rule of a rules file as (status, condition, reason)."""
    when, reason = _always(table) if spec.when == "always" else _BUILDERS[spec.when](spec)
    return Rule(spec.status, when, reason)


def table_rules(rules: RuleSet, table: str) -> list[Rule]:
    specs = rules.customer if table == "customer" else rules.prospect
    return [rule(spec, table) for spec in specs]
