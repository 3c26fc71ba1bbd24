"""The command tunes Polars' allocator before Polars is loaded (cli/start.py): freed memory is
given back sooner, which lowers a large run's peak (docs/performance.md). Measured by
`make bench`, not here; these tests hold the setting's when, where and whose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from followup_cli.cli import start

_PROBE = (
    "import os, sys; sys.argv = [{argv!r}]; "
    "import followup_cli.cli.start; "
    "print(repr(os.environ.get('_RJEM_MALLOC_CONF')), 'polars' in sys.modules)"
)


def _probe(argv: str, **extra: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != start.ALLOCATOR_VARIABLE}
    environ.update(extra)
    code = _PROBE.format(argv=argv)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environ
    ).stdout.strip()


def test_the_command_sets_the_allocator_before_polars_is_loaded() -> None:
    assert _probe("/usr/local/bin/followup") == "'dirty_decay_ms:250,muzzy_decay_ms:0' False"
    assert (
        _probe("/x/src/followup_cli/__main__.py") == "'dirty_decay_ms:250,muzzy_decay_ms:0' False"
    )


def test_a_setting_of_the_persons_own_is_kept() -> None:
    assert _probe("/usr/local/bin/followup", _RJEM_MALLOC_CONF="narenas:1") == "'narenas:1' False"
    mine = "dirty_decay_ms:500,muzzy_decay_ms:1000,narenas:2"
    assert _probe("/usr/local/bin/followup", _RJEM_MALLOC_CONF=mine) == f"{mine!r} False"


@pytest.mark.parametrize(
    "inherited",
    [
        "",
        # What `import polars` in a parent process (a scheduler, `make bench`) leaves there.
        "dirty_decay_ms:500,muzzy_decay_ms:1000",
        "dirty_decay_ms:500,muzzy_decay_ms:1000,dirty_decay_ms:500,muzzy_decay_ms:1000",
        # A parent with POLARS_THP=1 (Polars adds these two after its default).
        "dirty_decay_ms:500,muzzy_decay_ms:1000,thp:always,metadata_thp:always",
    ],
)
def test_polars_own_default_passed_on_is_not_a_persons_setting(inherited: str) -> None:
    tuned = "'dirty_decay_ms:250,muzzy_decay_ms:0' False"
    assert _probe("/usr/local/bin/followup", _RJEM_MALLOC_CONF=inherited) == tuned


def test_importing_polars_still_sets_what_the_command_recognises() -> None:
    """POLARS_DEFAULT is what this Polars puts there: if a Polars upgrade changes it, the
    command would take it for a person's setting and leave the allocator untuned."""
    code = "import os, polars; print(os.environ['_RJEM_MALLOC_CONF'])"
    environ = {k: v for k, v in os.environ.items() if k != start.ALLOCATOR_VARIABLE}
    environ.pop("POLARS_THP", None)
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environ
    ).stdout.strip()
    assert found == start.POLARS_DEFAULT
    environ["POLARS_THP"] = "1"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environ
    ).stdout.strip()
    assert found == f"{start.POLARS_DEFAULT},{start.POLARS_THP}"


def test_a_program_importing_the_command_keeps_its_allocator() -> None:
    """A notebook or a test that imports the command-line module is not the command."""
    assert _probe("/usr/bin/ipython") == "None False"


def test_tune_allocator_only_fills_a_gap() -> None:
    environ: dict[str, str] = {}
    start.tune_allocator(environ)
    assert environ == {"_RJEM_MALLOC_CONF": "dirty_decay_ms:250,muzzy_decay_ms:0"}
    given = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:0"}
    start.tune_allocator(given)
    assert given == {"_RJEM_MALLOC_CONF": "dirty_decay_ms:0"}
    polars = {"_RJEM_MALLOC_CONF": start.POLARS_DEFAULT}
    start.tune_allocator(polars)
    assert polars == {"_RJEM_MALLOC_CONF": "dirty_decay_ms:250,muzzy_decay_ms:0"}
