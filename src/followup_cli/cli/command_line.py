"""Reconcile's options as one job request, from the values Click read or, when Click refused
the command line (an unknown option, a missing value), from as much of it as can be read, so
that the refused run still records itself where its --report and --metrics say (SPEC 8).
Typer carries its own copy of Click (`typer._click`), whose command and options are read here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from typer._click.core import Command
from typer.core import TyperOption as Option

from followup_cli.job.outcome import Said
from followup_cli.job.records import record_usage_error
from followup_cli.job.request import Inputs, JobRequest, Lists, Outputs, Records
from followup_cli.scaleout.buckets import Scale


def request_from(given: Mapping[str, Any]) -> JobRequest:
    """The job request for reconcile's options by parameter name: the values Click made, or
    the text read from a command line it refused (a missing name takes reconcile's default)."""

    def text(name: str, default: Any = None) -> Any:
        value = given.get(name, default)
        return value.value if isinstance(value, Enum) else value

    def path(name: str) -> Path | None:
        value = given.get(name)
        return None if value is None else Path(value)

    def listed(name: str) -> tuple[str, ...]:
        return tuple(given.get(name) or ())

    return JobRequest(
        inputs=Inputs(
            data=path("data") or Path("."),
            customers=path("customers"),
            agreements=path("agreements"),
            payments=path("payments"),
            events=path("events"),
            without=listed("without"),
        ),
        as_of=text("as_of"),
        surcharge=text("surcharge"),
        rules=path("rules"),
        outputs=Outputs(
            output=text("output"),
            format=text("fmt"),
            rejects=path("rejects"),
            changes=path("changes"),
            on_error=text("on_error", "reject"),
            # An empty --max-rejected is a usage error, not the default: only an absent one is.
            **(
                {"max_rejected": given["max_rejected"]}
                if given.get("max_rejected") is not None
                else {}
            ),
        ),
        lists=Lists(
            status=listed("status"),
            sort=text("sort"),
            carry=listed("carry"),
            raw_text=bool(given.get("raw_text")),
            bom=bool(given.get("bom")),
            split_by=text("split_by"),
        ),
        records=Records(
            report=path("report"),
            metrics=path("metrics_file"),
            history=path("history"),
            previous=path("previous"),
        ),
        scale=Scale(text("bucket_count"), text("engine", "local"), text("ray_address")),
        quiet=bool(given.get("quiet")),
    )


def as_far_as_read(command: Command, args: Sequence[str]) -> dict[str, Any]:
    """The options of `command` in `args`, by parameter name, read the way Click reads them
    (`--name value`, `--name=value`, `-o value`, `-ovalue`; the last one wins, a repeatable
    one collects) without stopping at what Click refused: an unknown option is passed over."""
    options = {name: p for p in command.params if isinstance(p, Option) for name in p.opts}
    given: dict[str, Any] = {}
    tokens = iter(args)
    for token in tokens:
        if token == "--":
            break
        name, attached = _split(token, options)
        option = options.get(name)
        if option is None or option.name is None:
            continue
        if option.is_flag:
            given[option.name] = True
            continue
        value = attached if attached is not None else next(tokens, None)
        if value is None:
            break  # the option's value is missing: Click's error says so
        if option.multiple:
            given.setdefault(option.name, []).append(value)
        else:
            given[option.name] = value
    return given


def _split(token: str, options: Mapping[str, Option]) -> tuple[str, str | None]:
    """An option token's name and the value written into it, if any."""
    if token.startswith("--"):
        name, equals, value = token.partition("=")
        return name, value if equals else None
    if token.startswith("-") and len(token) > 2 and token[:2] in options:
        return token[:2], token[2:]
    return token, None


def record_refused(command: Command, args: Sequence[str], error: str) -> Said:
    """Record a reconcile run that Click refused, where its --report and --metrics say."""
    return record_usage_error(request_from(as_far_as_read(command, args)), error)
