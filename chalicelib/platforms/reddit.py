"""Reddit Conversions API v3: ``POST ads-api.reddit.com/api/v3/pixels/{id}/conversion_events``.

Bearer token; ``event_at`` in milliseconds, at most 168 h old and 5 min ahead; up to 1,000 events.
Unlike every other platform Reddit wants the IP address hashed. Plain HTTP statuses, the error
body ``{"error": {"code", "message"}}`` (the default ``classify``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent
from chalicelib.platforms.hashing import digest
from chalicelib.platforms.payload import compact, epoch_ms, has_match_key, hashed_visitor
from chalicelib.platforms.platform import Item, Platform, Secrets, Settings, Target, base_url

BASE_URL = "https://ads-api.reddit.com"

TRACKING_TYPES = {PAGE_VIEW: "PAGE_VISIT", LEAD: "LEAD", PURCHASE: "PURCHASE"}
CUSTOM = "CUSTOM"
# Reddit refuses value/currency on page visits.
_NO_VALUE = frozenset({"PAGE_VISIT"})


def hashed_ip(ip: str | None) -> str | None:
    """Reddit's rule: the IP address, trimmed and lower-cased (IPv6), then SHA-256."""
    return digest(ip, lambda v: v.strip().lower())


class Reddit(Platform):
    NAME = "reddit"
    MAX_BATCH = 1000
    MAX_AGE = timedelta(hours=168)
    MAX_FUTURE = timedelta(minutes=5)
    SECRET_FIELDS = ("access_token",)
    REQUIRED_SETTINGS = ("pixel_id",)

    def lacks(self, event: PlatformEvent) -> str | None:
        if not has_match_key(event, "rdt_cid"):
            return "no match key (rdt_cid, email, phone, external_id, IP or UA)"
        return None

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        pixel = quote(str(settings["pixel_id"]), safe="")
        url = f"{base_url(settings, BASE_URL)}/api/v3/pixels/{pixel}/conversion_events"
        return Target(url, bearer=secrets["access_token"])

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        tracking_type = TRACKING_TYPES.get(event.kind, CUSTOM)
        kind: dict[str, str] = {"tracking_type": tracking_type}
        if tracking_type == CUSTOM:
            kind["custom_event_name"] = event.kind
        metadata: dict[str, Any] = {"conversion_id": event.event_id}
        if tracking_type not in _NO_VALUE and event.value is not None and event.currency:
            metadata["currency"] = event.currency
            metadata["value"] = event.value
        user = compact(
            {
                "email": event.user.get("em"),
                "phone_number": event.user.get("ph_e164"),
                "external_id": hashed_visitor(event),
                "ip_address": hashed_ip(event.ip),
                "user_agent": event.user_agent,
            }
        )
        if event.limited_data_use:
            user["data_processing_options"] = {"modes": ["LDU"]}
        return compact(
            {
                "event_at": epoch_ms(event.event_time),
                "action_source": "WEBSITE",
                "event_source_url": event.source_url,
                "click_id": event.click_ids.get("rdt_cid"),
                "type": kind,
                "metadata": metadata,
                "user": user,
            }
        )

    def body(self, items: list[Item], batch: Sequence[PlatformEvent], settings: Settings) -> Item:
        data: dict[str, Any] = {"events": items}
        if settings.get("test_id"):
            data = {"test_id": settings["test_id"], **data}
        return {"data": data}


PLATFORM = Reddit()
