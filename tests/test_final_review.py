"""The last read of round three: a rules file's size has a bound, --status matches as the rules
file's own names are told apart (casefold), and a person's history sheet is not named with a
sheet name Excel reserves."""

from __future__ import annotations

import pytest

from followup_cli.core.default_rules import DEFAULT_TEXT
from followup_cli.core.rules_file import MAX_RULES_PER_TABLE, RulesRefused, parse
from followup_cli.outputs.lists import chosen_statuses

EXTRA = '\n[[customer]]\nwhen = "past_due"\ndays_over = {days}\nstatus = "Owes {days}"\n'


def _with_extra_rules(count: int) -> str:
    """The default file with `count` more past-due rules before its first customer rule."""
    # The first rule of the customer table: a line that starts with it (comments mention it too).
    first_customer = DEFAULT_TEXT.index("\n[[customer]]") + 1
    extra = "".join(EXTRA.format(days=n + 1) for n in range(count))
    return DEFAULT_TEXT[:first_customer] + extra + DEFAULT_TEXT[first_customer:]


def test_a_table_of_more_rules_than_the_bound_is_refused() -> None:
    """2,000 rules took 4.5 GB at 20,000 people: a table holds at most MAX_RULES_PER_TABLE."""
    with pytest.raises(RulesRefused) as refused:
        parse(_with_extra_rules(MAX_RULES_PER_TABLE), "many.toml")
    assert f"at most {MAX_RULES_PER_TABLE}" in str(refused.value)
    assert "customer:" in str(refused.value)


def test_a_table_at_the_bound_is_read() -> None:
    defaults = DEFAULT_TEXT.count("\n[[customer]]")  # rules, not the comments naming them
    rules = parse(_with_extra_rules(MAX_RULES_PER_TABLE - defaults), "full.toml")
    assert len(rules.customer) == MAX_RULES_PER_TABLE


def test_status_matches_a_name_in_any_case_as_casefold_does() -> None:
    """`lower()` left ß as it is, so --status STRASSE missed a list named Straße."""
    assert chosen_statuses(["STRASSE"], ("Straße", "Lead")) == ("Straße",)
