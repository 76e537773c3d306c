"""Snapchat Conversions API v3: ``POST tr.snapchat.com/v3/{pixel_id}/events?access_token=``.

Times in seconds; up to 2,000 events. ``event_id`` is the Snap Pixel's ``client_dedup_id``.
Phones are digits with the country code, no ``+`` (``+44 844 412 4653`` → ``448444124653``).
Plain HTTP statuses: 2xx ok, 429/5xx retry, other 4xx permanent (the default ``classify``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent
from chalicelib.platforms.payload import capi_user_data, compact, epoch_seconds, money, sent_time
from chalicelib.platforms.platform import Item, Platform, Secrets, Settings, Target, base_url

BASE_URL = "https://tr.snapchat.com"

# Snap has no lead event: SIGN_UP is its closest standard one. Custom kinds go as CUSTOM_EVENT_1.
EVENT_NAMES = {PAGE_VIEW: "PAGE_VIEW", LEAD: "SIGN_UP", PURCHASE: "PURCHASE"}
CUSTOM_EVENT = "CUSTOM_EVENT_1"


class Snapchat(Platform):
    NAME = "snapchat"
    MAX_BATCH = 2000
    # Snap's documentation: events up to 37 days back are eligible for reporting.
    MAX_AGE = timedelta(days=37)
    SECRET_FIELDS = ("access_token",)
    REQUIRED_SETTINGS = ("pixel_id",)

    def lacks(self, event: PlatformEvent) -> str | None:
        if not (
            event.user.get("em")
            or event.user.get("ph_digits")
            or event.click_ids.get("ScCid")
            or (event.ip and event.user_agent)
        ):
            return "needs a hashed e-mail or phone, ScCid, or IP address and user agent"
        return None

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        url = (
            f"{base_url(settings, BASE_URL)}/v3/{quote(str(settings['pixel_id']), safe='')}"
            f"/events?access_token={quote(secrets['access_token'], safe='')}"
        )
        return Target(url)

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        item: dict[str, Any] = {
            "event_name": EVENT_NAMES.get(event.kind, CUSTOM_EVENT),
            "event_time": epoch_seconds(sent_time(event, now)),
            "event_id": event.event_id,
            "action_source": "WEB",
            "event_source_url": event.source_url,
            "user_data": capi_user_data(event, sc_click_id=event.click_ids.get("ScCid")),
        }
        custom = money(event, as_text=True)
        if custom:
            item["custom_data"] = custom
        return compact(item)


PLATFORM = Snapchat()
