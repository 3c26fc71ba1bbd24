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
settings from the environment when Polars is loaded. Polars asks it to purge freed pages
after 500 ms and to keep lazily freed ("muzzy") ones for a second, and those still count in
the process's resident memory, so a run's peak held much of each stage's freed working memory
on top of the next stage's. Purging pages unused for a quarter of a second, and muzzy ones at
once, cut the peak at 1,000,000 customers from 1.69 GB to 1.25 GB for about 1% more time
(docs/performance.md); purging everything at once cost 27%. A setting of the person's own is
kept; Polars' own default, which a parent process that imported Polars passes on, is not one.
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
# What `import polars` puts in front of the variable (polars/__init__.py, polars 2.1), and so
# exports to every process started after it: not a person's choice.
POLARS_DEFAULT = "dirty_decay_ms:500,muzzy_decay_ms:1000"
# ... followed by these when POLARS_THP=1 (which Polars adds again itself, when it loads here).
POLARS_THP = "thp:always,metadata_thp:always"


def tune_allocator(environ: MutableMapping[str, str] = os.environ) -> None:
    """Ask Polars' allocator to give freed memory back sooner (ALLOCATOR_SETTINGS), unless
    the environment holds a setting of the person's own. Must run before Polars is imported;
    child processes (Ray's local workers) inherit it."""
    given = environ.get(ALLOCATOR_VARIABLE, "")
    while given.startswith(POLARS_DEFAULT):
        given = given.removeprefix(POLARS_DEFAULT).removeprefix(",")
        given = given.removeprefix(POLARS_THP).removeprefix(",")
    if not given.strip(", "):
        environ[ALLOCATOR_VARIABLE] = ALLOCATOR_SETTINGS


if _is_the_command():
    signals.install_early()
    tune_allocator()
