"""Pinterest Conversions API: ``POST api.pinterest.com/v5/ad_accounts/{id}/events``.

Bearer token; times in seconds; up to 1,000 events; ``?test=true`` for test events. An event
needs a hashed e-mail (or mobile ad id, which Rebound never has) or IP and user agent together.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.platforms.answers import classify_per_event
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent
from chalicelib.platforms.http import Outcome
from chalicelib.platforms.payload import capi_user_data, compact, epoch_seconds, money, sent_time
from chalicelib.platforms.platform import Item, Platform, Secrets, Settings, Target, base_url

BASE_URL = "https://api.pinterest.com"

# A custom kind is sent as Pinterest's generic "custom" event.
EVENT_NAMES = {PAGE_VIEW: "page_visit", LEAD: "lead", PURCHASE: "checkout"}


class Pinterest(Platform):
    NAME = "pinterest"
    MAX_BATCH = 1000
    # Not in PLATFORMS.md: Pinterest counts late events as offline; 7 days keeps them attributable.
    MAX_AGE = timedelta(days=7)
    SECRET_FIELDS = ("access_token",)
    REQUIRED_SETTINGS = ("ad_account_id",)

    def lacks(self, event: PlatformEvent) -> str | None:
        if not event.user.get("em") and not (event.ip and event.user_agent):
            return "needs a hashed e-mail, or IP address and user agent"
        return None

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        account = quote(str(settings["ad_account_id"]), safe="")
        url = f"{base_url(settings, BASE_URL)}/v5/ad_accounts/{account}/events"
        if settings.get("test"):
            url += "?test=true"
        return Target(url, bearer=secrets["access_token"])

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        item: dict[str, Any] = {
            "event_name": EVENT_NAMES.get(event.kind, "custom"),
            "action_source": "web",
            "event_time": epoch_seconds(sent_time(event, now)),
            "event_id": event.event_id,
            "event_source_url": event.source_url,
            "user_data": capi_user_data(event, click_id=event.click_ids.get("epik")),
        }
        custom = money(event, as_text=True)
        if custom:
            item["custom_data"] = custom
        if event.limited_data_use or not event.ad_personalization:
            item["opt_out"] = True
        return compact(item)

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """Status first; a 200 lists each event's status, some may have ``failed``."""
        return classify_per_event(
            status,
            body,
            results="events",
            failed=lambda r: r.get("status") == "failed",
            detail=lambda r: r.get("error_message") or "",
            verb="failed",
            noun="event",
        )


PLATFORM = Pinterest()
