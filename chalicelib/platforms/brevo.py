"""Brevo: each conversion is a chain of two requests, the contact then its event.

1. ``POST https://api.brevo.com/v3/contacts`` ``{email, updateEnabled: true}``: creates the
   contact, or leaves it as it is (201 or 204; safe to repeat).
2. ``POST /v3/events`` ``{event_name, event_date, identifiers: {email_id}, event_properties}``:
   what an automation starts on (204).

Brevo's event names allow letters, digits, ``-`` and ``_`` only, so "Rebound Lead" is
``rebound_lead`` here (``brevo_event_name``). Brevo documents no idempotency key: the ledger keeps
an event from being sent twice, but a crash between Brevo's answer and the ledger's settle sends
it again on the retry (docs/remarketing.md). No contact attributes are sent: Brevo refuses an
attribute the account has not created. Clicks are not sent (no subscriber id in Brevo's links).

Auth: the ``api-key`` header. Limits: 10 requests/s for ``/v3/events`` and 10/s for
``/v3/contacts`` (each kept by its own ``Pace``); a 429 has ``x-sib-ratelimit-*`` headers and
no ``Retry-After``. Errors are ``{code, message}``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from chalicelib.platforms.email_tool import (
    EmailTool,
    account_of,
    email_of,
    event_name,
    iso,
    properties,
    then_send,
)
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.http import HttpRequest
from chalicelib.platforms.pace import Pace, pace_for
from chalicelib.platforms.platform import (
    JSON_HEADERS,
    Item,
    Secrets,
    Settings,
    base_url,
)

BASE_URL = "https://api.brevo.com"
MAX_NAME = 255
_NOT_IN_NAME = re.compile(r"[^a-z0-9_-]+")


def brevo_event_name(kind: str) -> str:
    """``rebound_lead``, ``rebound_purchase``, ``rebound_clicked_link``, ``rebound_<custom>``:
    the shared event name in Brevo's alphabet (letters, digits, ``-``, ``_``)."""
    return _NOT_IN_NAME.sub("_", event_name(kind).lower()).strip("_")[:MAX_NAME]


class Brevo(EmailTool):
    NAME = "brevo"
    SECRET_FIELDS = ("api_key",)
    # 10 requests/s for each endpoint: a bucket of 2 refilled at 8/s lets at most 10 through in
    # any second. The contacts endpoint has its own bucket of the same size (``contacts_pace``).
    PACE = (2, 0.25, None)

    def contacts_pace(self, secrets: Secrets) -> Pace:
        rate, per, _ = self.PACE
        return pace_for(f"{self.NAME}/contacts", account_of(secrets["api_key"]), rate, per)

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        return {
            "event_name": brevo_event_name(event.kind),
            "event_date": iso(event.event_time),
            "identifiers": {"email_id": email_of(event)},
            "event_properties": properties(event),
        }

    def requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> list[HttpRequest]:
        base = base_url(settings, BASE_URL)
        headers = {**JSON_HEADERS, "accept": "application/json", "api-key": secrets["api_key"]}
        contacts, sent = self.contacts_pace(secrets), self.pace(settings, secrets)
        chains = []
        for event in events:
            ids = (event.event_id,)
            second = HttpRequest(
                "POST",
                f"{base}/v3/events",
                headers,
                self.payload(event, settings, now),
                ids,
                pace=sent,
            )
            upsert = {"email": email_of(event), "updateEnabled": True}
            chains.append(
                HttpRequest(
                    "POST",
                    f"{base}/v3/contacts",
                    headers,
                    upsert,
                    ids,
                    then=then_send(second),
                    pace=contacts,
                )
            )
        return chains


PLATFORM = Brevo()
