"""TikTok Events API 2.0: ``POST business-api.tiktok.com/open_api/v1.3/event/track/``.

Header ``Access-Token``; times in seconds; up to 1,000 events. TikTok answers HTTP 200 with a
``code`` in the body: 0 ok, 20001 partial, 40100 rate limited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.platforms import adapter
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.http import OK, PERMANENT, RETRY, HttpRequest, Outcome

NAME = "tiktok"
MAX_BATCH = 1000
# Unverified (PLATFORMS.md): TikTok documents no hard limit; 7 days, like Meta, keeps
# attribution meaningful and errs on the safe side.
MAX_AGE = timedelta(days=7)
BASE_URL = "https://business-api.tiktok.com"
PATH = "/open_api/v1.3/event/track/"
SECRET_FIELDS = ("access_token",)

# Since May 2025 TikTok's standard names are Lead and Purchase (SubmitForm and CompletePayment
# still work and are converted).
EVENT_NAMES = {PAGE_VIEW: "ViewContent", LEAD: "Lead", PURCHASE: "Purchase"}

RETRY_CODES = frozenset({40100, 42900, 50000, 50002})
PARTIAL_CODES = frozenset({20001})


def problem(event: PlatformEvent, now: datetime) -> str | None:
    late = adapter.age_problem(event.event_time, now, MAX_AGE)
    if late:
        return late
    if not (
        event.click_ids.get("ttclid")
        or event.user.get("em")
        or event.user.get("ph_e164")
        or adapter.hashed_visitor(event)
        or event.ip
        or event.user_agent
    ):
        return "no identifier to match on (ttclid, email, phone, external_id, IP or UA)"
    return None


def to_tiktok(event: PlatformEvent, now: datetime) -> dict[str, Any]:
    user = adapter.compact(
        {
            "email": event.user.get("em"),
            "phone": event.user.get("ph_e164"),
            "external_id": adapter.hashed_visitor(event),
            "ttclid": event.click_ids.get("ttclid"),
            "ttp": event.click_ids.get("ttp"),
            "ip": event.ip,
            "user_agent": event.user_agent,
        }
    )
    item: dict[str, Any] = {
        "event": EVENT_NAMES.get(event.kind, event.kind),
        "event_time": adapter.epoch_seconds(adapter.sent_time(event, now)),
        "event_id": event.event_id,
        "user": user,
    }
    if event.source_url:
        item["page"] = {"url": event.source_url}
    properties = adapter.compact({"currency": event.currency, "value": event.value})
    if properties:
        item["properties"] = properties
    item["limited_data_use"] = event.limited_data_use
    return item


def build_requests(
    events: Sequence[PlatformEvent],
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    now: datetime,
) -> tuple[list[HttpRequest], list[Rejected]]:
    missing = adapter.missing_config(NAME, settings, secrets, ("pixel_code",), SECRET_FIELDS)
    if missing:
        return [], adapter.reject_all(events, missing)
    good, rejected = adapter.screen(events, problem, now)
    url = adapter.base_url(settings, BASE_URL) + PATH
    headers = {**adapter.JSON_HEADERS, "Access-Token": secrets["access_token"]}
    requests = []
    for batch in adapter.batches(good, MAX_BATCH):
        body: dict[str, Any] = {
            "event_source": "web",
            "event_source_id": str(settings["pixel_code"]),
            "data": [to_tiktok(e, now) for e in batch],
        }
        if settings.get("test_event_code"):
            body["test_event_code"] = settings["test_event_code"]
        requests.append(
            HttpRequest("POST", url, dict(headers), body, tuple(e.event_id for e in batch))
        )
    return requests, rejected


def classify(status: int, body: bytes | str) -> Outcome:
    """HTTP first (429/5xx retry, other 4xx permanent), then the body's ``code``."""
    payload = adapter.parse_json(body)
    if not 200 <= status < 300:
        return adapter.classify_status(status, adapter.error_text(payload))
    if not isinstance(payload, dict) or "code" not in payload:
        return Outcome(RETRY, "tiktok answered without a code")
    code = payload.get("code")
    message = adapter.clip(payload.get("message") or "")
    reason = f"tiktok code {code}" + (f": {message}" if message else "")
    if code == 0:
        return Outcome(OK, reason)
    if code in PARTIAL_CODES:
        return Outcome(OK, f"partial failure, {reason}", partial=True)
    if code in RETRY_CODES:
        return Outcome(RETRY, reason)
    return Outcome(PERMANENT, reason)
