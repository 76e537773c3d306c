"""Snapchat Conversions API v3: ``POST tr.snapchat.com/v3/{pixel_id}/events?access_token=``.

Times in seconds; up to 2,000 events. ``event_id`` is the Snap Pixel's ``client_dedup_id``.
Phones are digits with the country code, no ``+`` (``+44 844 412 4653`` → ``448444124653``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.platforms import adapter
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.http import HttpRequest, Outcome

NAME = "snapchat"
MAX_BATCH = 2000
# Snap's documentation: events up to 37 days back are eligible for reporting.
MAX_AGE = timedelta(days=37)
BASE_URL = "https://tr.snapchat.com"
SECRET_FIELDS = ("access_token",)

# Snap has no lead event: SIGN_UP is its closest standard one. Custom kinds go as CUSTOM_EVENT_1.
EVENT_NAMES = {PAGE_VIEW: "PAGE_VIEW", LEAD: "SIGN_UP", PURCHASE: "PURCHASE"}
CUSTOM_EVENT = "CUSTOM_EVENT_1"

_USER_FIELDS = {
    "em": "em",
    "ph": "ph_digits",
    "fn": "fn",
    "ln": "ln",
    "ct": "ct",
    "st": "st",
    "zp": "zp",
    "country": "country",
}


def problem(event: PlatformEvent, now: datetime) -> str | None:
    late = adapter.age_problem(event.event_time, now, MAX_AGE)
    if late:
        return late
    if not (
        event.user.get("em")
        or event.user.get("ph_digits")
        or event.click_ids.get("ScCid")
        or (event.ip and event.user_agent)
    ):
        return "needs a hashed e-mail or phone, ScCid, or IP address and user agent"
    return None


def to_snapchat(event: PlatformEvent, now: datetime) -> dict[str, Any]:
    user = adapter.user_lists(event.user, _USER_FIELDS)
    external_id = adapter.hashed_visitor(event)
    if external_id:
        user["external_id"] = [external_id]
    item: dict[str, Any] = {
        "event_name": EVENT_NAMES.get(event.kind, CUSTOM_EVENT),
        "event_time": adapter.epoch_seconds(adapter.sent_time(event, now)),
        "event_id": event.event_id,
        "action_source": "WEB",
        "event_source_url": event.source_url,
        "user_data": adapter.compact(
            {
                **user,
                "client_ip_address": event.ip,
                "client_user_agent": event.user_agent,
                "sc_click_id": event.click_ids.get("ScCid"),
            }
        ),
    }
    custom = adapter.compact(
        {
            "currency": event.currency,
            "value": adapter.decimal_string(event.value) if event.value is not None else None,
        }
    )
    if custom:
        item["custom_data"] = custom
    return adapter.compact(item)


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
    url = (
        f"{adapter.base_url(settings, BASE_URL)}/v3/{quote(str(settings['pixel_id']), safe='')}"
        f"/events?access_token={quote(secrets['access_token'], safe='')}"
    )
    requests = [
        HttpRequest(
            "POST",
            url,
            dict(adapter.JSON_HEADERS),
            {"data": [to_snapchat(e, now) for e in batch]},
            tuple(e.event_id for e in batch),
        )
        for batch in adapter.batches(good, MAX_BATCH)
    ]
    return requests, rejected


def classify(status: int, body: bytes | str) -> Outcome:
    """Snap uses plain HTTP statuses: 2xx ok, 429/5xx retry, other 4xx permanent."""
    payload = adapter.parse_json(body)
    return adapter.classify_status(status, adapter.error_text(payload))
