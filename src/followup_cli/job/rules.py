"""`--rules FILE` (SPEC 11): the rules file read, checked and recorded, for every command that
reconciles. Reading the bytes is here; checking them is `core.rules_file`'s pure work."""

from __future__ import annotations

import hashlib
import stat
from decimal import Decimal
from pathlib import Path

from followup_cli.core.default_rules import DEFAULT_RULES
from followup_cli.core.errors import UsageError
from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.rules_file import RuleSet, RulesRefused, parse
from followup_cli.job import options
from followup_cli.outputs.destinations import read_regular

# Far above any real file: the defaults are 4 KiB, a thousand rules about 70 KiB.
RULES_LIMIT = 2**20


def read_rules(path: Path | None) -> tuple[RuleSet, dict[str, str] | None]:
    """The rules in force and what the run report records of them ({path, sha256}; None for
    the defaults). A missing, unreadable or refused file is a usage error (exit 2)."""
    if path is None:
        return DEFAULT_RULES, None
    shown = str(path)
    data = _rules_bytes(Path(path), shown)
    try:
        # A BOM, as Windows Notepad saves UTF-8, is not part of the TOML (tomllib refuses it).
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise RulesRefused(shown, [f"byte {error.start}: not UTF-8 text (TOML is UTF-8)"]) from None
    rules = parse(text, shown)
    return rules, {"path": shown, "sha256": hashlib.sha256(data).hexdigest()}


def _rules_bytes(path: Path, shown: str) -> bytes:
    """The file's bytes: a regular file only, as the exports (a FIFO blocked the run until a
    writer came, /dev/zero never ended), and no more than RULES_LIMIT."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UsageError(
            f"--rules {shown}: no such file (`followup rules init` writes one)"
        ) from None
    except OSError as error:
        raise UsageError(f"--rules {shown}: cannot be read ({error.strerror})") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"--rules {shown}: is a folder, not a rules file")
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"--rules {shown}: not a regular file (a pipe, device or socket); "
            f"save the rules to a file first"
        )
    data = read_regular(path, RULES_LIMIT)
    if data is None:  # gone, unreadable or swapped for something else since
        raise UsageError(f"--rules {shown}: cannot be read")
    if len(data) > RULES_LIMIT:
        raise UsageError(
            f"--rules {shown}: more than {RULES_LIMIT // 2**20} MiB, too big for a rules file; "
            f"is it the right file?"
        )
    return data


def settings_for(
    path: Path | None, surcharge: str | Decimal | None
) -> tuple[LedgerSettings, dict[str, str] | None]:
    """The ledger settings of a run: the rules file's (or the defaults), its surcharge unless
    --surcharge gives one."""
    rules, recorded = read_rules(path)
    cents = (
        rules.account.surcharge_cents if surcharge is None else options.surcharge_cents(surcharge)
    )
    return LedgerSettings(surcharge_cents=cents, rules=rules), recorded
