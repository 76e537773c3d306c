"""HubSpot: a conversion sets the contact's ``rebound_*`` properties, and, where the config names a
custom event for its kind (an Enterprise hub), records that event too.

1. ``POST https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert``
   ``{inputs: [{id: <email>, idProperty: "email", properties: {rebound_...}}]}``: creates or
   updates the contact by email. The properties (``CONTACT_PROPERTIES``) are custom contact
   properties the marketer creates once (docs/remarketing.md); one that does not exist makes
   HubSpot refuse the request (400 ``PROPERTY_DOESNT_EXIST``: permanent, the reason names it). A
   workflow enrolls on "Rebound last event is any of Rebound Lead" and re-enrolls on
   ``rebound_last_event_at``: that works on any hub with workflows.
2. With ``event_names: {lead: pe1234567_rebound_lead}``: ``POST /events/v3/send``
   ``{eventName, email, occurredAt, properties, uuid}``. ``uuid`` is HubSpot's idempotency key
   ("when multiple events have the same ID within a year, the first will be accepted and all
   others will be rejected"): a UUID derived from Rebound's event id, so a retried chain records
   the event once.

Auth: ``Authorization: Bearer <private app token>``. Burst limit per app and account: 100
requests per 10 s (Free/Starter; 190 on Professional/Enterprise): the pace keeps the lower one
(9 a second).
401 (a bad or revoked token) and 403 (a missing scope) are permanent; 429 and 5xx retried.
Errors are ``{status: "error", message, category, correlationId}``. Clicks are not sent:
HubSpot's email links carry no id Rebound can name a contact by.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.clicks.text import mask_emails
from chalicelib.platforms import email_tool
from chalicelib.platforms.answers import classify_status, clip, parse_json
from chalicelib.platforms.email_tool import EmailTool, as_text, email_of, event_name, properties
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.http import OK, PERMANENT, HttpRequest, Outcome
from chalicelib.platforms.platform import JSON_HEADERS, Item, Secrets, Settings, base_url

BASE_URL = "https://api.hubapi.com"
UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
EVENTS_PATH = "/events/v3/send"
# Rebound's event ids as HubSpot event uuids: uuid5 in a namespace of Rebound's own.
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://rebound.dev/hubspot/events")

# The contact properties set on each conversion (HubSpot internal name <- Rebound property),
# besides the event's name, time and id. The marketer creates them (docs/remarketing.md).
CONTACT_PROPERTIES = {
    "rebound_campaign": "campaign",
    "rebound_link": "link",
    "rebound_destination": "destination",
    "rebound_utm_source": "utm_source",
    "rebound_utm_medium": "utm_medium",
    "rebound_utm_campaign": "utm_campaign",
    "rebound_click_time": "click_time",
    "rebound_value": "value",
    "rebound_currency": "currency",
    "rebound_audiences": "audiences",
    "rebound_ad_consent": "ad_consent",
}
# The custom event's properties (defined on the event in HubSpot; short text values).
EVENT_PROPERTIES = {
    "rebound_event_id": "rebound_event_id",
    "rebound_campaign": "campaign",
    "rebound_link": "link",
    "rebound_utm_source": "utm_source",
    "rebound_utm_medium": "utm_medium",
    "rebound_utm_campaign": "utm_campaign",
    "rebound_value": "value",
    "rebound_currency": "currency",
    "rebound_ad_consent": "ad_consent",
}
_MISSING_RE = re.compile(r'Property \\*"([A-Za-z0-9_]+)\\*" does not exist')


def hubspot_time(moment: datetime) -> str:
    """``2026-11-23T11:00:00.000Z``: what a datetime property and ``occurredAt`` read."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def event_uuid(event_id: str) -> str:
    """The event's ``uuid``: the same for the same Rebound event id, every time."""
    return str(uuid.uuid5(UUID_NAMESPACE, event_id))


def contact_properties(event: PlatformEvent) -> dict[str, str]:
    found = properties(event)
    if event.clicked_at is not None:
        found["click_time"] = hubspot_time(event.clicked_at)
    values = {name: found[key] for name, key in CONTACT_PROPERTIES.items() if key in found}
    values |= {
        "rebound_last_event": event_name(event.kind),
        "rebound_last_event_at": hubspot_time(event.event_time),
        "rebound_last_event_id": event.event_id,
    }
    return as_text(values)


def event_properties(event: PlatformEvent) -> dict[str, str]:
    found = properties(event)
    return as_text({name: found[key] for name, key in EVENT_PROPERTIES.items() if key in found})


def event_for(settings: Settings, kind: str) -> str | None:
    names: Mapping[str, Any] = settings.get("event_names") or {}
    found = names.get(kind)
    return str(found) if found else None


def error_detail(body: bytes | str) -> str:
    """``CATEGORY: message``, or for a missing property which ones and what to do (any other
    shape as every email tool reads it), every address in it masked."""
    payload = parse_json(body)
    message = str(payload.get("message") or "") if isinstance(payload, dict) else ""
    if "PROPERTY_DOESNT_EXIST" in message:
        missing = sorted(set(_MISSING_RE.findall(message)))
        names = ", ".join(missing) or "a property"
        return f"PROPERTY_DOESNT_EXIST: {names} (create it in HubSpot: docs/remarketing.md)"
    if not message:
        return email_tool.error_detail(body)
    category = payload.get("category")
    return mask_emails(clip(f"{category}: {message}" if category else message))


class HubSpot(EmailTool):
    NAME = "hubspot"
    SECRET_FIELDS = ("access_token",)
    PACE_SECRET = "access_token"  # noqa: S105 - a field name
    # 100 per 10 s per app and account: 9 a second, no burst, lets at most 99 through in any
    # 10 seconds (one or two per conversion).
    PACE = (9, 1.0, None)

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        """The contact upsert (the first step)."""
        contact = {"id": email_of(event), "idProperty": "email"}
        return {"inputs": [{**contact, "properties": contact_properties(event)}]}

    def requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> list[HttpRequest]:
        base = base_url(settings, BASE_URL)
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {secrets['access_token']}"}
        pace = self.pace(settings, secrets)
        chains = []
        for event in events:
            ids = (event.event_id,)
            then = None
            if name := event_for(settings, event.kind):
                body = {
                    "eventName": name,
                    "email": email_of(event),
                    "occurredAt": hubspot_time(event.event_time),
                    "properties": event_properties(event),
                    "uuid": event_uuid(event.event_id),
                }
                record = HttpRequest("POST", f"{base}{EVENTS_PATH}", headers, body, ids, pace=pace)
                then = _to(record)
            upsert = self.payload(event, settings, now)
            chains.append(
                HttpRequest(
                    "POST", f"{base}{UPSERT_PATH}", headers, upsert, ids, then=then, pace=pace
                )
            )
        return chains

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """2xx ok, but a batch answer listing errors is permanent; a 409 about the event's uuid
        is an event recorded before (ok); 429 and 5xx retry; 400 (a missing property), 401, 403
        and other 4xx permanent, with HubSpot's category and message."""
        if 200 <= status < 300:
            payload = parse_json(body)
            errors = payload.get("errors") if isinstance(payload, dict) else None
            if errors:
                return Outcome(PERMANENT, f"HTTP {status}: {error_detail(_first(errors))}")
            return classify_status(status)  # the body is the contact, address included
        detail = error_detail(body)
        if status == 409 and "uuid" in detail.lower():
            return Outcome(OK, f"HTTP 409, recorded before: {detail}")
        return classify_status(status, detail)


def _first(errors: Any) -> bytes:
    first = errors[0] if isinstance(errors, list) and errors else errors
    return json.dumps(first).encode()


def _to(step: HttpRequest) -> Any:
    return lambda _answer: step


PLATFORM = HubSpot()
