"""LinkedIn Conversions API: ``POST api.linkedin.com/rest/conversionEvents`` (BATCH_CREATE).

Times in milliseconds; events up to 90 days old; up to 5,000 elements a request. Every event needs
``user.userIds`` (hashed e-mail or the ``li_fat_id`` first-party tracking id), so a click gets an
event only when the visitor brought ``li_fat_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.platforms.answers import classify_per_event, error_text
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.http import Outcome
from chalicelib.platforms.payload import epoch_ms, sent_time
from chalicelib.platforms.platform import Item, Platform, Secrets, Settings, Target, base_url

BASE_URL = "https://api.linkedin.com"
PATH = "/rest/conversionEvents"
# LinkedIn retires a version about a year after release; settings["version"] overrides.
DEFAULT_VERSION = "202610"
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


class LinkedIn(Platform):
    NAME = "linkedin"
    MAX_BATCH = 5000
    MAX_AGE = timedelta(days=90)
    SECRET_FIELDS = ("access_token",)
    REQUIRED_SETTINGS = ("conversion_rule",)

    def not_for(self, event: PlatformEvent) -> str | None:
        if event.is_page_view and not user_ids(event):
            return "click without li_fat_id"
        return None

    def problem(self, event: PlatformEvent, now: datetime) -> str | None:
        if not user_ids(event):
            return "no userIds: needs a hashed e-mail or li_fat_id"
        return super().problem(event, now)

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        headers = {
            "LinkedIn-Version": str(settings.get("version") or DEFAULT_VERSION),
            "X-Restli-Protocol-Version": "2.0.0",
            "X-RestLi-Method": "BATCH_CREATE",
        }
        return Target(base_url(settings, BASE_URL) + PATH, headers, bearer=secrets["access_token"])

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        item: dict[str, Any] = {
            "conversion": conversion_urn(settings["conversion_rule"]),
            "conversionHappenedAt": epoch_ms(sent_time(event, now)),
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

    def body(self, items: list[Item], batch: Sequence[PlatformEvent], settings: Settings) -> Item:
        return {"elements": items}

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """Status first; a 2xx batch answer may still refuse some elements (``partial``)."""
        return classify_per_event(
            status,
            body,
            results="elements",
            failed=lambda el: _element_status(el) >= 300,
            detail=lambda el: error_text(el.get("error") or el),
            verb="refused",
            noun="element",
        )


def _element_status(element: Mapping[str, Any]) -> int:
    try:
        return int(element.get("status") or 201)
    except (TypeError, ValueError):
        return 500


PLATFORM = LinkedIn()
