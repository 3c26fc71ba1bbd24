"""`make bench` is never run by `make test`, so its script's own set-up is checked here: the
layout moved under it once and `make bench` failed before measuring anything."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).with_name("bench") / "run_bench.py"


def test_the_bench_finds_the_generator_it_fingerprints() -> None:
    """The fingerprint that decides whether bench data is generated again reads the generator's
    own sources (followup_cli/synthetic)."""
    spec = importlib.util.spec_from_file_location("run_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_bench"] = module
    try:
        spec.loader.exec_module(module)
        first = module.generator_fingerprint()
        assert len(first) == 16
        assert (module.ROOT / "src" / "followup_cli" / "synthetic" / "generate.py").is_file()
    finally:
        del sys.modules["run_bench"]
