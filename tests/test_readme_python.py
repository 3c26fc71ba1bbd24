"""The README's "Use it from Python" example runs as it is written (issue 19 item 1)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_python_example_runs_as_written(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Use it from Python") :]
    example = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert example is not None, "a python block in 'Use it from Python'"
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    done = subprocess.run(
        [sys.executable, "-c", example.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The sample's one Delinquent Customer is C-5 (README's worked table).
    assert done.stdout.strip().splitlines()[-1] == "Delinquent tonight: 1"
    assert "warning: payments: the newest row is from 2024-07-02" in done.stdout
    golden = (ROOT / "tests" / "golden" / "sample_2024-07-31.csv").read_bytes()
    assert (tmp_path / "out" / "followup.csv").read_bytes() == golden
    assert (tmp_path / "runs" / "as_of=2024-07-31" / "followup.parquet").is_file()
