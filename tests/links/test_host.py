"""Host names: one normaliser for the stored domain, the Host header and the postback's host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.config.loader import load_config_text
from chalicelib.links.host import normalize_host


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("go.example", "go.example"),
        ("Go.Example:8000", "go.example"),
        ("go.example.", "go.example"),
        ("  go.localhost ", "go.localhost"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example:443", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("straße.example", "xn--strae-oqa.example"),
        ("shop\uff0eexample\u3002", "shop.example"),  # fullwidth and ideographic full stops
        ("ab--c.example", None),  # hyphens in 3rd and 4th position: punycode labels only
        ("go.example..", None),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8000", "[::1]"),
        ("", None),
        (None, None),
        ("go.example:http", None),
        ("a..b", None),
        ("evil.example/path", None),
        ("evil.example\r\nX-Injected: 1", None),
        ("-bad.example", None),
        ("x" * 64 + ".example", None),
        ("[not-an-ip]", None),
        ("a:b:c", None),
        ("\udcff.example", None),
    ],
)
def test_host_is_lower_cased_port_stripped_and_punycoded(raw, expected):
    assert normalize_host(raw) == expected
    assert normalize_host(expected) == expected  # a stored name looks itself up


IDNA_PROBE = """
import sys
from chalicelib.redirect.request import RequestFacts
for host in ("go.example", "Go.Example:8443", "xn--strae-oqa.example", "[::1]"):
    RequestFacts.from_request(method="GET", host=None, path="/x", headers={"Host": host})
print("idna" in sys.modules)
RequestFacts.from_request(method="GET", host=None, path="/x", headers={"Host": "straße.example"})
print("idna" in sys.modules)
"""


def test_an_ascii_host_never_loads_idna():
    # The idna package costs ~10 ms at import: a cold start with an ASCII (or punycode) Host
    # header, nearly every request, does without it.
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", IDNA_PROBE], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "True"]


def test_strasse_is_another_host_than_strasse_with_sharp_s():
    # IDNA 2003 mapped ß to ss; browsers no longer do, and neither does the config.
    assert normalize_host("strasse.example") == "strasse.example"
    assert normalize_host("straße.example") == "xn--strae-oqa.example"


@pytest.mark.parametrize(
    "name",
    ["go.example", "Go.Example.", "Bücher.example", "straße.example", "ПРИМЕР.рф", "shop．example"],
)
def test_the_config_stores_a_domain_under_the_name_a_request_looks_up(name):
    config = load_config_text(f"version: 1\ndomains:\n  - name: {name}\n", "links.yaml")
    assert config.domains[0].name == normalize_host(name) == normalize_host(f"{name}:443")
