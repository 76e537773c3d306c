"""From a stream envelope to the platform events it calls for. Pure: no AWS, no HTTP.

Which events fire when (PLATFORMS.md): a human click on a link in an audience with `send_to`
fires a page view on each of those platforms; a conversion postback fires on the platforms its
original click went to. Consent denied, GPC/DNT (already folded into the click's `consent` by the
redirect), a bot, or an unattributed conversion: no event at all.

A click served the pixel interstitial (``mode: pixel``, status 200) already fired the browser
pixels with the click id as event id, and the platforms drop the server copy as a duplicate;
all but GA4, whose Measurement Protocol has no deduplication: the browser's Google tag counted
that page view, so no server page view goes to Google for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.clicks.envelope import DENIED, KIND_CLICK, KIND_CONVERSION
from chalicelib.platforms.event import PAGE_VIEW, PlatformEvent
from chalicelib.platforms.registry import is_own_system

PIXEL_SERVED = 200  # the click's status when the interstitial was served
NO_BROWSER_DEDUP = frozenset({"google"})  # GA4 would count the page view twice


@dataclass(frozen=True)
class Wanted:
    """One event for one platform, and the short domain it belongs to (an event is known by
    platform, domain, kind and id: the ledger's key)."""

    platform: str
    event: PlatformEvent
    domain: str = ""


def wanted_events(
    envelope: Mapping[str, Any], sites: Mapping[str, Mapping[str, Any]]
) -> list[Wanted]:
    """The platform events an envelope calls for. `sites`: domain name -> the domain's site."""
    kind = envelope.get("kind")
    if kind == KIND_CLICK:
        return _for_click(envelope, sites)
    if kind == KIND_CONVERSION:
        return _for_conversion(envelope, sites)
    return []


def _for_click(envelope: Mapping[str, Any], sites: Mapping[str, Mapping[str, Any]]) -> list[Wanted]:
    click = envelope.get("click") or {}
    event = click_event(envelope, sites)
    if event is None:
        return []
    domain = str(click.get("domain") or "").lower()
    platforms = set(click["platforms"])
    if click.get("status") == PIXEL_SERVED:
        platforms -= NO_BROWSER_DEDUP
    return [Wanted(p, event, domain) for p in sorted(platforms)]


def click_event(
    envelope: Mapping[str, Any], sites: Mapping[str, Mapping[str, Any]]
) -> PlatformEvent | None:
    """The page view a click calls for; None for a bot, a denied click, or one that queued no
    platform."""
    click = envelope.get("click") or {}
    if click.get("is_bot") or click.get("consent") == DENIED or not click.get("platforms"):
        return None
    domain = str(click.get("domain") or "").lower()
    consent = _consent(sites.get(domain))
    return PlatformEvent(
        kind=PAGE_VIEW,
        event_id=click["click_id"],  # the browser pixel uses the same id: dedup
        event_time=_instant(click["ts"]),
        click_time=_instant(click["ts"]),
        source_url=_short_url(click),
        ip=envelope.get("ip"),
        user_agent=envelope.get("user_agent"),
        click_ids=click.get("click_ids") or {},
        country=click.get("country"),
        consent=consent,
        visitor_id=click.get("visitor_id"),
        context=click_context(click),
    )


def click_context(click: Mapping[str, Any]) -> dict[str, Any]:
    """A click's context for the merchant's own systems (as ``conversions.record`` gives a
    conversion's): the link, campaign, tags, UTM and destination as recorded, and the consent."""
    utm = {k[4:]: click[k] for k in UTM_FIELDS if click.get(k) is not None}
    return {
        "link": f"{click.get('domain', '')}/{click.get('slug', '')}",
        "campaign": click.get("campaign"),
        "tags": list(click.get("tags") or []),
        "utm": utm,
        "destination": click.get("destination"),
        "consent": click.get("consent"),
    }


UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def _for_conversion(
    envelope: Mapping[str, Any], sites: Mapping[str, Mapping[str, Any]]
) -> list[Wanted]:
    conversion = envelope.get("conversion") or {}
    click = envelope.get("click") or {}
    if not conversion.get("attributed") or not click or click.get("is_bot"):
        return []
    platforms = click.get("platforms") or conversion.get("platforms") or []
    if click.get("consent") == DENIED:  # only the merchant's own systems (conversions/record.py)
        platforms = [p for p in platforms if is_own_system(str(p))]
    if not platforms:
        return []
    domain = str(conversion.get("domain") or click.get("domain") or "").lower()
    event = PlatformEvent(
        kind=str(conversion["event"]),
        event_id=str(conversion["event_id"]),  # the merchant's order/lead id: dedup key
        event_time=_instant(conversion.get("event_time") or conversion["ts"]),
        click_time=_instant(click["ts"]) if click.get("ts") else None,
        source_url=_short_url({"domain": domain, "slug": click.get("slug", "")}),
        ip=envelope.get("ip"),  # the merchant's, if given: the click index never holds an IP
        user_agent=envelope.get("user_agent") or click.get("user_agent"),
        click_ids=click.get("click_ids") or {},
        user=envelope.get("user") or {},
        value=_number(conversion.get("value")),
        currency=conversion.get("currency"),
        country=click.get("country"),
        consent=_consent(sites.get(domain)),
        visitor_id=click.get("visitor_id"),
        contact=envelope.get("contact") or {},
        context=envelope.get("context") or {},
    )
    return [Wanted(p, event, domain) for p in sorted(set(platforms))]


def _consent(site: Mapping[str, Any] | None) -> dict[str, bool]:
    ldu = bool(((site or {}).get("consent") or {}).get("limited_data_use"))
    return {"ad_user_data": True, "ad_personalization": not ldu, "limited_data_use": ldu}


def _short_url(record: Mapping[str, Any]) -> str | None:
    domain = record.get("domain")
    if not domain:
        return None
    return f"https://{domain}/{record.get('slug') or ''}"


def _instant(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    text = str(value)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
