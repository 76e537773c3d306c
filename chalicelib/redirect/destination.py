"""The ``Location``: a configured URL plus UTM, the visitor's query, click ids and ``rb_cid``.

Scheme, host and path always come from the configured URL; everything appended is
percent-encoded, so no input can redirect elsewhere or put a CR/LF into a header.

Precedence, when a parameter name is set more than once:

- the destination URL's own parameters win over everything (``?coupon=SPRING`` is the
  marketer's, a visitor cannot change it) ...
- ... except the platform click ids, which are always the visitor's, byte-for-byte, even when
  ``forward_query`` is off (a stale ``fbclid`` in a configured URL would misattribute the click);
- the link's ``utm`` block comes next, and the visitor's own ``utm_*`` only fill what is left:
  configured attribution is never overridden by whatever was appended to the short link;
- ``rb_*`` parameters are Rebound's: a visitor's are never forwarded (``rb_consent``, a forged
  ``rb_cid``), and ``rb_cid`` is ours alone when ``track_conversions`` is on.

The click record keeps ``Destination.record``: the same URL without the values of the visitor's
forwarded parameters (they may be anything, an email address included; DESIGN §7).

A configured URL whose host is not ASCII (IDN, or a confusable: fullwidth dot, zero-width space)
is written with the ASCII host a browser would visit (IDNA), so what the Location says is where
the visitor goes; a host that does not map to a valid host name stays percent-encoded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import quote, unquote_plus

from chalicelib.click_ids import PLATFORM_CLICK_IDS
from chalicelib.clicks.text import kept_click_id
from chalicelib.links.host import normalize_host
from chalicelib.redirect.request import RequestFacts

UTM_FIELDS = ("source", "medium", "campaign", "term", "content")
UTM_PARAMS = tuple(f"utm_{field}" for field in UTM_FIELDS)
CLICK_PARAM = "rb_cid"
RESERVED_PREFIX = "rb_"
_CLICK_ID_NAMES = frozenset(name.lower() for name in PLATFORM_CLICK_IDS)
# Printable ASCII minus space: what may stay unencoded in a Location header.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


class Destination(NamedTuple):
    location: str
    utm: dict[str, str | None]  # utm_source... as the destination ends up with (else as brought)
    record: str  # the location without the visitor's forwarded values: what the click keeps


def build_destination(
    url: str,
    facts: RequestFacts,
    *,
    utm: Mapping[str, Any] | None = None,
    forward_query: bool = False,
    click_id: str | None = None,
) -> Destination:
    """``url`` (configured) + the link's ``utm`` + the visitor's query when ``forward_query`` +
    the platform click ids + ``rb_cid=<click_id>`` when ``click_id`` is given."""
    head, has_fragment, fragment = url.partition("#")
    base, _, own_query = head.partition("?")
    visitor_click_ids = {name.lower() for name, _ in facts.platform_click_id_params}

    own: list[str] = []  # raw segments, kept verbatim
    own_values: dict[str, str] = {}
    for segment in own_query.split("&"):
        if not segment:
            continue
        name, _, value = (unquote_plus(part) for part in segment.partition("="))
        if name.lower() in visitor_click_ids or (click_id and name == CLICK_PARAM):
            continue
        own.append(segment)
        own_values.setdefault(name, value)

    added: list[tuple[str, str]] = []
    brought = brought_utm(facts)
    effective: dict[str, str | None] = {}
    for field, param in zip(UTM_FIELDS, UTM_PARAMS, strict=True):
        configured = str((utm or {}).get(field) or "")
        if param in own_values:
            effective[param] = own_values[param] or None
        elif configured:
            added.append((param, configured))
            effective[param] = configured
        else:
            effective[param] = brought[param]

    forwarded: list[tuple[str, str]] = []
    if forward_query:
        taken = set(own_values) | {name for name, _ in added}
        forwarded = [
            (name, value)
            for name, value in facts.query
            if name not in taken
            and not name.lower().startswith(RESERVED_PREFIX)
            and name.lower() not in _CLICK_ID_NAMES
        ]
    ours = list(facts.platform_click_id_params)
    if click_id:
        ours.append((CLICK_PARAM, click_id))

    base = ascii_host(base)
    tail = f"#{fragment}" if has_fragment else ""
    location = _assemble(base, own, added + forwarded + ours, tail)
    kept = [(name, kept_click_id(value)) for name, value in ours]
    record = _assemble(base, own, added + kept, tail) if forwarded or kept != ours else location
    return Destination(location=location, utm=effective, record=record)


def _assemble(base: str, own: list[str], added: list[tuple[str, str]], tail: str) -> str:
    query = "&".join(own + [f"{_encode(name)}={_encode(value)}" for name, value in added])
    return header_safe(base + (f"?{query}" if query else "") + tail)


def ascii_host(base: str) -> str:
    """``https://bücher.example/x`` -> ``https://xn--bcher-kva.example/x``: a non-ASCII host as
    the host name a browser maps it to. Unchanged when ASCII, or when the mapping gives no valid
    host name (e.g. a fullwidth ``@``, which would otherwise become a user-info separator)."""
    scheme, sep, rest = base.partition("://")
    if not sep:
        return base
    authority, slash, path = rest.partition("/")
    if authority.isascii() or "@" in authority:
        return base
    host, colon, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if colon and not (port.isdigit() and port.isascii()):
        return base
    name = normalize_host(host)
    if name is None or name.startswith("["):
        return base
    return f"{scheme}://{name}{colon}{port}{slash}{path}"


def brought_utm(facts: RequestFacts) -> dict[str, str | None]:
    """The ``utm_*`` values the visitor's query carries (first non-empty of each)."""
    return {
        param: next((value for key, value in facts.query if key == param and value), None)
        for param in UTM_PARAMS
    }


# What quote() would leave as it is: taken as it is without the call (most names and values).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
_PRINTABLE = re.compile(r"[\x21-\x7e]*")


def _encode(text: str) -> str:
    if _UNRESERVED.fullmatch(text):
        return text
    return quote(text, safe="-._~", errors="surrogatepass")


def header_safe(url: str) -> str:
    """Percent-encode anything a header must not carry raw (controls, space, non-ASCII)."""
    if _PRINTABLE.fullmatch(url):
        return url
    return quote(url, safe=_HEADER_SAFE, errors="surrogatepass")
