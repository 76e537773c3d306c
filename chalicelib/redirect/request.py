"""What a request says, as plain values: host, slug, query, headers, cookies, source IP.

Built once per request from whatever the web layer hands over. Every input is untrusted byte soup:
nothing here raises, and anything that does not parse becomes ``None`` (or is left out).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from chalicelib.click_ids import PLATFORM_CLICK_IDS
from chalicelib.clicks.agent import device_hints
from chalicelib.clicks.text import well_formed
from chalicelib.links.host import normalize_host

SLUG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

_CLICK_ID_BY_LOWER = {name.lower(): name for name in PLATFORM_CLICK_IDS}

# Bounds that keep hostile requests cheap; real browsers stay far below them.
MAX_QUERY_PAIRS = 256
MAX_COOKIES = 64
MAX_HEADER_CHARS = 8192


@dataclass(frozen=True)
class RequestFacts:
    """One request, reduced to the values the redirect decision reads.

    ``slug`` is None when the path is not a valid slug (then the request is a "not found");
    ``is_root`` is True for ``/``. ``host`` is None when the Host header is not a valid host name.
    """

    method: str
    host: str | None
    slug: str | None
    is_root: bool
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]  # lower-cased names
    cookies: Mapping[str, str]
    source_ip: str | None
    is_https: bool
    user_agent: str = ""
    device_hints: Mapping[str, str] = field(default_factory=dict)  # CloudFront-Is-*-Viewer
    _click_ids: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_request(
        cls,
        *,
        method: Any,
        host: Any,
        path: Any,
        query: Any = None,
        headers: Any = None,
        source_ip: Any = None,
    ) -> RequestFacts:
        """Build from plain values, never raising.

        ``path``: the raw path (``/spring-sale``) or the raw path parameter, not URL-decoded.
        ``query``: a raw query string, a mapping (values may be lists; a Chalice ``MultiDict``
        works) or ``(key, value)`` pairs, already decoded.
        """
        hdrs = normalize_headers(headers)
        method_s = _text(method).strip().upper() or "GET"
        raw_path = _text(path)
        pairs = tuple(parse_query(query))
        return cls(
            method=method_s,
            host=normalize_host(_text(host) if host is not None else hdrs.get("host")),
            slug=parse_slug(raw_path),
            is_root=raw_path.strip("/") == "",
            query=pairs,
            headers=hdrs,
            cookies=parse_cookies(hdrs.get("cookie")),
            source_ip=normalize_ip(source_ip),
            is_https=_is_https(hdrs),
            user_agent=hdrs.get("user-agent", "").strip(),
            device_hints=device_hints(hdrs),
            _click_ids=_find_click_ids(pairs),
        )

    def signal(self, name: str) -> bool:
        """Whether a privacy signal header (``sec-gpc``, ``dnt``) is on: see ``is_signal_on``."""
        return is_signal_on(self.headers.get(name))

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    @property
    def platform_click_ids(self) -> dict[str, str]:
        """The platform click ids the visitor brought: canonical name -> value, as received."""
        return {canonical: value for canonical, (_, value) in self._click_ids.items()}

    @property
    def platform_click_id_params(self) -> list[tuple[str, str]]:
        """The click-id parameters to forward: (name exactly as sent, value exactly as sent)."""
        return list(self._click_ids.values())


def _text(value: Any) -> str:
    """Any value as well-formed text: lone surrogates become U+FFFD, so everything built from
    the request encodes to UTF-8 (the stream record, the hashed visitor id, headers)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return well_formed(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    try:
        return well_formed(str(value))
    except Exception:
        return ""


def normalize_headers(headers: Any) -> dict[str, str]:
    """Lower-cased header names; list values joined with ", "; over-long values cut."""
    out: dict[str, str] = {}
    if not headers:
        return out
    try:
        items = list(headers.items()) if hasattr(headers, "items") else list(headers)
    except Exception:
        return out
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if type(name) is str and type(value) is str and name.isascii() and value.isascii():
            # What every real request is: ASCII text, no lone surrogates (the same result as
            # below, without the per-value checks of ``_text``).
            key = name.strip().lower()
            if key:
                out[key] = value[:MAX_HEADER_CHARS]
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(_text(v) for v in value)
        key = _text(name).strip().lower()
        if key:
            out[key] = _text(value)[:MAX_HEADER_CHARS]
    return out


def is_signal_on(value: str | None) -> bool:
    """``Sec-GPC: 1`` / ``DNT: 1``. A header sent twice arrives joined (``"1, 1"``): the signal
    is on when any of its values is ``1`` (when in doubt, the visitor's privacy wins)."""
    return value is not None and any(part.strip() == "1" for part in value.split(",")[:16])


def parse_slug(path: str) -> str | None:
    """The slug of ``/<slug>`` (percent-decoded once), or None when it is not a valid slug."""
    raw = path[1:] if path.startswith("/") else path
    if raw.endswith("/"):
        raw = raw[:-1]  # tolerate one trailing slash, as shorteners usually do
    if not raw or len(raw) > 200:
        return None
    decoded = unquote(raw, errors="replace")
    return decoded if SLUG_RE.fullmatch(decoded) else None


def parse_query(query: Any) -> list[tuple[str, str]]:
    """Decoded ``(key, value)`` pairs in order, from a raw string, a mapping or pairs."""
    pairs: list[tuple[str, str]] = []
    # Whatever parsed before any garbage is kept; the garbage itself is dropped.
    with contextlib.suppress(Exception):
        if isinstance(query, str | bytes | bytearray):
            text = _text(query).lstrip("?")
            pairs.extend(parse_qsl(text, keep_blank_values=True, errors="replace"))
        elif hasattr(query, "getlist"):  # Chalice / werkzeug MultiDict
            for key in list(query):
                pairs.extend((_text(key), _text(v)) for v in query.getlist(key))
        elif isinstance(query, Mapping):
            for key, value in query.items():
                values = value if isinstance(value, list | tuple) else [value]
                pairs.extend((_text(key), _text(v)) for v in values)
        elif isinstance(query, Iterable):
            for key, value in query:
                pairs.append((_text(key), _text(value)))
    return [(k, v) for k, v in pairs[:MAX_QUERY_PAIRS] if k]


def parse_cookies(header: Any) -> dict[str, str]:
    """A Cookie header as name -> value (first occurrence wins). Garbage is skipped, never raised.

    ``http.cookies`` is not used on purpose: one malformed cookie makes it drop all the others.
    """
    cookies: dict[str, str] = {}
    text = _text(header)
    for part in text.split(";")[: MAX_COOKIES * 2]:
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
        if len(cookies) >= MAX_COOKIES:
            break
    return cookies


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A dotted quad already in canonical form (no leading zeros): what API Gateway hands over for an
# IPv4 visitor, taken as it is; anything else goes through ipaddress.
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def normalize_ip(value: Any) -> str | None:
    """A valid IPv4/IPv6 address in canonical form, or None."""
    if type(value) is str and _CANONICAL_IPV4.fullmatch(value):
        return value
    text = _text(value).strip()
    if not text or len(text) > 64:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _is_https(headers: Mapping[str, str]) -> bool:
    for name in ("cloudfront-forwarded-proto", "x-forwarded-proto"):
        value = headers.get(name)
        if value:
            return value.split(",")[0].strip().lower() == "https"
    return False


def _find_click_ids(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for key, value in pairs:
        canonical = _CLICK_ID_BY_LOWER.get(key.lower())
        if canonical and value and canonical not in found:
            found[canonical] = (key, value)
    return found
