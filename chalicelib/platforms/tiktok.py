"""TikTok Events API 2.0: ``POST business-api.tiktok.com/open_api/v1.3/event/track/``.

Header ``Access-Token``; times in seconds; up to 1,000 events. TikTok answers HTTP 200 with a
``code`` in the body: 0 ok, 20001 partial, 40100 rate limited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.platforms.answers import classify_status, clip, error_text, parse_json
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent
from chalicelib.platforms.http import OK, PERMANENT, RETRY, Outcome
from chalicelib.platforms.payload import (
    compact,
    epoch_seconds,
    has_match_key,
    hashed_visitor,
    money,
    sent_time,
)
from chalicelib.platforms.platform import Item, Platform, Secrets, Settings, Target, base_url

BASE_URL = "https://business-api.tiktok.com"
PATH = "/open_api/v1.3/event/track/"

# Since May 2025 TikTok's standard names are Lead and Purchase (SubmitForm and CompletePayment
# still work and are converted).
EVENT_NAMES = {PAGE_VIEW: "ViewContent", LEAD: "Lead", PURCHASE: "Purchase"}

RETRY_CODES = frozenset({40100, 42900, 50000, 50002})
PARTIAL_CODES = frozenset({20001})


class TikTok(Platform):
    NAME = "tiktok"
    MAX_BATCH = 1000
    # Unverified (PLATFORMS.md): TikTok documents no hard limit; 7 days, like Meta, keeps
    # attribution meaningful and errs on the safe side.
    MAX_AGE = timedelta(days=7)
    SECRET_FIELDS = ("access_token",)
    REQUIRED_SETTINGS = ("pixel_code",)

    def lacks(self, event: PlatformEvent) -> str | None:
        if not has_match_key(event, "ttclid"):
            return "no identifier to match on (ttclid, email, phone, external_id, IP or UA)"
        return None

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        return Target(
            base_url(settings, BASE_URL) + PATH, {"Access-Token": secrets["access_token"]}
        )

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        user = compact(
            {
                "email": event.user.get("em"),
                "phone": event.user.get("ph_e164"),
                "external_id": hashed_visitor(event),
                "ttclid": event.click_ids.get("ttclid"),
                "ttp": event.click_ids.get("ttp"),
                "ip": event.ip,
                "user_agent": event.user_agent,
            }
        )
        item: dict[str, Any] = {
            "event": EVENT_NAMES.get(event.kind, event.kind),
            "event_time": epoch_seconds(sent_time(event, now)),
            "event_id": event.event_id,
            "user": user,
        }
        if event.source_url:
            item["page"] = {"url": event.source_url}
        properties = money(event)
        if properties:
            item["properties"] = properties
        item["limited_data_use"] = event.limited_data_use
        return item

    def body(self, items: list[Item], batch: Sequence[PlatformEvent], settings: Settings) -> Item:
        body: dict[str, Any] = {
            "event_source": "web",
            "event_source_id": str(settings["pixel_code"]),
            "data": items,
        }
        if settings.get("test_event_code"):
            body["test_event_code"] = settings["test_event_code"]
        return body

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """HTTP first (429/5xx retry, other 4xx permanent), then the body's ``code``."""
        payload = parse_json(body)
        if not 200 <= status < 300:
            return classify_status(status, error_text(payload))
        if not isinstance(payload, dict) or "code" not in payload:
            return Outcome(RETRY, "tiktok answered without a code")
        code = payload.get("code")
        message = clip(payload.get("message") or "")
        reason = f"tiktok code {code}" + (f": {message}" if message else "")
        if code == 0:
            return Outcome(OK, reason)
        if code in PARTIAL_CODES:
            return Outcome(OK, f"partial failure, {reason}", partial=True)
        if code in RETRY_CODES:
            return Outcome(RETRY, reason)
        return Outcome(PERMANENT, reason)


PLATFORM = TikTok()
