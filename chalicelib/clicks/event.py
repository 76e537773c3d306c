"""The click record v1 (DESIGN §7, ``docs/clicks.md``) and the stream envelope around it.

The record is what the lake and the click index keep: no full IP address, ever (``ip_prefix``
instead), and no email address or phone number: ``destination`` leaves out the values of the
visitor's forwarded parameters, and an email- or phone-shaped ``utm_*`` value or orphan slug is
redacted (``clicks/text.py``). The envelope adds the full IP and user agent for the click-time platform events; the
archiver strips it. Unknown domains produce no event; orphan visits (unknown slug, ``/``) do.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.click_ids import CLICK_EVENT_NEEDS
from chalicelib.clicks.agent import HINT_HEADERS, parse_agent
from chalicelib.clicks.envelope import CLICK_SCHEMA_VERSION, DENIED, KIND_CLICK
from chalicelib.clicks.text import kept_click_id, redact_personal
from chalicelib.links.record import WEBHOOK_PREFIX

if TYPE_CHECKING:  # types only: consumers of click records never load the redirect
    from chalicelib.redirect.decision import Decision
    from chalicelib.redirect.request import RequestFacts
    from chalicelib.redirect.visitor import Visitor

NOT_STARTED = "not_started"


def build_click(
    decision: Decision,
    facts: RequestFacts,
    visitor: Visitor,
    doc: Mapping[str, Any] | None,
    *,
    click_id: str,
    now: datetime,
) -> dict[str, Any] | None:
    """The click record for this request, or None when nothing is recorded (unknown domain)."""
    if not decision.is_recorded:
        return None
    spec = decision.link or {}
    click_ids = facts.platform_click_ids
    region = visitor.country  # numbers written without a country code are read as local
    utm = {param: redact_personal(value, region) for param, value in decision.utm.items()}
    # Parsed here only if the link's rules needed it; else the archiver fills these three in from
    # the envelope's user agent and device hints (the same parser: the same answer).
    agent = visitor.parsed_agent
    return {
        "schema": CLICK_SCHEMA_VERSION,
        "click_id": click_id,
        "ts": iso_millis(now),
        "domain": facts.host,
        "slug": spec.get("slug") or redact_personal(facts.slug, region) or "",
        "campaign": spec.get("campaign"),
        "tags": list(spec.get("tags") or []),
        "rule": decision.rule,
        "status": decision.status,
        "destination": decision.recorded_location,
        "visitor_id": visitor.visitor_id,
        "is_bot": visitor.is_bot,
        "bot_name": visitor.bot_name,
        "country": visitor.country,
        "device": agent and agent.form,
        "os": agent and agent.os,
        "browser": agent and agent.browser,
        "language": visitor.language,
        "referrer_host": visitor.referrer_host,
        "utm_source": utm.get("utm_source"),
        "utm_medium": utm.get("utm_medium"),
        "utm_campaign": utm.get("utm_campaign"),
        "utm_term": utm.get("utm_term"),
        "utm_content": utm.get("utm_content"),
        "click_ids": {name: kept_click_id(value) for name, value in click_ids.items()},
        "consent": visitor.consent,
        "ip_prefix": ip_prefix(facts.source_ip),
        "ua_hash": ua_hash(visitor.user_agent),
        "platforms": platforms_for(decision, visitor, doc, click_ids),
    }


def click_envelope(click: Mapping[str, Any], facts: RequestFacts) -> dict[str, Any]:
    """What goes onto the stream: the record plus the full IP and user agent, and CloudFront's
    device headers when there are any (the archiver derives device, OS and browser from them).

    The IP travels only when consent is not denied: a denied click fires no platform event,
    and nothing else needs the address.
    """
    denied = click.get("consent") == DENIED
    envelope = {
        "kind": KIND_CLICK,
        KIND_CLICK: dict(click),
        "ip": None if denied else facts.source_ip,
        "user_agent": facts.user_agent,
    }
    if facts.device_hints:
        envelope["device_hints"] = dict(facts.device_hints)
    return envelope


def fill_agent(click: dict[str, Any], envelope: Mapping[str, Any]) -> None:
    """Set the record's ``device``, ``os`` and ``browser`` from the envelope's user agent and
    device hints, unless the redirect already did. Anything malformed counts as absent."""
    if click.get("device") is not None:
        return
    user_agent = envelope.get("user_agent")
    hints = envelope.get("device_hints")
    if type(hints) is dict:
        hints = {k: v for k, v in hints.items() if k in HINT_HEADERS and type(v) is str}
    agent = parse_agent(
        user_agent if type(user_agent) is str else "", hints if type(hints) is dict else None
    )
    click["device"], click["os"], click["browser"] = agent.form, agent.os, agent.browser


def platforms_for(
    decision: Decision,
    visitor: Visitor,
    doc: Mapping[str, Any] | None,
    click_ids: Mapping[str, str],
) -> list[str]:
    """The destinations whose click-time event this click queues: the link's audiences'
    platforms and the webhooks that take clicks, for a human with consent on a link that exists
    (a not-yet-started link does not)."""
    if visitor.is_bot or visitor.consent == DENIED or decision.link is None or doc is None:
        return []
    if decision.rule == NOT_STARTED:
        return []
    names = {
        str(name)
        for audience in doc.get("audiences") or []
        for name in (audience.get("send_to") or [])
    }
    for name, needs in CLICK_EVENT_NEEDS.items():
        if name in names and (needs is None or needs not in click_ids):
            names.discard(name)
    names.update(
        WEBHOOK_PREFIX + str(hook["id"])
        for hook in doc.get("webhooks") or []
        if "click" in (hook.get("events") or [])
    )
    return sorted(names)


def ip_prefix(ip: str | None) -> str | None:
    """``203.0.113.7`` -> ``203.0.113.0/24``; IPv6 -> its /48; None when unparsable."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def ua_hash(user_agent: str) -> str | None:
    """SHA-256 hex of the user agent (None without one: a hash of "" identifies nothing)."""
    if not user_agent:
        return None
    return hashlib.sha256(user_agent.encode("utf-8", "surrogatepass")).hexdigest()


def iso_millis(now: datetime) -> str:
    """``2026-11-05T12:00:00.123Z``."""
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
