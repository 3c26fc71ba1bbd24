"""The package's layers import one way only (issue 19): read from the source with `ast`, so a
lazy import inside a function counts as much as one at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

import followup_cli

PACKAGE = Path(followup_cli.__file__).parent
# Lowest first: a layer may import its own modules and those of the layers before it.
ORDER = ("core", "reading", "outputs", "nightly", "scaleout", "job", "cli")
# `synthetic` (followup generate) makes exports: it stands beside the run, on core and outputs.
ALLOWED = {layer: set(ORDER[: index + 1]) for index, layer in enumerate(ORDER)}
ALLOWED["synthetic"] = {"synthetic", "core", "outputs"}
ALLOWED["cli"] |= {"synthetic"}
# Only these outside libraries may be imported by a layer that is not the command line.
COMMAND_LINE_ONLY = ("typer", "rich", "click")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports, absolute, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            module = node.module or ""
            found.append((node.lineno, module))
            if module == "followup_cli":
                found += [(node.lineno, f"followup_cli.{alias.name}") for alias in node.names]
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "followup_cli" else None


def modules() -> list[tuple[str, Path]]:
    return [(path.relative_to(PACKAGE).parts[0], path) for path in sorted(PACKAGE.glob("*/*.py"))]


def test_every_module_lives_in_a_layer() -> None:
    loose = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert loose == set()
    assert {layer for layer, _ in modules()} == set(ALLOWED)


def test_imports_go_one_way() -> None:
    wrong = []
    for layer, path in modules():
        for line, module in imports_of(path):
            target = layer_of(module)
            if target is not None and target in ALLOWED and target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert wrong == []


def test_only_the_command_line_imports_typer_or_rich() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {module}"
        for layer, path in modules()
        if layer != "cli"
        for line, module in imports_of(path)
        if module.split(".")[0] in COMMAND_LINE_ONLY
    ]
    assert wrong == []


def test_the_core_reads_and_writes_no_file() -> None:
    """The rules core computes: opening files, the operating system and subprocesses are the
    other layers' work. (A `Path` as a name is fine; reading or writing through it is not.)"""
    io_modules = {"os", "shutil", "subprocess", "tempfile", "io", "fcntl", "signal"}
    wrong = []
    for layer, path in modules():
        if layer != "core":
            continue
        tree = ast.parse(path.read_text())
        for line, module in imports_of(path):
            if module.split(".")[0] in io_modules:
                wrong.append(f"{path.name}:{line} imports {module}")
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if called and node.func.id == "open":  # type: ignore[attr-defined]
                wrong.append(f"{path.name}:{node.lineno} calls open()")
            if isinstance(node, ast.Attribute) and node.attr.startswith(
                ("read_", "write_", "scan_", "sink_")
            ):
                wrong.append(f"{path.name}:{node.lineno} uses .{node.attr}")
    assert wrong == []


def test_a_wrong_import_is_caught(tmp_path: Path) -> None:
    """The checker itself can fail: a core module importing the command line is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("from followup_cli.cli import render\nimport followup_cli.reading.run\n")
    targets = [layer_of(module) for _, module in imports_of(bad)]
    assert [t for t in targets if t and t not in ALLOWED["core"]] == ["cli", "reading"]
