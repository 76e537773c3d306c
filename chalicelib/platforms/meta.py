"""Meta Conversions API: ``POST graph.facebook.com/v{N}/{pixel_id}/events``.

Times in seconds; events no older than 7 days; up to 1,000 events a request, and one invalid
event rejects the whole request, so everything is checked here first. ``fbc`` is built from the
click's own time and dropped once the click is 90 days old.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.platforms.answers import classify_status, clip, error_text, parse_json
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent
from chalicelib.platforms.http import OK, PERMANENT, RETRY, Outcome
from chalicelib.platforms.payload import (
    capi_user_data,
    epoch_ms,
    epoch_seconds,
    money,
    sent_time,
    tier_of,
)
from chalicelib.platforms.platform import Item, Platform, Secrets, Settings, Target, base_url

FBC_MAX_AGE = timedelta(days=90)
API_VERSION = "v26.0"
BASE_URL = "https://graph.facebook.com"

EVENT_NAMES = {PAGE_VIEW: "PageView", LEAD: "Lead", PURCHASE: "Purchase"}

# Graph API error codes (PLATFORMS.md); 613 is the Graph "calls exceeded the rate limit" code.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 368, 613})
PERMANENT_CODES = frozenset({100, 190, 200, 294})


def event_name(event: PlatformEvent, settings: Mapping[str, Any]) -> str:
    if event.kind == PAGE_VIEW:
        return str(settings.get("page_view_event") or EVENT_NAMES[PAGE_VIEW])
    return EVENT_NAMES.get(event.kind, event.kind)


def fbc(event: PlatformEvent, now: datetime) -> str | None:
    """``fb.1.<click time ms>.<fbclid>``, from the click's time, never now; None after 90 days."""
    fbclid = event.click_ids.get("fbclid")
    clicked = event.clicked_at
    if not fbclid or clicked is None or clicked < now - FBC_MAX_AGE:
        return None
    return f"fb.1.{epoch_ms(clicked)}.{fbclid}"


class Meta(Platform):
    NAME = "meta"
    MAX_BATCH = 1000
    MAX_AGE = timedelta(days=7)
    SECRET_FIELDS = ("access_token",)
    REQUIRED_SETTINGS = ("pixel_id",)

    def lacks(self, event: PlatformEvent) -> str | None:
        """What Meta would refuse ``event`` for (and with it the whole batch), or None."""
        if not event.user_agent:
            return "a website event needs the user agent (client_user_agent)"
        if not event.source_url:
            return "a website event needs event_source_url"
        if event.kind == PURCHASE and (event.value is None or not event.currency):
            return "a Purchase needs value and currency"
        return None

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        version = str(settings.get("api_version") or API_VERSION)
        url = (
            f"{base_url(settings, BASE_URL)}/{quote(version)}/"
            f"{quote(str(settings['pixel_id']), safe='')}/events"
            f"?access_token={quote(secrets['access_token'], safe='')}"
        )
        return Target(url)

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        item: dict[str, Any] = {
            "event_name": event_name(event, settings),
            "event_time": epoch_seconds(sent_time(event, now)),
            "event_id": event.event_id,
            "action_source": "website",
            "event_source_url": event.source_url,
            "user_data": capi_user_data(event, fbc=fbc(event, now), fbp=event.click_ids.get("fbp")),
        }
        custom = {**money(event), **tier_of(event)}
        if custom:
            item["custom_data"] = custom
        if event.limited_data_use:
            # 0/0: let Meta geolocate the visitor to apply the right state law.
            item["data_processing_options"] = ["LDU"]
            item["data_processing_options_country"] = 0
            item["data_processing_options_state"] = 0
        return item

    def body(self, items: list[Item], batch: Sequence[PlatformEvent], settings: Settings) -> Item:
        body: dict[str, Any] = {"data": items}
        if settings.get("test_event_code"):
            body["test_event_code"] = settings["test_event_code"]
        return body

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """``{"error": {code, error_subcode, is_transient, message}}`` first, then the status."""
        payload = parse_json(body)
        error = payload.get("error") if isinstance(payload, dict) else None
        if 200 <= status < 300 and not error:
            received = payload.get("events_received") if isinstance(payload, dict) else None
            return Outcome(OK, f"events_received={received}" if received is not None else "")
        if isinstance(error, dict):
            code, sub = error.get("code"), error.get("error_subcode")
            label = f"meta error {code}" + (f"/{sub}" if sub else "")
            message = clip(error.get("error_user_msg") or error.get("message") or "")
            reason = f"{label}: {message}" if message else label
            if code == 100 and sub == 2804003:
                return Outcome(PERMANENT, f"{reason} (event too old)")
            if code in PERMANENT_CODES:
                return Outcome(PERMANENT, reason)
            if error.get("is_transient") is True or code in TRANSIENT_CODES:
                return Outcome(RETRY, reason)
            return Outcome(classify_status(status).kind, reason)
        return classify_status(status, error_text(payload))


PLATFORM = Meta()
