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

from chalicelib.platforms import adapter
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.http import OK, PERMANENT, RETRY, HttpRequest, Outcome

NAME = "meta"
MAX_BATCH = 1000
MAX_AGE = timedelta(days=7)
FBC_MAX_AGE = timedelta(days=90)
API_VERSION = "v26.0"
BASE_URL = "https://graph.facebook.com"
SECRET_FIELDS = ("access_token",)

EVENT_NAMES = {PAGE_VIEW: "PageView", LEAD: "Lead", PURCHASE: "Purchase"}

# Graph API error codes (PLATFORMS.md); 613 is the Graph "calls exceeded the rate limit" code.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 368, 613})
PERMANENT_CODES = frozenset({100, 190, 200, 294})

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
    return f"fb.1.{adapter.epoch_ms(clicked)}.{fbclid}"


def problem(event: PlatformEvent, now: datetime) -> str | None:
    """Why Meta would refuse ``event`` (and with it the whole batch), or None."""
    late = adapter.age_problem(event.event_time, now, MAX_AGE)
    if late:
        return late
    if not event.user_agent:
        return "a website event needs the user agent (client_user_agent)"
    if not event.source_url:
        return "a website event needs event_source_url"
    if event.kind == PURCHASE and (event.value is None or not event.currency):
        return "a Purchase needs value and currency"
    return None


def to_meta(event: PlatformEvent, settings: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    user = adapter.user_lists(event.user, _USER_FIELDS)
    external_id = adapter.hashed_visitor(event)
    if external_id:
        user["external_id"] = [external_id]
    user_data = adapter.compact(
        {
            **user,
            "client_ip_address": event.ip,
            "client_user_agent": event.user_agent,
            "fbc": fbc(event, now),
            "fbp": event.click_ids.get("fbp"),
        }
    )
    item: dict[str, Any] = {
        "event_name": event_name(event, settings),
        "event_time": adapter.epoch_seconds(adapter.sent_time(event, now)),
        "event_id": event.event_id,
        "action_source": "website",
        "event_source_url": event.source_url,
        "user_data": user_data,
    }
    custom = adapter.compact({"currency": event.currency, "value": event.value})
    if custom:
        item["custom_data"] = custom
    if event.limited_data_use:
        # 0/0: let Meta geolocate the visitor to apply the right state law.
        item["data_processing_options"] = ["LDU"]
        item["data_processing_options_country"] = 0
        item["data_processing_options_state"] = 0
    return item


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
    version = str(settings.get("api_version") or API_VERSION)
    url = (
        f"{adapter.base_url(settings, BASE_URL)}/{quote(version)}/"
        f"{quote(str(settings['pixel_id']), safe='')}/events"
        f"?access_token={quote(secrets['access_token'], safe='')}"
    )
    requests = []
    for batch in adapter.batches(good, MAX_BATCH):
        body: dict[str, Any] = {"data": [to_meta(e, settings, now) for e in batch]}
        if settings.get("test_event_code"):
            body["test_event_code"] = settings["test_event_code"]
        requests.append(
            HttpRequest(
                "POST", url, dict(adapter.JSON_HEADERS), body, tuple(e.event_id for e in batch)
            )
        )
    return requests, rejected


def classify(status: int, body: bytes | str) -> Outcome:
    """``{"error": {code, error_subcode, is_transient, message}}`` first, then the status."""
    payload = adapter.parse_json(body)
    error = payload.get("error") if isinstance(payload, dict) else None
    if 200 <= status < 300 and not error:
        received = payload.get("events_received") if isinstance(payload, dict) else None
        return Outcome(OK, f"events_received={received}" if received is not None else "")
    if isinstance(error, dict):
        code, sub = error.get("code"), error.get("error_subcode")
        label = f"meta error {code}" + (f"/{sub}" if sub else "")
        message = adapter.clip(error.get("error_user_msg") or error.get("message") or "")
        reason = f"{label}: {message}" if message else label
        if code == 100 and sub == 2804003:
            return Outcome(PERMANENT, f"{reason} (event too old)")
        if code in PERMANENT_CODES:
            return Outcome(PERMANENT, reason)
        if error.get("is_transient") is True or code in TRANSIENT_CODES:
            return Outcome(RETRY, reason)
        outcome = adapter.classify_status(status)
        return Outcome(outcome.kind, reason)
    return adapter.classify_status(status, adapter.error_text(payload))
