"""followup: follow-up lists and subscription account status from club-system exports.

The nightly job is a library call as well as a command (README, "Use it from Python"):

    from followup_cli import Inputs, JobRequest, run_job
    outcome = run_job(JobRequest(inputs=Inputs(data=Path("exports")), as_of="yesterday"))

The names below are loaded on first use (PEP 562): `import followup_cli` stays cheap, as the
command needs it to be before its early signal handler is in place (cli/start.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Each exported name, and the module it lives in.
_HOMES = {
    "run_job": "followup_cli.job.nightly",
    "JobOutcome": "followup_cli.job.outcome",
    "JobRequest": "followup_cli.job.request",
    "Inputs": "followup_cli.job.request",
    "Outputs": "followup_cli.job.request",
    "Lists": "followup_cli.job.request",
    "Records": "followup_cli.job.request",
    "Scale": "followup_cli.scaleout.buckets",
    "EXIT_OK": "followup_cli.core.errors",
    "EXIT_REJECTED_ROWS": "followup_cli.core.errors",
    "EXIT_USAGE": "followup_cli.core.errors",
    "EXIT_NOTHING_RECONCILED": "followup_cli.core.errors",
}

__all__ = [
    "EXIT_NOTHING_RECONCILED",
    "EXIT_OK",
    "EXIT_REJECTED_ROWS",
    "EXIT_USAGE",
    "Inputs",
    "JobOutcome",
    "JobRequest",
    "Lists",
    "Outputs",
    "Records",
    "Scale",
    "__version__",
    "run_job",
]

if TYPE_CHECKING:
    from followup_cli.core.errors import (
        EXIT_NOTHING_RECONCILED,
        EXIT_OK,
        EXIT_REJECTED_ROWS,
        EXIT_USAGE,
    )
    from followup_cli.job.nightly import run_job
    from followup_cli.job.outcome import JobOutcome
    from followup_cli.job.request import Inputs, JobRequest, Lists, Outputs, Records
    from followup_cli.scaleout.buckets import Scale


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'followup_cli' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
