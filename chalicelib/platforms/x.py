"""X (Twitter) Conversions API: ``POST ads-api.x.com/12/measurement/conversions/{pixel_id}``.

OAuth 1.0a user context (HMAC-SHA1), signed with ``oauthlib``; the JSON body is not part of the
signature base string. Up to 500 conversions a request, and one invalid conversion fails the
whole request, so each is checked here first. Each conversion names the X event (Events Manager's
id, per Rebound event kind, from ``events``) and carries Rebound's event id as ``conversion_id``,
the key X deduplicates the pixel's event and the server's on. Identifiers: ``twclid``, hashed
e-mail, hashed phone (E.164); IP address and user agent only beside one of those.

The signature is made when the request's headers are read, that is for each try: a retry gets a
fresh nonce and timestamp (X takes a nonce seen before for a replay). ``oauthlib`` is imported
then too, so only the dispatcher ever loads it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.platforms.answers import classify_status, clip, error_text, parse_json
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.http import OK, HttpRequest, Outcome
from chalicelib.platforms.payload import sent_time
from chalicelib.platforms.platform import (
    JSON_HEADERS,
    Item,
    Platform,
    Secrets,
    Settings,
    Target,
    base_url,
)

BASE_URL = "https://ads-api.x.com"
API_VERSION = "12"
AUTHORIZATION = "Authorization"

# The key of ``settings["events"]`` naming the X event for each Rebound event kind.
EVENT_KEYS = {PAGE_VIEW: "click", LEAD: "lead", PURCHASE: "purchase"}


@dataclass(frozen=True)
class Credentials:
    """The four OAuth 1.0a user-context values (never shown)."""

    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)

    @classmethod
    def of(cls, secrets: Secrets) -> Credentials:
        return cls(
            secrets["consumer_key"],
            secrets["consumer_secret"],
            secrets["access_token"],
            secrets["access_token_secret"],
        )


def oauth_header(url: str, credentials: Credentials) -> str:
    """``Authorization: OAuth ...`` for a JSON POST to ``url``, with a fresh nonce and timestamp.

    The body is left out of the signing on purpose: oauthlib would otherwise add an
    ``oauth_body_hash`` for a non-form body, which X's base string does not have (requests-oauthlib
    signs non-form bodies the same way, with ``body=None``)."""
    from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, Client  # the dispatcher's cost alone

    client = Client(
        credentials.consumer_key,
        client_secret=credentials.consumer_secret,
        resource_owner_key=credentials.access_token,
        resource_owner_secret=credentials.access_token_secret,
        signature_method=SIGNATURE_HMAC_SHA1,
    )
    _, headers, _ = client.sign(url, http_method="POST", body=None, headers=dict(JSON_HEADERS))
    return str(headers[AUTHORIZATION])


class SignedHeaders(Mapping[str, str]):
    """A request's headers whose ``Authorization`` is signed anew each time it is read."""

    def __init__(self, headers: Mapping[str, str], url: str, credentials: Credentials):
        self._headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        self._url = url
        self._credentials = credentials

    def __getitem__(self, name: str) -> str:
        if name == AUTHORIZATION:
            return oauth_header(self._url, self._credentials)
        return self._headers[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._headers
        yield AUTHORIZATION

    def __len__(self) -> int:
        return len(self._headers) + 1

    def __repr__(self) -> str:
        return f"SignedHeaders({[*self._headers, AUTHORIZATION]!r})"


def conversion_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-11-23T11:00:00.000Z``."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def identifiers(event: PlatformEvent) -> list[dict[str, str]]:
    """X's identifier objects, one per identifier; none when there is nothing to match on."""
    keys = (
        ("twclid", event.click_ids.get("twclid")),
        ("hashed_email", event.user.get("em")),
        ("hashed_phone_number", event.user.get("ph_e164")),  # E.164, then SHA-256
    )
    ids = [{name: value} for name, value in keys if value]
    if not ids:
        return []  # IP address and user agent alone do not match anyone
    device = (("ip_address", event.ip), ("user_agent", event.user_agent))
    return ids + [{name: value} for name, value in device if value]


def x_event_id(settings: Settings, kind: str) -> str | None:
    """The X event (``o87ne`` or ``tw-<pixel>-o87ne``) configured for a Rebound event kind."""
    key = EVENT_KEYS.get(kind)
    value = (settings.get("events") or {}).get(key) if key else None
    return str(value) if value else None


class X(Platform):
    NAME = "x"
    MAX_BATCH = 500
    # Unverified: X documents no age limit for conversion_time; 7 days, like Meta, keeps
    # attribution meaningful and errs on the safe side.
    MAX_AGE = timedelta(days=7)
    SECRET_FIELDS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
    REQUIRED_SETTINGS = ("pixel_id", "events")

    def build_requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> tuple[list[HttpRequest], list[Rejected]]:
        """As every platform, but an event kind without an X event in ``events`` is simply not
        for X (nothing wrong: the marketer sends X only the kinds they mapped)."""
        if not settings.get("events"):
            return super().build_requests(events, settings, secrets, now)
        mapped = [e for e in events if x_event_id(settings, e.kind)]
        unmapped = [
            Rejected(e.event_id, f"no X event configured for {e.kind}", not_applicable=True)
            for e in events
            if not x_event_id(settings, e.kind)
        ]
        requests, rejected = super().build_requests(mapped, settings, secrets, now)
        return requests, unmapped + rejected

    def not_for(self, event: PlatformEvent) -> str | None:
        if event.is_page_view and not identifiers(event):
            return "click without twclid"
        return None

    def lacks(self, event: PlatformEvent) -> str | None:
        if not identifiers(event):
            return (
                "no identifier X can match on: needs twclid, a hashed e-mail or phone "
                "(IP address and user agent count only beside one)"
            )
        if event.currency is not None and not (
            len(event.currency) == 3 and event.currency.isalpha() and event.currency.isascii()
        ):
            return "price_currency must be an ISO 4217 code"
        return None

    def requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> list[HttpRequest]:
        """The frame's requests, each signed when sent (see ``SignedHeaders``)."""
        credentials = Credentials.of(secrets)
        return [
            replace(r, headers=SignedHeaders(r.headers, r.url, credentials))
            for r in super().requests(events, settings, secrets, now)
        ]

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        pixel = quote(str(settings["pixel_id"]), safe="")
        return Target(
            f"{base_url(settings, BASE_URL)}/{API_VERSION}/measurement/conversions/{pixel}"
        )

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        item: dict[str, Any] = {
            "conversion_time": conversion_time(sent_time(event, now)),
            "event_id": x_event_id(settings, event.kind),
            "identifiers": identifiers(event),
            "conversion_id": event.event_id,  # the pixel's conversion_id: X deduplicates on it
        }
        if event.value is not None and event.currency:
            item["value"] = float(event.value)
            item["price_currency"] = event.currency.upper()
        return item

    def body(self, items: list[Item], batch: Sequence[PlatformEvent], settings: Settings) -> Item:
        return {"conversions": items}

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """200 ``{"data": {"conversions_processed": N}}``; otherwise the status (429/5xx retry,
        other 4xx permanent), with X's ``errors`` list as the reason."""
        payload = parse_json(body)
        if 200 <= status < 300:
            data = payload.get("data") if isinstance(payload, dict) else None
            processed = data.get("conversions_processed") if isinstance(data, dict) else None
            return Outcome(
                OK, f"conversions_processed={processed}" if processed is not None else ""
            )
        return classify_status(status, errors_text(payload))


def errors_text(payload: Any) -> str:
    """X's error answer ``{"errors": [{"code", "message", "parameter"}, ...]}`` in a line: how
    many, and the first; any other shape as the shared reading has it."""
    errors = payload.get("errors") if isinstance(payload, Mapping) else None
    if isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], Mapping) else {"message": errors[0]}
        text = " ".join(
            str(first[k]) for k in ("code", "message") if first.get(k) not in (None, "")
        )
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return clip(text + more)
    return error_text(payload)


PLATFORM = X()
