"""The quick start stays light (issue 20): `make demo` installs only the runtime, the targets that
need the dev tools and Ray add them, and the README explains the warning the demo prints.

The Makefile runs for real in a scratch folder whose `.venv/bin/python` is a stand-in that logs
what it was asked to do, so nothing is installed and no network is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE = """#!/bin/sh
echo "$*" >> "{log}"
"""  # logs its arguments; `-m venv` and `-m pip install` do nothing


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The Makefile and pyproject.toml in a scratch folder with a stand-in venv."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    os.utime(tmp_path / "pyproject.toml", (1_000_000_000, 1_000_000_000))
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "followup", "ruff", "mypy"):
        script = bin_dir / name
        script.write_text(FAKE.format(log=tmp_path / "calls.log"))
        script.chmod(0o755)
    return tmp_path


def installs(project: Path, target: str) -> list[str]:
    """Run `make TARGET`; the extras of each install of the project it asked pip for."""
    log = project / "calls.log"
    log.unlink(missing_ok=True)
    subprocess.run(
        ["make", "--no-print-directory", target, f"PYTHON={project / '.venv/bin/python'}"],
        cwd=project,
        check=True,
        capture_output=True,
        timeout=60,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return [
        call.split()[-1].strip("'\"")[1:]
        for call in calls
        if call.startswith("-m pip install") and " -e " in call
    ]


def test_demo_installs_the_runtime_only(project: Path) -> None:
    assert installs(project, "demo") == [""]
    assert installs(project, "demo") == []


@pytest.mark.parametrize("target", ["test", "lint", "bench", "install"])
def test_demo_then_a_developer_target_adds_dev_and_ray(project: Path, target: str) -> None:
    assert installs(project, "demo") == [""]
    assert installs(project, target) == ["[dev,ray]"]
    assert installs(project, target) == []
    assert installs(project, "demo") == []


def test_test_then_demo_installs_nothing_and_never_the_extras(project: Path) -> None:
    """The full install covers the demo; after a change of the project's metadata the demo
    reinstalls the runtime only (pip keeps what is installed, so nothing is taken away)."""
    assert installs(project, "test") == ["[dev,ray]"]
    assert installs(project, "demo") == []
    os.utime(project / "pyproject.toml")
    assert installs(project, "demo") == [""]
    assert installs(project, "test") == ["[dev,ray]"]


def test_the_readme_explains_the_warning_the_demo_prints() -> None:
    """The sample is a fixed July 2024 export, so the stale-export check (SPEC 8) warns about
    its payments; the README's sample data section quotes that warning and says why."""
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("followup")),
            "reconcile",
            "--data",
            str(ROOT / "sample_data"),
            "--as-of",
            "2024-07-31",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 0, run.stderr
    printed = [
        line.strip() for line in (run.stdout + run.stderr).splitlines() if "warning:" in line
    ]
    assert printed, "the demo no longer warns; update the README's sample data section"
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The sample data", 1)[1].split("\n## ", 1)[0]
    quoted = " ".join(section.split())
    for warning in printed:
        assert " ".join(warning.split()) in quoted
    assert "SPEC 8" in section
