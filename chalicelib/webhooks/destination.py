"""A webhook as a destination (``webhook:<id>``): one signed POST per click or conversion.

The body is documented by docs/webhook.schema.json (docs/webhooks.md). Each delivery carries:

- ``Rebound-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, the postback's
  scheme (``conversions.signature.sign``) over the exact bytes sent (``HttpRequest.data()``);
- ``Idempotency-Key``: the same for every try and every replay of one delivery (a hash of the
  webhook, the domain, the event's kind and id: what the ledger knows the delivery by);
- ``Rebound-Event``: the body's ``type``.

A retry within one send resends the same bytes with the same signature; a replay later (the
stream's or the dead-letter queue's) is signed anew, with the same key and body ``id``.

Personal data: a conversion's user data as SHA-256 hex (``*_sha256``), or, for a webhook with
``personal_data: plain``, the normalised email in clear (``user.email``; the postback then puts it
in the encrypted stream). Where the stage forbids endpoint overrides (production) every request
is ``public_only``: it connects to public addresses only (``http._public_connection``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.conversions.signature import HEADER as SIGNATURE_HEADER
from chalicelib.conversions.signature import sign
from chalicelib.platforms.answers import classify_status, clip, error_text, parse_json
from chalicelib.platforms.endpoints import endpoints_allowed
from chalicelib.platforms.event import LEAD, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.http import PERMANENT, HttpRequest, Outcome
from chalicelib.platforms.platform import Item, Platform, Secrets, Settings

SCHEMA_VERSION = 1
USER_AGENT = "Rebound-Webhooks/1"
EVENT_HEADER = "Rebound-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CLICK = "click"
CUSTOM = "custom"

# hash_user's keys -> the payload's names (the other variants are for ad platforms' matching).
HASHED_FIELDS = {
    "em": "email_sha256",
    "ph_e164": "phone_sha256",
    "fn": "first_name_sha256",
    "ln": "last_name_sha256",
    "ct": "city_sha256",
    "st": "state_sha256",
    "zp": "zip_sha256",
    "country": "country_sha256",
    "external_id": "external_id_sha256",
}


def event_type(event: PlatformEvent) -> str:
    """``click`` for a click, else the conversion's event name (lead, purchase, or custom)."""
    return CLICK if event.is_page_view else event.kind


def category(event: PlatformEvent) -> str:
    """What a webhook subscribes to: click, lead, purchase or custom."""
    if event.is_page_view:
        return CLICK
    return event.kind if event.kind in (LEAD, PURCHASE) else CUSTOM


def _domain(event: PlatformEvent) -> str:
    link = str(event.context.get("link") or "")
    if link:
        return link.split("/", 1)[0].lower()
    return (event.source_url or "").split("://", 1)[-1].split("/", 1)[0].lower()


def idempotency_key(webhook_id: str, event: PlatformEvent) -> str:
    """Stable per delivery: the webhook, the domain, the event's kind and id (the ledger's key
    parts), hashed to a fixed length."""
    parts = (webhook_id, _domain(event), event.kind, event.event_id)
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _click_id(event: PlatformEvent) -> str | None:
    if event.is_page_view:
        return event.event_id
    found = event.context.get("click_id")
    return None if found is None else str(found)


def user_of(event: PlatformEvent, personal_data: str) -> dict[str, str]:
    """The conversion's user data: hashed, or with the plain normalised email (``plain``)."""
    user = {name: event.user[key] for key, name in HASHED_FIELDS.items() if event.user.get(key)}
    if personal_data == "plain" and event.contact.get("email"):
        user.pop("email_sha256", None)
        user = {"email": event.contact["email"], **user}
    return user


class Webhook(Platform):
    NAME = "webhook"
    MAX_BATCH = 1
    MAX_AGE = timedelta(days=30)  # as for email tools: a replay days later is the same delivery
    SECRET_FIELDS = ("secret",)
    REQUIRED_SETTINGS = ("id", "url")

    def build_requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> tuple[list[HttpRequest], list[Rejected]]:
        """As for every destination, after leaving out the events the webhook no longer takes
        (its ``events`` changed after the click queued it) and engagement tiers' events."""
        takes = set(settings.get("events") or ())
        wanted: list[PlatformEvent] = []
        rejected: list[Rejected] = []
        for event in events:
            if event.audience is not None:
                rejected.append(Rejected(event.event_id, "a tier's event", not_applicable=True))
            elif category(event) not in takes:
                reason = f"webhook takes no {category(event)} events"
                rejected.append(Rejected(event.event_id, reason, not_applicable=True))
            else:
                wanted.append(event)
        requests, refused = super().build_requests(wanted, settings, secrets, now)
        return requests, rejected + refused

    def requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> list[HttpRequest]:
        """One signed POST per event."""
        webhook_id = str(settings["id"])
        public_only = not endpoints_allowed()
        t = int(now.timestamp())
        out = []
        for event in events:
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                EVENT_HEADER: event_type(event),
                IDEMPOTENCY_HEADER: idempotency_key(webhook_id, event),
            }
            unsigned = HttpRequest(
                "POST",
                str(settings["url"]),
                headers,
                self.payload(event, settings, now),
                (event.event_id,),
                public_only=public_only,
            )
            # The signature covers the exact bytes send() puts on the wire.
            signature = sign(unsigned.data(), secrets["secret"], t)
            out.append(replace(unsigned, headers={**headers, SIGNATURE_HEADER: signature}))
        return out

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        context = event.context
        utm = {str(k): str(v) for k, v in (context.get("utm") or {}).items() if v is not None}
        click: dict[str, Any] = {
            "click_id": _click_id(event),
            "clicked_at": _iso(event.clicked_at),
            "link": context.get("link") or _link_of(event.source_url),
            "campaign": context.get("campaign"),
            "tags": [str(t) for t in context.get("tags") or []],
            "utm": utm,
            "destination": context.get("destination"),
        }
        if event.country:
            click["country"] = event.country
        body: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "id": event.event_id,
            "type": event_type(event),
            "category": category(event),
            "occurred_at": _iso(event.event_time),
            "click": click,
        }
        if not event.is_page_view:
            body["conversion"] = {
                "event_id": event.event_id,
                "value": event.value,
                "currency": event.currency,
            }
        body["audiences"] = [str(a) for a in context.get("audiences") or []]
        body["consent"] = {
            "state": context.get("consent"),
            "ad_user_data": event.ad_user_data,
            "ad_personalization": event.ad_personalization,
            "limited_data_use": event.limited_data_use,
        }
        personal_data = str(settings.get("personal_data") or "hashed")
        body["user"] = {} if event.is_page_view else user_of(event, personal_data)
        return body

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """2xx ok; 408, 429 and 5xx retried; 410 Gone, other 4xx and 3xx (redirects are not
        followed) permanent."""
        if 200 <= status < 300:
            return classify_status(status)
        payload = parse_json(body)
        detail = error_text(payload) if payload is not None else _text(body)
        if 300 <= status < 400:
            return Outcome(
                PERMANENT, f"HTTP {status}: a redirect, not followed (use the final URL)"
            )
        if status == 410:
            return Outcome(PERMANENT, "HTTP 410 Gone: the receiver retired this URL")
        return classify_status(status, detail)


def _text(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return clip(text) if text.strip() else ""


def _link_of(source_url: str | None) -> str | None:
    return source_url.split("://", 1)[-1] if source_url else None


PLATFORM = Webhook()
