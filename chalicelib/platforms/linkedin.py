"""LinkedIn Conversions API: ``POST api.linkedin.com/rest/conversionEvents`` (BATCH_CREATE).

Times in milliseconds; events up to 90 days old; up to 5,000 elements a request. Every event needs
``user.userIds`` (hashed e-mail or the ``li_fat_id`` first-party tracking id), so a click gets an
event only when the visitor brought ``li_fat_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.platforms import adapter
from chalicelib.platforms.event import PlatformEvent, Rejected
from chalicelib.platforms.http import OK, HttpRequest, Outcome

NAME = "linkedin"
MAX_BATCH = 5000
MAX_AGE = timedelta(days=90)
BASE_URL = "https://api.linkedin.com"
PATH = "/rest/conversionEvents"
# LinkedIn retires a version about a year after release; settings["version"] overrides.
DEFAULT_VERSION = "202610"
SECRET_FIELDS = ("access_token",)
RULE_PREFIX = "urn:lla:llaPartnerConversion:"


def conversion_urn(rule: Any) -> str:
    """The conversion rule as a URN; a bare id is accepted too."""
    text = str(rule).strip()
    return text if text.startswith("urn:") else f"{RULE_PREFIX}{text}"


def user_ids(event: PlatformEvent) -> list[dict[str, str]]:
    ids = []
    if event.user.get("em"):
        ids.append({"idType": "SHA256_EMAIL", "idValue": event.user["em"]})
    if event.click_ids.get("li_fat_id"):
        ids.append(
            {
                "idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",
                "idValue": event.click_ids["li_fat_id"],
            }
        )
    return ids


def to_linkedin(event: PlatformEvent, rule: str, now: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "conversion": rule,
        "conversionHappenedAt": adapter.epoch_ms(adapter.sent_time(event, now)),
        "eventId": event.event_id,
        # userInfo (first/last name) takes clear text, which Rebound never keeps: not sent.
        "user": {"userIds": user_ids(event)},
    }
    if event.value is not None and event.currency:
        item["conversionValue"] = {
            "currencyCode": event.currency,
            "amount": str(float(event.value)),
        }
    return item


def build_requests(
    events: Sequence[PlatformEvent],
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    now: datetime,
) -> tuple[list[HttpRequest], list[Rejected]]:
    missing = adapter.missing_config(NAME, settings, secrets, ("conversion_rule",), SECRET_FIELDS)
    if missing:
        return [], adapter.reject_all(events, missing)
    good, rejected = [], []
    for event in events:
        if not user_ids(event):
            if event.is_page_view:
                rejected.append(
                    Rejected(event.event_id, "click without li_fat_id", not_applicable=True)
                )
            else:
                rejected.append(
                    Rejected(event.event_id, "no userIds: needs a hashed e-mail or li_fat_id")
                )
            continue
        late = adapter.age_problem(event.event_time, now, MAX_AGE)
        if late:
            rejected.append(Rejected(event.event_id, late))
            continue
        good.append(event)
    rule = conversion_urn(settings["conversion_rule"])
    headers = {
        **adapter.JSON_HEADERS,
        "Authorization": f"Bearer {secrets['access_token']}",
        "LinkedIn-Version": str(settings.get("version") or DEFAULT_VERSION),
        "X-Restli-Protocol-Version": "2.0.0",
        "X-RestLi-Method": "BATCH_CREATE",
    }
    url = adapter.base_url(settings, BASE_URL) + PATH
    requests = [
        HttpRequest(
            "POST",
            url,
            dict(headers),
            {"elements": [to_linkedin(e, rule, now) for e in batch]},
            tuple(e.event_id for e in batch),
        )
        for batch in adapter.batches(good, MAX_BATCH)
    ]
    return requests, rejected


def classify(status: int, body: bytes | str) -> Outcome:
    """Status first; a 2xx batch answer may still refuse some elements (``partial``)."""
    payload = adapter.parse_json(body)
    if not 200 <= status < 300:
        return adapter.classify_status(status, adapter.error_text(payload))
    elements = payload.get("elements") if isinstance(payload, dict) else None
    if isinstance(elements, list):
        failed = [
            (i, el)
            for i, el in enumerate(elements)
            if isinstance(el, dict) and _element_status(el) >= 300
        ]
        if failed:
            first_index, first = failed[0]
            detail = adapter.clip(adapter.error_text(first.get("error") or first))
            return Outcome(
                OK,
                f"{len(failed)} of {len(elements)} refused; element {first_index}: {detail}",
                partial=True,
            )
    return Outcome(OK, f"HTTP {status}")


def _element_status(element: Mapping[str, Any]) -> int:
    try:
        return int(element.get("status") or 201)
    except (TypeError, ValueError):
        return 500
