"""`followup rules init | check FILE | show [--rules FILE]` (SPEC 11), and the `--rules`
option every command that reconciles takes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from followup_cli.cli import app as shared
from followup_cli.core.default_rules import DEFAULT_TEXT
from followup_cli.core.rules_file import RuleSet, RuleSpec
from followup_cli.job.rules import read_rules
from followup_cli.outputs.writing import write_stdout

RulesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        metavar="FILE",
        help="A rules file (TOML, `followup rules init` writes the defaults) that replaces the "
        "thresholds, the lists and their order. Example: --rules rules.toml",
        show_default=False,
    ),
]

rules_app = typer.Typer(
    name="rules",
    help="Write, check and show the rules a gym can change (thresholds, lists, their order). "
    "Example: followup rules init > rules.toml",
    no_args_is_help=True,
    add_completion=False,
)
shared.app.add_typer(rules_app)


@rules_app.command("init")
@shared.guarded
def init() -> None:
    """Print the default rules file, every key explained.

    Example:

        followup rules init > rules.toml
    """
    write_stdout(DEFAULT_TEXT.encode())


@rules_app.command("check")
@shared.guarded
def check(
    file: Annotated[Path, typer.Argument(help="The rules file. Example: rules.toml")],
) -> None:
    """Check a rules file: print its tables (exit 0), or every problem (exit 2).

    Example:

        followup rules check rules.toml
    """
    rules, recorded = read_rules(file)
    write_stdout(shown(rules, recorded).encode())


@rules_app.command("show")
@shared.guarded
def show(rules_file: RulesOpt = None) -> None:
    """Print the rules in force: the defaults, or those of --rules FILE.

    Example:

        followup rules show --rules rules.toml
    """
    rules, recorded = read_rules(rules_file)
    write_stdout(shown(rules, recorded).encode())


def shown(rules: RuleSet, recorded: dict[str, str] | None) -> str:
    """The rules as a person checks them: where from, the account thresholds, each table."""
    a = rules.account
    source = (
        f"rules file {recorded['path']} (sha256 {recorded['sha256']})"
        if recorded
        else "the default rules"
    )
    lines = [
        f"Rules in force: {source}",
        "",
        "account (SPEC 3)",
        f"  Warning when more than {a.warning_after_days} days in arrears",
        f"  Disabled {a.disabled_after_months} months after the oldest unpaid charge",
        f"  surcharge per one-off payment {a.surcharge_cents // 100}.{a.surcharge_cents % 100:02d}",
    ]
    for table, specs in (("customer", rules.customer), ("prospect", rules.prospect)):
        lines += ["", f"{table} table, first match wins", *_table(table, specs)]
    return "\n".join(lines) + "\n"


def _table(table: str, specs: tuple[RuleSpec, ...]) -> list[str]:
    labels = [f"{table}[{n}]" for n in range(1, len(specs) + 1)]
    width = max(len(label) for label in labels)
    conditions = [spec.describe() for spec in specs]
    cwidth = max(len(text) for text in conditions)
    return [
        f"  {label:<{width}}  {condition:<{cwidth}}  -> {spec.status}"
        for label, condition, spec in zip(labels, conditions, specs, strict=True)
    ]
