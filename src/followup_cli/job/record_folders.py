"""The folders of the nightly records (SPEC 8): the tool's own state is made when missing, so
the README's cron line works on its first night in a folder holding only the exports. The
folders of --report and --metrics are made here (the history folder when it is locked); the
output's folder is the person's and must exist."""

from __future__ import annotations

from pathlib import Path

from followup_cli.job.deliver import RefusedRecord
from followup_cli.outputs.destinations import make_folders, remove_made_folders


def make_record_folders(records: list[tuple[str, Path | None]]) -> list[Path]:
    """Make the missing folders above each (option, path), outermost first; the ones made.
    A folder that cannot be made refuses the run before any work, with nothing left made."""
    made: list[Path] = []
    try:
        for option, path in records:
            if path is not None:
                made.extend(_make_above(option, path))
    except BaseException:
        remove_made_folders(made)
        raise
    return made


def _make_above(option: str, path: Path) -> list[Path]:
    missing: list[Path] = []
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        if folder.is_symlink():
            raise RefusedRecord(f"{option} {path}: {folder} is a link to nothing; give a folder")
        missing.append(folder)
        folder = folder.parent
    if not missing:
        return []  # the folder is there, or what is there is judged by the checks that follow
    if not folder.is_dir():
        raise RefusedRecord(f"{option} {path}: {folder} is not a folder; give a folder")
    try:
        return make_folders(path.parent)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RefusedRecord(
            f"{option} {path}: the folder {exc.filename or path.parent} cannot be made ({reason})"
        ) from None
