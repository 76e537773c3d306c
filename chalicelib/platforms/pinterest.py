"""Pinterest Conversions API: ``POST api.pinterest.com/v5/ad_accounts/{id}/events``.

Bearer token; times in seconds; up to 1,000 events; ``?test=true`` for test events. An event
needs a hashed e-mail (or mobile ad id, which Rebound never has) or IP and user agent together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.platforms import adapter
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.http import OK, HttpRequest, Outcome

NAME = "pinterest"
MAX_BATCH = 1000
# Not in PLATFORMS.md: Pinterest counts late events as offline; 7 days keeps them attributable.
MAX_AGE = timedelta(days=7)
BASE_URL = "https://api.pinterest.com"
SECRET_FIELDS = ("access_token",)

# A custom kind is sent as Pinterest's generic "custom" event.
EVENT_NAMES = {PAGE_VIEW: "page_visit", LEAD: "lead", PURCHASE: "checkout"}

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
    if not event.user.get("em") and not (event.ip and event.user_agent):
        return "needs a hashed e-mail, or IP address and user agent"
    return None


def to_pinterest(event: PlatformEvent, now: datetime) -> dict[str, Any]:
    user = adapter.user_lists(event.user, _USER_FIELDS)
    external_id = adapter.hashed_visitor(event)
    if external_id:
        user["external_id"] = [external_id]
    item: dict[str, Any] = {
        "event_name": EVENT_NAMES.get(event.kind, "custom"),
        "action_source": "web",
        "event_time": adapter.epoch_seconds(adapter.sent_time(event, now)),
        "event_id": event.event_id,
        "event_source_url": event.source_url,
        "user_data": adapter.compact(
            {
                **user,
                "client_ip_address": event.ip,
                "client_user_agent": event.user_agent,
                "click_id": event.click_ids.get("epik"),
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
    if event.limited_data_use or not event.ad_personalization:
        item["opt_out"] = True
    return adapter.compact(item)


def build_requests(
    events: Sequence[PlatformEvent],
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    now: datetime,
) -> tuple[list[HttpRequest], list[Rejected]]:
    missing = adapter.missing_config(NAME, settings, secrets, ("ad_account_id",), SECRET_FIELDS)
    if missing:
        return [], adapter.reject_all(events, missing)
    good, rejected = adapter.screen(events, problem, now)
    account = quote(str(settings["ad_account_id"]), safe="")
    url = f"{adapter.base_url(settings, BASE_URL)}/v5/ad_accounts/{account}/events"
    if settings.get("test"):
        url += "?test=true"
    headers = {**adapter.JSON_HEADERS, "Authorization": f"Bearer {secrets['access_token']}"}
    requests = [
        HttpRequest(
            "POST",
            url,
            dict(headers),
            {"data": [to_pinterest(e, now) for e in batch]},
            tuple(e.event_id for e in batch),
        )
        for batch in adapter.batches(good, MAX_BATCH)
    ]
    return requests, rejected


def classify(status: int, body: bytes | str) -> Outcome:
    """Status first; a 200 lists each event's status, some may have ``failed``."""
    payload = adapter.parse_json(body)
    if not 200 <= status < 300:
        return adapter.classify_status(status, adapter.error_text(payload))
    results = payload.get("events") if isinstance(payload, dict) else None
    if isinstance(results, list):
        failed = [
            (i, r)
            for i, r in enumerate(results)
            if isinstance(r, dict) and r.get("status") == "failed"
        ]
        if failed:
            index, first = failed[0]
            detail = adapter.clip(first.get("error_message") or "")
            return Outcome(
                OK, f"{len(failed)} of {len(results)} failed; event {index}: {detail}", partial=True
            )
    return Outcome(OK, f"HTTP {status}")
