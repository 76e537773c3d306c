"""Everything the redirect knows about the visitor, read once from the request facts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import urlsplit

from chalicelib.clicks.agent import Agent, parse_agent
from chalicelib.links.host import normalize_host
from chalicelib.redirect.bots import detect_bot
from chalicelib.redirect.consent import read_consent
from chalicelib.redirect.identity import Salt, visitor_identity
from chalicelib.redirect.request import RequestFacts

_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_LANGUAGE_RE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_Q_RE = re.compile(r"q\s*=\s*([0-9](?:\.[0-9]{0,3})?)", re.IGNORECASE)
MAX_LANGUAGES = 16


@dataclass(frozen=True)
class Visitor:
    """Who is clicking, as far as the request tells and consent allows.

    The device, OS and browser are parsed from the user agent on first use: only a link whose
    rules ask for them needs them at the redirect (the archiver fills them in the lake record).
    """

    user_agent: str
    country: str | None
    languages: tuple[str, ...]  # most preferred first; q=0 left out
    referrer_host: str | None
    is_bot: bool
    bot_name: str | None
    consent: str  # granted | denied | not_required
    visitor_id: str
    set_cookies: tuple[str, ...] = ()
    hints: Mapping[str, str] = field(default_factory=dict, compare=False)  # CloudFront's

    @cached_property
    def agent(self) -> Agent:
        return parse_agent(self.user_agent, self.hints)

    @property
    def parsed_agent(self) -> Agent | None:
        """The agent if something has already asked for it, else None (nothing is parsed)."""
        return self.__dict__.get("agent")

    @property
    def device(self) -> str:
        """Form factor: mobile | tablet | desktop."""
        return self.agent.form

    @property
    def device_classes(self) -> frozenset[str]:
        """What ``when.device`` matches: e.g. {"ios", "mobile"}."""
        return self.agent.classes

    @property
    def os(self) -> str | None:
        return self.agent.os

    @property
    def browser(self) -> str | None:
        return self.agent.browser

    @property
    def language(self) -> str | None:
        """The most preferred language, e.g. ``de-AT``."""
        return self.languages[0] if self.languages else None


def read_visitor(facts: RequestFacts, site: Mapping[str, Any] | None, *, salt: Salt) -> Visitor:
    """The visitor behind ``facts`` on ``site`` (None for an unknown domain: nothing is set).

    ``salt`` is the day's salt for the hashed visitor id, or a callable returning it (called
    only when consent is denied).
    """
    bot = detect_bot(facts.user_agent, facts.method)
    country = parse_country(facts.headers.get("cloudfront-viewer-country"))
    consent = read_consent(facts, (site or {}).get("consent"), country)
    visitor_id, id_cookies = visitor_identity(facts, consent.state, salt=salt, domain=facts.host)
    return Visitor(
        user_agent=facts.user_agent,
        country=country,
        languages=parse_accept_language(facts.headers.get("accept-language", "")[:1024]),
        referrer_host=referrer_host(facts.headers.get("referer")),
        is_bot=bot.is_bot,
        bot_name=bot.name,
        consent=consent.state,
        visitor_id=visitor_id,
        set_cookies=(consent.set_cookies + id_cookies) if site is not None else (),
        hints=facts.device_hints,
    )


def parse_country(value: str | None) -> str | None:
    code = (value or "").strip().upper()
    return code if _COUNTRY_RE.fullmatch(code) else None


@lru_cache(maxsize=1024)
def parse_accept_language(header: str) -> tuple[str, ...]:
    """``de-AT,de;q=0.9,en;q=0.5,fr;q=0`` -> ``("de-AT", "de", "en")``: by q, then by order.

    Tags are normalised to ``ll-RR`` case; ``*`` and malformed entries are skipped.
    """
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:64]):
        tag, _, params = item.partition(";")
        tag = tag.strip()
        if not _LANGUAGE_RE.fullmatch(tag):
            continue
        q = 1.0
        match = _Q_RE.search(params)
        if match:
            q = min(float(match.group(1)), 1.0)
        elif "q" in params.lower():
            continue  # a q we cannot read: the tag cannot be ranked, leave it out
        if q > 0:
            ranked.append((-q, index, _normalise_tag(tag)))
    ranked.sort()
    seen: dict[str, None] = {}
    for _, _, tag in ranked:
        seen.setdefault(tag, None)
    return tuple(seen)[:MAX_LANGUAGES]


def _normalise_tag(tag: str) -> str:
    first, *rest = tag.split("-")
    parts = [first.lower()]
    for part in rest:
        parts.append(
            part.upper() if len(part) == 2 else part.title() if len(part) == 4 else part.lower()
        )
    return "-".join(parts)


def referrer_host(value: str | None) -> str | None:
    """The host of the Referer header, normalised like our own domains, or None."""
    if not value:
        return None
    try:
        host = urlsplit(value.strip()[:2048]).hostname
    except ValueError:
        return None
    return normalize_host(host) if host else None
