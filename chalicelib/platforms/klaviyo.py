"""Klaviyo: one ``POST https://a.klaviyo.com/api/events`` per event (JSON:API).

The call records the event and creates or updates the profile it names, so a metric-triggered
flow ("Rebound Lead" -> wait 24 h -> exit if "Rebound Purchase") starts from it. A conversion
names the profile by its email; a click that came from a Klaviyo email carries ``_kx``, the
encrypted profile identifier Klaviyo documents as a profile attribute of Create Event, and becomes
a "Rebound Clicked Link" event for that profile. ``unique_id`` is Rebound's event id: Klaviyo keeps
only the first event with a given ``unique_id`` per profile and metric, so a resend is harmless.

Headers: ``Authorization: Klaviyo-API-Key <private key>``, ``revision`` (required; the config's
``revision``) and the JSON:API content type. 202 is success; 429 carries ``Retry-After``;
errors are JSON:API ``errors[]``. Limits: 350/s burst, 3,500/min steady per account (docs/remarketing.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.platforms.email_tool import (
    EmailTool,
    email_of,
    event_name,
    iso,
    properties,
)
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.platform import Item, Secrets, Settings, Target, base_url

BASE_URL = "https://a.klaviyo.com"
JSON_API = "application/vnd.api+json"
DEFAULT_REVISION = "2026-10-15"
MAX_METRIC_NAME = 127  # "Must be less than 128 characters"


class Klaviyo(EmailTool):
    NAME = "klaviyo"
    SECRET_FIELDS = ("api_key",)
    # A token bucket of 55 refilled at 55/s: at most 110 in any second (burst limit 350/s) and
    # 55 + 60 * 55 = 3,355 in any minute (steady limit 3,500/min).
    PACE = (55, 1.0, None)

    def lacks(self, event: PlatformEvent) -> str | None:
        if len(event_name(event.kind)) > MAX_METRIC_NAME:
            return f"the metric name is longer than {MAX_METRIC_NAME} characters"
        return None

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        return Target(
            f"{base_url(settings, BASE_URL)}/api/events",
            {
                "Authorization": f"Klaviyo-API-Key {secrets['api_key']}",
                "revision": str(settings.get("revision") or DEFAULT_REVISION),
                "Content-Type": JSON_API,
                "accept": JSON_API,
            },
        )

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        if event.is_page_view:
            profile = {"_kx": self.subscriber(event)}
        else:
            profile = {"email": email_of(event)}
        attributes: dict[str, Any] = {
            "properties": properties(event),
            "time": iso(event.event_time),
            "unique_id": event.event_id,
            "metric": {"data": {"type": "metric", "attributes": {"name": event_name(event.kind)}}},
            "profile": {"data": {"type": "profile", "attributes": profile}},
        }
        if event.value is not None:
            attributes["value"] = event.value
            if event.currency:
                attributes["value_currency"] = event.currency
        return {"data": {"type": "event", "attributes": attributes}}


PLATFORM = Klaviyo()
