"""The first thing the `followup` command does, before Polars and Typer are imported: handle
SIGINT, SIGTERM and SIGHUP, so that Ctrl-C in the first few tenths of a second ends the run
with one line and exit 130 instead of a KeyboardInterrupt traceback from inside an import.

Only when this process is the command (the console script or `python -m followup_cli`): a
notebook or a test that imports the command-line module keeps its own Ctrl-C. The handler is
`outputs.signals.install_early`, whose module imports only the standard library, so it is in
place within milliseconds of the command's own code starting; each command then installs
`signals.handled`. What remains is the interpreter's own start-up (about 10 ms), before any of
the project's code runs.
"""

from __future__ import annotations

import sys

# Only the standard library behind this import (signals is written to stay so).
from followup_cli.outputs import signals


def _is_the_command() -> bool:
    path = sys.argv[0].replace("\\", "/") if sys.argv and sys.argv[0] else ""
    folder, _, name = path.rpartition("/")
    if name.removesuffix(".exe") == "followup":
        return True
    return name == "__main__.py" and folder.endswith("followup_cli")


if _is_the_command():
    signals.install_early()
