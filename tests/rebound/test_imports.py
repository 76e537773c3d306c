"""Nothing imports the command line or the local stack: `rebound.cli` is the entry point a person
runs, `rebound.local` is what `rebound local` starts. Only the CLI itself (which starts the local
stack) and their own tests, under tests/rebound/, may import them; chalicelib/, bench/, infra/ and
the other tests reach the emulated stack through infra/provision.py."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("chalicelib", "bench", "infra", "rebound", "tests")
WALLED = frozenset({"rebound.cli", "rebound.local"})
ALLOWED = (
    "rebound/cli.py",  # `rebound local` starts the local stack
    "tests/rebound/",  # their own tests
    "tests/faults/paths.py",  # the fault matrix's `apply` path drives `rebound apply` as a marketer does
)


def imported_modules(source: str, package: tuple[str, ...]) -> set[str]:
    """Every module a source file imports, anywhere in it (functions included), relative ones
    resolved against the file's package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def importers() -> dict[str, set[str]]:
    """Source files that import rebound.cli or rebound.local, with what they import of them."""
    found = {}
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            package = path.relative_to(ROOT).with_suffix("").parts[:-1]
            modules = imported_modules(path.read_text(encoding="utf-8"), package)
            walled = {m for m in modules if any(m == w or m.startswith(w + ".") for w in WALLED)}
            if walled:
                found[path.relative_to(ROOT).as_posix()] = walled
    return found


def test_only_the_cli_and_their_own_tests_import_the_cli_or_the_local_stack():
    outside = {path: m for path, m in importers().items() if not path.startswith(ALLOWED)}
    assert outside == {}


def test_the_check_sees_the_imports_it_allows():
    seen = importers()
    assert seen["rebound/cli.py"] == {
        "rebound.local",
        "rebound.local.run_local_stack",
        "rebound.local.seed_secrets",
    }
    assert any(path.startswith("tests/rebound/") for path in seen)


def test_relative_and_nested_imports_are_resolved():
    source = "def f():\n    from . import cli\n    from .local import provision\n"
    assert {"rebound.cli", "rebound.local.provision"} <= imported_modules(source, ("rebound",))


def test_the_product_infra_and_benchmarks_import_nothing_of_the_command_line_package():
    """chalicelib, app.py, infra/ and bench/ stand below the CLI: not even its small modules
    (`rebound.target`, `rebound.worker`) may be reached from there."""
    offenders = {}
    paths = [ROOT / "app.py"] + [
        p for top in ("chalicelib", "infra", "bench") for p in sorted((ROOT / top).rglob("*.py"))
    ]
    for path in paths:
        package = path.relative_to(ROOT).with_suffix("").parts[:-1]
        modules = imported_modules(path.read_text(encoding="utf-8"), package)
        cli = {m for m in modules if m == "rebound" or m.startswith("rebound.")}
        if cli:
            offenders[path.relative_to(ROOT).as_posix()] = cli
    assert offenders == {}
