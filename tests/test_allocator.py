"""The command tunes Polars' allocator before Polars is loaded (cli/start.py): freed memory is
given back within 250 ms, which lowers a large run's peak (docs/performance.md). Measured by
`make bench`, not here; these tests hold the setting's when, where and whose."""

from __future__ import annotations

import os
import subprocess
import sys

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
    # Even an empty one: the person asked for jemalloc's defaults.
    assert _probe("/usr/local/bin/followup", _RJEM_MALLOC_CONF="") == "'' False"


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
