"""Platform adapters never import the redirect: they build requests from the click events on the
stream, whatever the redirect that wrote them looks like. Each module is imported alone in a fresh
interpreter, so what it pulls in transitively counts too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ROOT / "chalicelib" / "platforms"

PROGRAM = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[:2] == ["chalicelib", "redirect"])))
"""


def platform_modules() -> list[str]:
    """Every module of chalicelib/platforms/, subpackages included."""
    modules = []
    for path in sorted(PLATFORMS.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_every_adapter_module_is_checked():
    assert {"chalicelib.platforms", "chalicelib.platforms.meta"} <= set(platform_modules())


@pytest.mark.parametrize("module", platform_modules())
def test_a_platform_module_does_not_import_the_redirect(module):
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
