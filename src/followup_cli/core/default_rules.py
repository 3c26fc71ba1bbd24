"""The default rules (SPEC 3 and 4) as the rules file `followup rules init` prints (SPEC 11).

The defaults are this text read by `rules_file.parse`, so a default rule is made the one way a
gym's rule is, and `rules init > rules.toml` then `--rules rules.toml` gives the same output.
"""

from __future__ import annotations

from followup_cli.core.rules_file import RuleSet, parse

DEFAULT_TEXT = """\
# followup rules (SPEC 11). These are the defaults: `followup rules init > rules.toml`,
# edit, check with `followup rules check rules.toml`, then run with `--rules rules.toml`.
# A rule is numbered from 1 in its table, as problems name it: customer[4] is the fourth
# [[customer]]. Every problem is listed at once, and a refused file stops the run (exit 2).

version = 1                     # the version of this format; only 1 is read

[account]                       # the account status of subscribers (SPEC 3)
warning_after_days = 7          # Warning when days_in_arrears > this; 0 to 365
disabled_after_months = 2       # Disabled when as-of >= oldest_unpaid_on + this many months; 1-24
surcharge = "1.00"              # charged per one-off payment, as text; --surcharge overrides it

# The customer table (people with at least one agreement): first match wins, in file order.
# Each rule: `when` (a condition below), `status` (the list's name: 1 to 31 characters, none
# of [ ] : * ? / \\ since each list can become a workbook sheet) and the condition's parameters.
# Conditions: collections; past_due (at_least = "0.01", days_over = 0: past_due >= at_least
# and days_in_arrears > days_over); suspended; active (an active agreement that is not a
# 1-session purchase); sessions_left (at_least = 1); no_sessions_left; no_visit (days = 1 to
# 3650, required: active, and no attended event in the `days` days up to and including the
# as-of date); latest_inactive (alert = "canceled" or "expired", required); always.
# The table must end with exactly one `always`.

[[customer]]
when = "collections"            # any agreement has status collections
status = "Collections Customer"

[[customer]]
when = "past_due"               # the ledger's past_due >= at_least, more than days_over in arrears
at_least = "0.01"
days_over = 0
status = "Delinquent Customer"

[[customer]]
when = "suspended"              # any agreement is suspended
status = "Active Customer - Suspended"

[[customer]]
when = "active"                 # any active agreement that is not a 1-session purchase
status = "Active Customer"

[[customer]]
when = "sessions_left"          # an active 1-session purchase with sessions_remaining >= at_least
at_least = 1
status = "Renewal Opportunity"

[[customer]]
when = "no_sessions_left"       # an active 1-session purchase with sessions_remaining = 0
status = "Drop-In"

[[customer]]
when = "latest_inactive"        # the most recent inactive agreement has this alert
alert = "canceled"
status = "Canceled Customer"

[[customer]]
when = "latest_inactive"
alert = "expired"
status = "Expired Customer"

[[customer]]
when = "always"                 # nothing above matched
status = "Unclassified"

# The prospect table (people without an agreement), the same way. Canceled events never
# count. Conditions: upcoming_event; last_event_attended; last_event_missed; origin (in = a
# list of 1 or more texts, required, matched trimmed and in any case); always.

[[prospect]]
when = "upcoming_event"         # an event after the as-of date
status = "Trial Booked"

[[prospect]]
when = "last_event_attended"    # the most recent past event was attended
status = "Trial Show - No Sale"

[[prospect]]
when = "last_event_missed"      # the most recent past event was not attended
status = "Trial No Show"

[[prospect]]
when = "origin"                 # origin is one of these
in = ["referral"]
status = "Referral"

[[prospect]]
when = "origin"
in = ["web", "website", "online", "web lead"]
status = "Web Lead"

[[prospect]]
when = "always"                 # nothing above matched
status = "Lead"
"""

DEFAULT_RULES: RuleSet = parse(DEFAULT_TEXT, "the default rules")
