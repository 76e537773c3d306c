"""The conversion record (what the lake keeps) and the stream envelope around it. Pure.

The record holds no personal data at all, not even hashes: it goes to the lake as it is. The
envelope adds what the dispatcher needs for the platform events, and only when some platform
will get one: the user data as hashes (``hash_user``), the merchant's client IP and user agent,
and the original click as the click index knows it (click ids, user agent, consent, platforms).

Destinations: the ad platforms the click went to, when the visitor consented; and the merchant's
own systems, whatever the ad consent (they are its processors, and the lead gave the merchant
their address; docs/remarketing.md): the email tools of the link's audiences and the webhooks
that take this kind of event (``own_systems``). Only when one of those needs it does the plain,
normalised email travel, as ``contact``, in the envelope (the encrypted stream), never the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clicks.envelope import CONVERSION_SCHEMA_VERSION, DENIED, KIND_CONVERSION
from chalicelib.clicks.event import iso_millis
from chalicelib.clicks.index import ATTRIBUTION_WINDOW
from chalicelib.conversions.postback import Postback
from chalicelib.platforms.hashing import hash_user, normalise_email
from chalicelib.platforms.registry import EMAIL_TOOLS, is_own_system, webhook_name

# A click stamped by Rebound's clock may look a little later than a conversion stamped by the
# merchant's: the same 5 minutes the signature and event_time tolerate. Later than that, the click
# cannot have led to the conversion.
CLOCK_SKEW = timedelta(minutes=5)
# What the dispatcher takes from the original click (the click index has no full IP, ever).
CLICK_FIELDS = (
    "click_id",
    "ts",
    "domain",
    "slug",
    "campaign",
    "click_ids",
    "user_agent",
    "visitor_id",
    "consent",
    "platforms",
    "country",
)


def attributable(click: Mapping[str, Any] | None, domain: str, event_time: datetime) -> bool:
    """A click on this domain, before the conversion (give or take ``CLOCK_SKEW``), at most
    ``ATTRIBUTION_WINDOW`` before it."""
    return unattributed_reason(click, domain, event_time) is None


def unattributed_reason(
    click: Mapping[str, Any] | None, domain: str, event_time: datetime
) -> str | None:
    """Why ``click`` cannot be the conversion's (safe to log: no personal data); None if it can."""
    if not click:
        return "no such click"
    if str(click.get("domain", "")).lower() != domain:
        return "the click is on another domain"
    clicked = _instant(click.get("ts"))
    if clicked is None:
        return "the click has no time"
    if clicked > event_time + CLOCK_SKEW:
        return "the click came after the conversion"
    if event_time - clicked > ATTRIBUTION_WINDOW:
        return f"the click is older than the {ATTRIBUTION_WINDOW.days}-day window"
    return None


def event_category(event: str) -> str:
    """lead, purchase, or custom (any other event name): what a webhook subscribes to."""
    return event if event in ("lead", "purchase") else "custom"


def own_systems(link_doc: Mapping[str, Any] | None, event: str) -> tuple[list[str], bool]:
    """The merchant's own systems a conversion on this link goes to (the email tools of its
    audiences, the webhooks that take ``event``), and whether any needs the plain email."""
    doc = link_doc or {}
    tools = {
        str(name)
        for audience in doc.get("audiences") or []
        for name in audience.get("send_to") or []
        if name in EMAIL_TOOLS
    }
    hooks = [
        h for h in doc.get("webhooks") or [] if event_category(event) in (h.get("events") or [])
    ]
    names = sorted(tools | {webhook_name(str(h["id"])) for h in hooks})
    plain = bool(tools) or any(h.get("personal_data") == "plain" for h in hooks)
    return names, plain


def build_conversion(
    postback: Postback,
    *,
    conversion_id: str,
    domain: str,
    now: datetime,
    click: Mapping[str, Any] | None,
    default_country: str | None = None,
    link_doc: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(record, envelope). ``click`` is the attributed click (as the click index holds it:
    ``clicks.index.get_click``) or None; ``link_doc`` the stored doc of its link (its audiences'
    email tools and its webhooks), or None."""
    consented = click is not None and click.get("consent") != DENIED
    ads = {str(p) for p in (click or {}).get("platforms") or [] if not is_own_system(str(p))}
    own: list[str] = []
    plain = False
    if click is not None and not click.get("is_bot"):
        own, plain = own_systems(link_doc, postback.event)
    platforms = sorted((ads if consented else set()) | set(own))
    record = {
        "schema": CONVERSION_SCHEMA_VERSION,
        "conversion_id": conversion_id,
        "click_id": postback.click_id,
        "ts": iso_millis(now),
        "domain": domain,
        "event": postback.event,
        "event_id": postback.event_id,
        "value": postback.value,
        "currency": postback.currency,
        "attributed": click is not None,
        "campaign": (click or {}).get("campaign"),
        "slug": (click or {}).get("slug"),
        "event_time": iso_millis(postback.event_time),
        "click_ts": (click or {}).get("ts"),
        "platforms": platforms,
    }
    envelope: dict[str, Any] = {
        "kind": KIND_CONVERSION,
        KIND_CONVERSION: record,
        "ip": None,
        "user_agent": None,
        "user": {},
        "click": _click_subset(click, platforms),
    }
    if platforms:
        # Only what a platform event will use travels: nothing goes nowhere.
        hint = (click or {}).get("country") or default_country
        envelope["ip"] = postback.client_ip_address
        envelope["user_agent"] = postback.client_user_agent
        envelope["user"] = hash_user(postback.user, hint)
    if plain:
        email = normalise_email(str((postback.user or {}).get("email") or ""))
        if email:
            envelope["contact"] = {"email": email}
    if own:
        envelope["context"] = _context(link_doc or {}, click or {})
    return record, envelope


def _context(link_doc: Mapping[str, Any], click: Mapping[str, Any]) -> dict[str, Any]:
    """What only Rebound knows about the lead, for the merchant's own systems: the link, its
    campaign, tags, UTM and destination, the audiences it feeds, and the click's ad consent."""
    spec = link_doc.get("spec") or {}
    utm = {k: v for k, v in (spec.get("utm") or {}).items() if v is not None}
    return {
        "link": f"{spec.get('domain', click.get('domain', ''))}/{spec.get('slug', click.get('slug', ''))}",
        "click_id": click.get("click_id"),
        "campaign": spec.get("campaign", click.get("campaign")),
        "tags": list(spec.get("tags") or []),
        "utm": utm,
        "destination": spec.get("url"),
        "audiences": sorted(str(a["id"]) for a in link_doc.get("audiences") or []),
        "consent": click.get("consent"),
    }


def _click_subset(click: Mapping[str, Any] | None, platforms: list[str]) -> dict[str, Any] | None:
    if click is None:
        return None
    subset = {name: click[name] for name in CLICK_FIELDS if name in click}
    subset["platforms"] = platforms
    return subset


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
