"""The first thing the `followup` command does, before Polars and Typer are imported: handle
SIGINT, SIGTERM and SIGHUP, so that Ctrl-C in the first few tenths of a second ends the run
with one line and exit 130 instead of a KeyboardInterrupt traceback from inside an import.

Only when this process is the command (the console script or `python -m followup_cli`): a
notebook or a test that imports the command-line module keeps its own Ctrl-C. Nothing but
`signal` and `sys` (built into the interpreter) is imported here, so the handler is in place
within a millisecond of the command's own code starting; `main()` then hands over to
`signals.install_early`, and each command to `signals.handled`. What remains is the
interpreter's own start-up (about 10 ms), before any of the project's code runs.
"""

from __future__ import annotations

import signal
import sys

_HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_early(signum: int, _frame: object) -> None:
    # Nothing has been written yet: no file to remove, one line, 128 + signum. SystemExit
    # leaves the interpreter quietly even from inside an import.
    name = signal.Signals(signum).name
    sys.stderr.write(f"followup: error: interrupted by {name}; no partial file was left\n")
    sys.stderr.flush()
    raise SystemExit(128 + signum)


def _is_the_command() -> bool:
    path = sys.argv[0].replace("\\", "/") if sys.argv and sys.argv[0] else ""
    folder, _, name = path.rpartition("/")
    if name.removesuffix(".exe") == "followup":
        return True
    return name == "__main__.py" and folder.endswith("followup_cli")


if _is_the_command():
    for _signum in _HANDLED:
        # A signal the parent ignores stays ignored (nohup).
        if signal.getsignal(_signum) is not signal.SIG_IGN:
            signal.signal(_signum, _stop_early)
