"""Rules a gym can change (SPEC 11): a rules document read into a frozen `RuleSet`, every
problem found at once.

Pure: the caller reads the file's bytes and gives the text here with the name to show. The
catalogue of conditions (which table each belongs to, its parameters, their defaults and
ranges) is `core.rule_catalogue`; `core.conditions` turns a checked rule into its Polars
condition and reason. Rules are numbered from 1 in each table, as a person counts them in the file
(`customer[4]` is the fourth `[[customer]]`).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass

from followup_cli.core.errors import UsageError
from followup_cli.core.list_names import checked_status
from followup_cli.core.rule_catalogue import (
    ALERTS,
    CATALOGUE,
    TABLES,
    Condition,
    Kind,
    Param,
    Table,
)

# The largest amount an export may hold (reading.value_bounds.MAX_UNITS).
MONEY_MAX_CENTS = 10**10 - 1
# The surcharge, from the file or --surcharge: far above any real fee; keeps every sum in range.
SURCHARGE_MAX_CENTS = 1_000_000_00
# Every rule's condition and reason are evaluated for every person (a when/then chain), so the
# cost grows with the rules: 2,000 rules took 4.5 GB at 20,000 people. A gym's tables are a
# dozen rules; this many is far beyond any and keeps the cost a small multiple of the defaults.
MAX_RULES_PER_TABLE = 64
ACCOUNT_KEYS = {
    "warning_after_days": (0, 365),
    "disabled_after_months": (1, 24),
    "surcharge": None,
}
TOP_KEYS = ("version", "account", "customer", "prospect")
RULE_KEYS = ("when", "status")
ParamValue = int | str | tuple[str, ...]


@dataclass(frozen=True)
class RuleSpec:
    """One checked rule: its condition, the list's name, and every parameter (defaults filled
    in; money in cents, texts trimmed and case-folded), in the catalogue's order."""

    when: str
    status: str
    params: tuple[tuple[str, ParamValue], ...] = ()

    def param(self, name: str) -> ParamValue:
        return dict(self.params)[name]

    def describe(self) -> str:
        """`when` and its parameters as a person reads them: `no_visit days=30`."""
        kinds = {param.name: param.kind for param in CATALOGUE[self.when].params}
        shown = " ".join(f"{name}={_shown(value, kinds[name])}" for name, value in self.params)
        return f"{self.when} {shown}".strip()


def _shown(value: ParamValue, kind: Kind) -> str:
    if kind == "money" and isinstance(value, int):
        return f"{value // 100}.{value % 100:02d}"
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return str(value)


@dataclass(frozen=True)
class AccountRules:
    warning_after_days: int = 7  # Warning when days_in_arrears > this
    disabled_after_months: int = 2  # Disabled when A >= oldest_unpaid_on + this many months
    surcharge_cents: int = 100  # per one-off payment; --surcharge overrides it


@dataclass(frozen=True)
class RuleSet:
    account: AccountRules
    customer: tuple[RuleSpec, ...]
    prospect: tuple[RuleSpec, ...]

    @property
    def customer_statuses(self) -> tuple[str, ...]:
        return _unique(rule.status for rule in self.customer)

    @property
    def prospect_statuses(self) -> tuple[str, ...]:
        return _unique(rule.status for rule in self.prospect)

    @property
    def unclassified(self) -> str:
        """The customer table's last rule (`always`): nothing else matched."""
        return self.customer[-1].status

    @property
    def list_order(self) -> tuple[str, ...]:
        """Every list in the decision tables' order (SPEC 9): the customer table, its catch-all
        (Unclassified) included, then the prospect table. The one order of the terminal
        summary, the run report, the metrics and the workbook's sheets and Summary rows."""
        return _unique([*self.customer_statuses, *self.prospect_statuses])


def _unique(names: object) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))  # type: ignore[call-overload]


class RulesRefused(UsageError):
    """The rules file has problems: nothing is read or written (exit 2)."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  {name}: {problem}" for problem in problems)
        super().__init__(f"the rules file {name} is refused ({count}):\n{lines}")


def parse(text: str, name: str) -> RuleSet:
    """The rules document `text` (shown as `name`), checked; RulesRefused lists every
    problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesRefused(name, [_syntax(error)]) from None
    except ValueError as error:
        # An integer of over 4,300 digits: Python's own limit on reading one (a ValueError,
        # not a TOML error). No rule's number is near it.
        raise RulesRefused(name, [f"a number too long to read ({error})"]) from None
    except RecursionError:
        raise RulesRefused(
            name, ["arrays or tables nested too deeply to read; no rule nests at all"]
        ) from None
    problems: list[str] = []
    for key in document:
        if key not in TOP_KEYS:
            problems.append(f"unknown key {key!r}{_near(key, TOP_KEYS)}")
    version = document.get("version")
    if "version" not in document:
        problems.append("version: missing; write `version = 1` at the top")
    elif type(version) is not int or version != 1:
        problems.append(f"version: {version!r} is not supported; this followup reads version 1")
    account = _account(document.get("account", {}), problems)
    tables = {table: _table(document, table, problems) for table in TABLES}
    if not problems:  # every rule read, so each is numbered as in the file
        _one_spelling(tables, problems)
    if problems:
        raise RulesRefused(name, problems)
    return RuleSet(account, tables["customer"], tables["prospect"])


def _syntax(error: tomllib.TOMLDecodeError) -> str:
    found = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
    message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(error))
    if found:
        return f"line {found[1]}, column {found[2]}: TOML syntax: {message}"
    return f"end of file: TOML syntax: {message}"


def _near(word: str, choices: object) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)  # type: ignore[call-overload]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _account(section: object, problems: list[str]) -> AccountRules:
    if not isinstance(section, dict):
        problems.append("account: must be a table ([account])")
        return AccountRules()
    for key in section:
        if key not in ACCOUNT_KEYS:
            problems.append(f"account: unknown key {key!r}{_near(key, ACCOUNT_KEYS)}")
    values: dict[str, int] = {}
    for key in ("warning_after_days", "disabled_after_months"):
        if key in section:
            low, high = ACCOUNT_KEYS[key] or (0, 0)
            got = _integer(section[key], low, high, f"account.{key}", problems)
            if got is not None:
                values[key] = got
    if "surcharge" in section:
        cents = _money(section["surcharge"], 0, "account.surcharge", problems, SURCHARGE_MAX_CENTS)
        if cents is not None:
            values["surcharge_cents"] = cents
    return AccountRules(**values)


def _integer(
    value: object, low: int, high: int | None, where: str, problems: list[str]
) -> int | None:
    if type(value) is not int:
        problems.append(f"{where}: {value!r} is not a whole number")
        return None
    if value < low or (high is not None and value > high):
        upper = f" to {high}" if high is not None else " or more"
        problems.append(f"{where}: {value} is out of range ({low}{upper})")
        return None
    return value


def _money(
    value: object,
    low_cents: int,
    where: str,
    problems: list[str],
    high_cents: int = MONEY_MAX_CENTS,
) -> int | None:
    text = value.strip() if isinstance(value, str) else None
    # ASCII digits only, and the cents counted exactly: Decimal's 28 digits rounded a 31-digit
    # amount, and an amount past 64-bit cents stopped the run with an internal error.
    found = re.fullmatch(r"([0-9]+)(?:\.([0-9]{1,2}))?", text or "")
    if found is None:
        problems.append(f'{where}: {value!r} is not money; write it as text, like "1.00"')
        return None
    assert text is not None, "the pattern matched it"
    whole = found[1].lstrip("0")
    # More digits than the largest amount has are too large, whatever they are (and Python
    # refuses to read an integer of over 4,300 digits: an internal error).
    too_long = len(whole) > len(str(high_cents // 100))
    cents = 0 if too_long else int(whole or "0") * 100 + int((found[2] or "0").ljust(2, "0"))
    if too_long or cents > high_cents:
        shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text):,} characters)"
        problems.append(
            f"{where}: {shown} is too large (at most {high_cents // 100:,}.{high_cents % 100:02d})"
        )
        return None
    if cents < low_cents:
        problems.append(f"{where}: {text} is below the least allowed, {low_cents / 100:.2f}")
        return None
    return cents


def _table(document: dict[str, object], table: Table, problems: list[str]) -> tuple[RuleSpec, ...]:
    rules = document.get(table)
    if rules is None:
        problems.append(f"{table}: no [[{table}]] rules; the file must give the whole table")
        return ()
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        problems.append(f"{table}: must be rules written as [[{table}]]")
        return ()
    if len(rules) > MAX_RULES_PER_TABLE:
        problems.append(
            f"{table}: {len(rules):,} rules; a table holds at most {MAX_RULES_PER_TABLE} "
            f"(each rule is evaluated for every person)"
        )
        return ()
    checked: list[RuleSpec | None] = [
        _rule(rule, table, f"{table}[{number}]", problems)
        for number, rule in enumerate(rules, start=1)
    ]
    _reachable(table, [rule.get("when") for rule in rules], checked, problems)
    return tuple(rule for rule in checked if rule is not None)


def _reachable(
    table: Table, whens: list[object], rules: list[RuleSpec | None], problems: list[str]
) -> None:
    """Exactly one `always`, last; no rule the same as an earlier one (it could never match).
    `whens` are the rules' conditions as written, so a rule refused for another key counts."""
    always = [n for n, when in enumerate(whens, start=1) if when == "always"]
    if len(always) != 1 or always[0] != len(rules):
        where = f"found at {', '.join(f'{table}[{n}]' for n in always)}" if always else "none"
        problems.append(
            f'{table}: the table must end with exactly one rule `when = "always"` ({where})'
        )
    seen: dict[tuple[str, object], int] = {}
    for number, rule in enumerate(rules, start=1):
        if rule is None:
            continue
        # A list of texts matches as a set: ["web", "referral"] is ["referral", "web"].
        params = tuple(
            (name, frozenset(value) if isinstance(value, tuple) else value)
            for name, value in rule.params
        )
        key = (rule.when, params)
        if key in seen and rule.when != "always":
            problems.append(
                f"{table}[{number}] when: can never match: {table}[{seen[key]}] before it has "
                f"the same condition and parameters ({rule.describe()})"
            )
        seen.setdefault(key, number)


def _rule(
    rule: dict[str, object], table: Table, where: str, problems: list[str]
) -> RuleSpec | None:
    before = len(problems)
    when = rule.get("when")
    condition = None
    if when is None:
        problems.append(f"{where} when: missing")
    elif not isinstance(when, str) or when not in CATALOGUE:
        mine = [name for name, c in CATALOGUE.items() if table in c.tables]
        problems.append(f"{where} when: unknown condition {when!r}{_near(str(when), mine)}")
    elif table not in CATALOGUE[when].tables:
        problems.append(f"{where} when: {when!r} is a condition of the other table, not {table}")
    else:
        condition = CATALOGUE[when]
    status = checked_status(rule.get("status"), where, problems)
    names = [p.name for p in condition.params] if condition else []
    for key in rule:
        if key not in (*RULE_KEYS, *names):
            problems.append(f"{where} {key}: unknown key{_near(key, [*RULE_KEYS, *names])}")
    params = _params(rule, condition, where, problems) if condition else ()
    if len(problems) > before or condition is None or status is None:
        return None
    return RuleSpec(str(when), status, params)


def _one_spelling(tables: dict[Table, tuple[RuleSpec, ...]], problems: list[str]) -> None:
    """A list is one name: two statuses the same but for case would be two lists and two
    workbook sheets Excel takes for one."""
    first: dict[str, tuple[str, str]] = {}
    for table in TABLES:
        for number, rule in enumerate(tables[table], start=1):
            where = f"{table}[{number}]"
            spelled, there = first.setdefault(rule.status.casefold(), (rule.status, where))
            if spelled != rule.status:
                problems.append(
                    f"{where} status: {rule.status!r} differs from {spelled!r} ({there}) only in "
                    f"case; spell one list one way"
                )


def _params(
    rule: dict[str, object], condition: Condition, where: str, problems: list[str]
) -> tuple[tuple[str, ParamValue], ...]:
    values: list[tuple[str, ParamValue]] = []
    for param in condition.params:
        here = f"{where} {param.name}"
        if param.name not in rule:
            if param.default is None:
                problems.append(f"{here}: missing ({_needs(param)})")
            else:
                values.append((param.name, param.default))  # type: ignore[arg-type]
            continue
        got = _value(rule[param.name], param, here, problems)
        if got is not None:
            values.append((param.name, got))
    return tuple(values)


def _needs(param: Param) -> str:
    return {
        "money": 'money as text, like "0.01"',
        "days": f"a whole number of days, {param.low} to {param.high}",
        "count": f"a whole number, {param.low} or more",
        "alert": "canceled or expired",
        "texts": 'a list of one or more texts, like ["referral"]',
    }[param.kind]


def _value(value: object, param: Param, where: str, problems: list[str]) -> ParamValue | None:
    if param.kind == "money":
        return _money(value, param.low, where, problems)
    if param.kind in ("days", "count"):
        return _integer(value, param.low, param.high, where, problems)
    if param.kind == "alert":
        if isinstance(value, str) and value.strip().lower() in ALERTS:
            return value.strip().lower()
        problems.append(f"{where}: {value!r} is not canceled or expired{_near(str(value), ALERTS)}")
        return None
    texts = value if isinstance(value, list) else None
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        problems.append(f"{where}: {value!r} must be {_needs(param)}")
        return None
    return tuple(dict.fromkeys(t.strip().lower() for t in texts))
