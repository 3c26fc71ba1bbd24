"""The buckets' work folder (SPEC 10): beside a regular output file, else in the system's
temporary folder (never beside a device, a FIFO or `/dev/stdout`, which would put it in
`/dev`), and removed however the run ends."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from followup_cli.core.errors import OutputError
from followup_cli.outputs import signals
from followup_cli.outputs.destinations import is_special

WORK_PREFIX = ".followup-buckets-"


def work_parent(output: Path | None) -> Path:
    """Where the work folder goes: the output file's folder when the output is a regular file
    (an absolute path: a Ray worker writes its output rows there from a folder of its own),
    else the system's temporary folder. Whether the output is a regular file is the writer's
    own verdict (`writing.is_special`), so the two never disagree."""
    if output is not None and output.parent.is_dir() and not is_special(output):
        return output.parent.absolute()
    return Path(tempfile.gettempdir())


@contextlib.contextmanager
def work_folder(output: Path | None) -> Iterator[Path]:
    """A fresh work folder (see `work_parent`), removed however the run ends: at the end, on
    an error, and on a signal (registered with `signals`)."""
    parent = work_parent(output)
    with signals.deferred():
        try:
            work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=parent))
        except OSError as exc:
            raise OutputError(
                f"--buckets: cannot make a work folder in {parent} ({exc.strerror or exc}); "
                f"nothing was written"
            ) from exc
        signals.track(work)
    try:
        yield work
    finally:
        with signals.deferred():
            shutil.rmtree(work, ignore_errors=True)
            signals.forget(work)
