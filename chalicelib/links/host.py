"""Host names as stored and as looked up: one normaliser for the config, the redirect and the
conversion postback, so that a domain is found under the name it was stored with.

The stored form: lower case, no port, no trailing dot, and an internationalised name in its ASCII
form, IDNA 2008 with the UTS #46 mapping, as browsers send it (``straße.example`` ->
``xn--strae-oqa.example``; IDNA 2003, Python's ``"idna"`` codec, would say ``strasse.example``,
another host).

Plain Python (no pydantic, no boto3): the redirect normalises every request's Host header here.
An ASCII name, nearly every request's, is checked against a pattern; the ``idna`` package is
imported only for a name with a non-ASCII character, which keeps it off the redirect's cold start.
A punycode label (``xn--...``) is taken as written: the config checks that it decodes
(``chalicelib.config.values``), so no stored name has one that does not.
"""

from __future__ import annotations

import ipaddress
import re

MAX_HOST_LENGTH = 253
_MAX_INPUT = 300  # longer is never a host name: refused before any work
# A DNS label: letters, digits and hyphens, at most 63, no hyphen at either end.
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normalize_host(host: str | None) -> str | None:
    """``Go.Brand.COM:443`` -> ``go.brand.com``; ``Bücher.example`` -> ``xn--bcher-kva.example``;
    ``[::1]:8000`` -> ``[::1]``; anything that is not a host name -> None. Never raises."""
    if not isinstance(host, str):
        return None
    text = host.strip()
    if not text or len(text) > _MAX_INPUT:
        return None
    if text.startswith("["):  # IPv6 literal, possibly with a port
        return _ipv6(text)
    name, sep, port = text.rpartition(":")
    if sep:
        if not port.isdigit() or not port.isascii():
            return None
        text = name
    if text.endswith("."):  # the fully qualified form names the same host
        text = text[:-1]
    if text.isascii():
        return _ascii_name(text.lower())
    return _idna_name(text)


def _ascii_name(name: str) -> str | None:
    """``name`` if it is an ASCII host name (what IDNA 2008 accepts of ASCII), else None."""
    if not name or len(name) > MAX_HOST_LENGTH:
        return None
    for label in name.split("."):
        if not _LABEL_RE.fullmatch(label):
            return None
        if label[2:4] == "--" and not label.startswith("xn--"):
            return None  # reserved for punycode labels
    return name


def _idna_name(name: str) -> str | None:
    import idna  # only here: ASCII hosts never need it (cold start)

    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii")
    except Exception:  # IDNAError / UnicodeError, and whatever else odd input provokes
        return None
    if ascii_name.endswith("."):  # a trailing ideographic or fullwidth full stop
        ascii_name = ascii_name[:-1]
    return _ascii_name(ascii_name)


def _ipv6(text: str) -> str | None:
    end = text.find("]")
    if end < 0:
        return None
    try:
        ip = ipaddress.ip_address(text[1:end].strip())
    except ValueError:
        return None
    return f"[{ip}]" if ip.version == 6 else None
