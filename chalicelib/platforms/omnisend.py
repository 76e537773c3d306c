"""Omnisend: one ``POST https://api.omnisend.com/api/events`` per conversion (API 2026-03-15).

The event creates or updates the contact it names by email and can trigger an automation on its
``eventName`` (a custom event: no ``eventVersion``). ``eventID`` must be a UUID: Rebound's event id
when it is one, else a UUID derived from it (``event_uuid``: the same id every time), so a resend
carries the same ``eventID`` and ``eventTime``. Omnisend deduplicates on that pair only for
historical events, not for the real-time events automations run on; the ledger is what keeps an
event from being sent twice. Clicks are not sent: Omnisend documents no subscriber id in links.

Headers: ``Authorization: Omnisend-API-Key <key>`` and ``Omnisend-Version: 2026-03-15``. 202 is
success; 400 is an RFC 9457 problem with ``errors[]``; 429 (400 requests/min per brand, sliding
window) has no ``Retry-After``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from chalicelib.platforms.email_tool import EmailTool, email_of, event_name, iso, properties
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.platform import Item, Secrets, Settings, Target, base_url

BASE_URL = "https://api.omnisend.com"
VERSION = "2026-03-15"
ORIGIN = "api"  # what Omnisend asks of a store's own integration (not an app's name)
# The namespace of the UUIDs derived from Rebound's event ids (uuid5): fixed, never change it.
EVENT_NAMESPACE = uuid.UUID("5d0c3f55-7c49-4f5e-9a58-2b6c1b7e9f10")


def event_uuid(event_id: str) -> str:
    """Omnisend's ``eventID``: the event id itself when it is a UUID, else its UUID v5."""
    try:
        return str(uuid.UUID(event_id))
    except ValueError:
        return str(uuid.uuid5(EVENT_NAMESPACE, event_id))


class Omnisend(EmailTool):
    NAME = "omnisend"
    SECRET_FIELDS = ("api_key",)
    # 400 per minute per brand, over a sliding window: a bucket of 30 refilled at 6/s lets at
    # most 30 + 60 * 6 = 390 through in any 60 seconds.
    PACE = (30, 5.0, None)

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        return Target(
            f"{base_url(settings, BASE_URL)}/api/events",
            {
                "Authorization": f"Omnisend-API-Key {secrets['api_key']}",
                "Omnisend-Version": VERSION,
            },
        )

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        return {
            "eventName": event_name(event.kind),
            "origin": ORIGIN,
            "eventID": event_uuid(event.event_id),
            "eventTime": iso(event.event_time),
            "contact": {"email": email_of(event)},
            "properties": properties(event),
        }


PLATFORM = Omnisend()
