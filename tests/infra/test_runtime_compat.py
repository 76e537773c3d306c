"""The bundle's own code (app.py, chalicelib/) runs on the CPython 3.11 the tests use and on the
Lambda runtime's 3.13: no syntax only one of them parses, no standard-library module only 3.11
has (PEP 594's "dead batteries", and the others 3.12 and 3.13 removed)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.infra.templates import PROJECT

# In 3.11's standard library, gone by 3.13: PEP 594 (removed in 3.13; asynchat, asyncore and
# smtpd already in 3.12), distutils (PEP 632, 3.12), imp (3.12), lib2to3 (3.13). Sources: "What's
# New In Python 3.12" and "3.13", "Removed".
REMOVED_BY_313 = frozenset(
    [
        "aifc",
        "asynchat",
        "asyncore",
        "audioop",
        "cgi",
        "cgitb",
        "chunk",
        "crypt",
        "distutils",
        "imghdr",
        "imp",
        "lib2to3",
        "mailcap",
        "msilib",
        "nis",
        "nntplib",
        "ossaudiodev",
        "pipes",
        "smtpd",
        "sndhdr",
        "spwd",
        "sunau",
        "telnetlib",
        "uu",
        "xdrlib",
    ]
)


def sources() -> list:
    return [PROJECT / "app.py", *sorted((PROJECT / "chalicelib").rglob("*.py"))]


def imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_bundles_code_parses_as_python_3_11_and_imports_nothing_3_13_removed():
    removed = {}
    for path in sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 11))
        used = imported_modules(tree) & REMOVED_BY_313
        if used:
            removed[str(path.relative_to(PROJECT))] = sorted(used)
    assert removed == {}


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the list is of 3.11's modules")
def test_the_removed_list_names_only_modules_of_3_11():
    assert sys.stdlib_module_names >= REMOVED_BY_313  # a misspelt name would check nothing


def test_the_bundles_code_parses_on_cpython_3_13():
    sys.path.insert(0, str(PROJECT / "infra"))
    try:
        import package
    finally:
        sys.path.pop(0)
    python = package.bytecode_python(package.Target("python3.13", "arm64"))
    if python is None:
        pytest.skip("no CPython 3.13 here (python3.13 on PATH or pyenv's)")
    result = subprocess.run(
        [python, "-I", "-c", "import ast, sys\nfor p in sys.argv[1:]: ast.parse(open(p).read(), p)"]
        + [str(path) for path in sources()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
