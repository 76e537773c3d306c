"""Reddit Conversions API v3: ``POST ads-api.reddit.com/api/v3/pixels/{id}/conversion_events``.

Bearer token; ``event_at`` in milliseconds, at most 168 h old and 5 min ahead; up to 1,000 events.
Unlike every other platform Reddit wants the IP address hashed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.platforms import adapter
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.hashing import digest
from chalicelib.platforms.http import HttpRequest, Outcome

NAME = "reddit"
MAX_BATCH = 1000
MAX_AGE = timedelta(hours=168)
MAX_FUTURE = timedelta(minutes=5)
BASE_URL = "https://ads-api.reddit.com"
SECRET_FIELDS = ("access_token",)

TRACKING_TYPES = {PAGE_VIEW: "PAGE_VISIT", LEAD: "LEAD", PURCHASE: "PURCHASE"}
CUSTOM = "CUSTOM"
# Reddit refuses value/currency on page visits.
_NO_VALUE = frozenset({"PAGE_VISIT"})


def hashed_ip(ip: str | None) -> str | None:
    """Reddit's rule: the IP address, trimmed and lower-cased (IPv6), then SHA-256."""
    return digest(ip, lambda v: v.strip().lower())


def problem(event: PlatformEvent, now: datetime) -> str | None:
    late = adapter.age_problem(event.event_time, now, MAX_AGE, MAX_FUTURE)
    if late:
        return late
    if not (
        event.click_ids.get("rdt_cid")
        or event.user.get("em")
        or event.user.get("ph_e164")
        or adapter.hashed_visitor(event)
        or event.ip
        or event.user_agent
    ):
        return "no match key (rdt_cid, email, phone, external_id, IP or UA)"
    return None


def to_reddit(event: PlatformEvent) -> dict[str, Any]:
    tracking_type = TRACKING_TYPES.get(event.kind, CUSTOM)
    kind: dict[str, str] = {"tracking_type": tracking_type}
    if tracking_type == CUSTOM:
        kind["custom_event_name"] = event.kind
    metadata: dict[str, Any] = {"conversion_id": event.event_id}
    if tracking_type not in _NO_VALUE and event.value is not None and event.currency:
        metadata["currency"] = event.currency
        metadata["value"] = event.value
    user = adapter.compact(
        {
            "email": event.user.get("em"),
            "phone_number": event.user.get("ph_e164"),
            "external_id": adapter.hashed_visitor(event),
            "ip_address": hashed_ip(event.ip),
            "user_agent": event.user_agent,
        }
    )
    if event.limited_data_use:
        user["data_processing_options"] = {"modes": ["LDU"]}
    return adapter.compact(
        {
            "event_at": adapter.epoch_ms(event.event_time),
            "action_source": "WEBSITE",
            "event_source_url": event.source_url,
            "click_id": event.click_ids.get("rdt_cid"),
            "type": kind,
            "metadata": metadata,
            "user": user,
        }
    )


def build_requests(
    events: Sequence[PlatformEvent],
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    now: datetime,
) -> tuple[list[HttpRequest], list[Rejected]]:
    missing = adapter.missing_config(NAME, settings, secrets, ("pixel_id",), SECRET_FIELDS)
    if missing:
        return [], adapter.reject_all(events, missing)
    good, rejected = adapter.screen(events, problem, now)
    pixel = quote(str(settings["pixel_id"]), safe="")
    url = f"{adapter.base_url(settings, BASE_URL)}/api/v3/pixels/{pixel}/conversion_events"
    headers = {**adapter.JSON_HEADERS, "Authorization": f"Bearer {secrets['access_token']}"}
    requests = []
    for batch in adapter.batches(good, MAX_BATCH):
        data: dict[str, Any] = {"events": [to_reddit(e) for e in batch]}
        if settings.get("test_id"):
            data = {"test_id": settings["test_id"], **data}
        requests.append(
            HttpRequest(
                "POST", url, dict(headers), {"data": data}, tuple(e.event_id for e in batch)
            )
        )
    return requests, rejected


def classify(status: int, body: bytes | str) -> Outcome:
    """Plain HTTP statuses; the error body is ``{"error": {"code", "message"}}``."""
    return adapter.classify_status(status, adapter.error_text(adapter.parse_json(body)))
