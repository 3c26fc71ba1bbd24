"""Opening a workbook the way its users do: LibreOffice converts it headless (to PDF, or to a CSV
per sheet), with a profile of the test's own so that another LibreOffice running on the machine
does not share it. One helper for every test that looks at a workbook through LibreOffice."""

from __future__ import annotations

import subprocess
from pathlib import Path


def convert(book: Path, target: str, out: Path, work: Path) -> None:
    """`soffice --convert-to TARGET` of `book` into the folder `out`; `work` holds the profile."""
    out.mkdir(parents=True, exist_ok=True)
    profile = (work / "lo-profile").as_uri()
    done = subprocess.run(
        [
            *("soffice", f"-env:UserInstallation={profile}", "--headless"),
            *("--convert-to", target, "--outdir", str(out), str(book)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
