"""The first thing the `followup` command does, before Polars and Typer are imported: handle
SIGINT, SIGTERM and SIGHUP, so that Ctrl-C in the first few tenths of a second ends the run
with one line and exit 130 instead of a KeyboardInterrupt traceback from inside an import.

Only when this process is the command (the console script or `python -m followup_cli`): a
notebook or a test that imports the command-line module keeps its own Ctrl-C. The handler is
`outputs.signals.install_early`, whose module imports only the standard library, so it is in
place within milliseconds of the command's own code starting; each command then installs
`signals.handled`. What remains is the interpreter's own start-up (about 10 ms), before any of
the project's code runs.

It is also the one moment to tune Polars' memory allocator (jemalloc), which reads its
settings from the environment when Polars is loaded: by default it keeps freed memory for ten
seconds before giving it back, so a run's peak holds every stage's freed working memory on top
of the next stage's. Giving back pages unused for a quarter of a second cut the peak at
1,000,000 customers from 1.88 GB to 1.45 GB for about 1% more time (docs/performance.md);
giving them back at once cost 27%. A setting of the person's own is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

# Only the standard library behind this import (signals is written to stay so).
from followup_cli.outputs import signals


def _is_the_command() -> bool:
    path = sys.argv[0].replace("\\", "/") if sys.argv and sys.argv[0] else ""
    folder, _, name = path.rpartition("/")
    if name.removesuffix(".exe") == "followup":
        return True
    return name == "__main__.py" and folder.endswith("followup_cli")


# jemalloc's settings for the copy inside Polars (its names carry the `_rjem_` prefix there).
ALLOCATOR_VARIABLE = "_RJEM_MALLOC_CONF"
ALLOCATOR_SETTINGS = "dirty_decay_ms:250,muzzy_decay_ms:0"


def tune_allocator(environ: MutableMapping[str, str] = os.environ) -> None:
    """Ask Polars' allocator to give freed memory back within 250 ms, unless the environment
    already says something for it. Must run before Polars is imported; child processes (Ray's
    local workers) inherit it."""
    environ.setdefault(ALLOCATOR_VARIABLE, ALLOCATOR_SETTINGS)


if _is_the_command():
    signals.install_early()
    tune_allocator()
