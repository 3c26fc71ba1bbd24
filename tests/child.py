"""A piece of followup run in a child process, for what a test cannot see in its own: the
peak memory of that piece alone, or a timeout that stops a reader taking minutes.

Each script sets `result` (a dict); `in_child` runs it, adds the child's peak memory in MB
(`peak_mb`), and returns it with the child's standard error (`stderr`)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a child of a large pytest
# process would report its parent's peak.
_PEAK = """
import json as _json
from pathlib import Path as _Path
_status = _Path("/proc/self/status").read_text().splitlines()
result["peak_mb"] = next(int(l.split()[1]) for l in _status if l.startswith("VmHWM:")) // 1024
print(_json.dumps(result))
"""


def in_child(script: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script + _PEAK, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    found["stderr"] = done.stderr
    return found
