"""The frame every email tool fills in, on top of the platforms' frame (``platform.py``).

An email tool gets conversions (lead, purchase, custom) that carry an email, for clicks of links in
an audience that sends to it, and, where it can name a subscriber by its own id (Klaviyo's
``_kx``, Mailchimp's ``mc_eid``), a "clicked link" event for that subscriber. Each event becomes
one request, or one chain of requests (upsert the contact, then tag it or record its event:
``HttpRequest.then``): ``MAX_BATCH`` is 1, so a tool's refusal names one event.

What every tool is told is spelled once, here: the event's name (``event_name``) and its
properties (``properties``): the link, campaign, tags, UTM and destination, the click's time, the
value and currency, the audiences, the click's ad consent and Rebound's ids. A tool module
fills in ``target`` and ``payload`` (or ``requests`` for a chain) like an ad platform; and, if
it limits an account's requests, ``PACE`` (``pace.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from chalicelib.click_ids import CLICK_EVENT_NEEDS
from chalicelib.clicks.text import mask_emails
from chalicelib.platforms.answers import classify_status, clip, parse_json
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.http import HttpRequest, Outcome
from chalicelib.platforms.pace import Pace, pace_for
from chalicelib.platforms.platform import Platform, Secrets, Settings

# What a flow triggers on: one metric/event name per kind of Rebound event.
EVENT_NAMES = {
    PAGE_VIEW: "Rebound Clicked Link",
    LEAD: "Rebound Lead",
    PURCHASE: "Rebound Purchase",
}
CUSTOM_PREFIX = "Rebound "


def event_name(kind: str) -> str:
    """``Rebound Lead``, ``Rebound Purchase``, ``Rebound Clicked Link``, or ``Rebound <custom>``."""
    return EVENT_NAMES.get(kind) or f"{CUSTOM_PREFIX}{kind}"


def email_of(event: PlatformEvent) -> str | None:
    """The plain, normalised email the event carries for the merchant's own systems."""
    return event.contact.get("email") or None


def properties(event: PlatformEvent) -> dict[str, Any]:
    """The event's properties as every email tool and webhook receives them (flat where a tool
    wants flat values: UTM as ``utm_source``..., tags and audiences as comma-joined text too)."""
    context = event.context
    utm = dict(context.get("utm") or {})
    out: dict[str, Any] = {
        "rebound_event_id": event.event_id,
        "link": context.get("link") or _link_of(event.source_url),
        "campaign": context.get("campaign"),
        "tags": ", ".join(context.get("tags") or []),
        "destination": context.get("destination"),
        "click_time": event.clicked_at.isoformat() if event.clicked_at else None,
        "value": event.value,
        "currency": event.currency,
        "audiences": ", ".join(context.get("audiences") or []),
        "ad_consent": context.get("consent"),
        "short_url": event.source_url,
    }
    for key in ("source", "medium", "campaign", "term", "content"):
        if utm.get(key) is not None:
            out[f"utm_{key}"] = utm[key]
    return {k: v for k, v in out.items() if v is not None and v != ""}


def _link_of(source_url: str | None) -> str | None:
    if not source_url:
        return None
    return source_url.split("://", 1)[-1]


def error_detail(body: bytes | str) -> str:
    """A short reason out of an email tool's error answer, every address in it masked
    (``j***@example.com``): JSON:API ``errors[]`` (Klaviyo), an RFC 9457 problem with its
    ``errors[]`` (Omnisend), ``{code, message}`` (Brevo, ActiveCampaign), ``{errors: [text]}``
    (Kit), or the plain text of a body that is not JSON (Kit's 429 ``Retry later``)."""
    payload = parse_json(body)
    if payload is None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        return mask_emails(clip(text)) if text.strip() else ""
    parts: list[str] = []
    if isinstance(payload, dict):
        nested = payload.get("error")
        head = nested if isinstance(nested, dict) else payload
        parts += [str(head[k]) for k in ("code", "title", "detail", "message") if _said(head, k)]
        if isinstance(nested, str) and nested:
            parts.append(nested)
        errors = payload.get("errors")
        for err in errors if isinstance(errors, list) else []:
            if isinstance(err, dict):
                where = (err.get("source") or {}).get("pointer") or err.get("field")
                said = [str(err[k]) for k in ("code", "detail", "message") if _said(err, k)]
                parts.append(" ".join(said) + (f" ({where})" if where else ""))
            elif err:
                parts.append(str(err))
    text = "; ".join(p for p in parts if p) if parts else str(payload)
    return mask_emails(clip(text))


def _said(obj: Mapping[str, Any], key: str) -> bool:
    return isinstance(obj.get(key), str | int) and obj.get(key) not in ("", None)


def account_of(secret: str) -> str:
    """An account's key for ``pace_for`` without keeping the credential itself around."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


class EmailTool(Platform):
    """One email tool: one event per request (or chain), conversions with an email, and clicks
    only where the tool names the subscriber by ``SUBSCRIBER_PARAM``."""

    MAX_BATCH = 1
    # Tools keep events of any age; a replay days later is still the same lead. The stream keeps
    # 24 h and the DLQ 4 days, so nothing older than that reaches a tool anyway.
    MAX_AGE = timedelta(days=30)
    SUBSCRIBER_PARAM: ClassVar[str | None] = None
    """The query parameter by which a click names the tool's subscriber: set from
    ``click_ids.CLICK_EVENT_NEEDS`` (the redirect's list of what each destination's click event
    needs), so the redirect's queueing and the module's screening cannot disagree."""
    PACE: ClassVar[tuple[float, float, int | None] | None] = None
    """(requests, per seconds, connections at once): the tool's per-account limit."""
    PACE_SECRET: ClassVar[str] = "api_key"  # noqa: S105 - a field name
    """The secret that names the account the limit is kept for."""
    KIND_SETTING: ClassVar[str | None] = None
    """A setting that maps each kind of conversion to what the tool triggers on (Kit's and
    ActiveCampaign's ``tags: {lead: 7}``): a kind it does not map is simply not the tool's."""

    def build_requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> tuple[list[HttpRequest], list[Rejected]]:
        """As every platform, but with ``KIND_SETTING``, a conversion of a kind the setting does
        not map is not applicable (nothing wrong: the merchant maps only the kinds they want)."""
        mapping = settings.get(self.KIND_SETTING) if self.KIND_SETTING else None
        if not mapping:
            return super().build_requests(events, settings, secrets, now)
        mapped = [e for e in events if e.is_page_view or mapping.get(e.kind) is not None]
        unmapped = [
            Rejected(
                e.event_id, f"no {e.kind} in {self.NAME}'s {self.KIND_SETTING}", not_applicable=True
            )
            for e in events
            if not e.is_page_view and mapping.get(e.kind) is None
        ]
        requests, rejected = super().build_requests(mapped, settings, secrets, now)
        return requests, rejected + unmapped

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "NAME" in cls.__dict__:
            cls.SUBSCRIBER_PARAM = CLICK_EVENT_NEEDS.get(cls.NAME)

    def not_for(self, event: PlatformEvent) -> str | None:
        if event.is_page_view:
            if self.SUBSCRIBER_PARAM and event.click_ids.get(self.SUBSCRIBER_PARAM):
                return None
            return f"a click without {self.SUBSCRIBER_PARAM or 'a subscriber id'} names nobody"
        if not email_of(event):
            return "the conversion carries no email"
        return None

    def pace(self, settings: Settings, secrets: Secrets) -> Pace | None:
        """This account's ``Pace``, when the tool limits an account's requests."""
        if self.PACE is None:
            return None
        rate, per, connections = self.PACE
        account = account_of(str(secrets.get(self.PACE_SECRET) or settings.get("account") or ""))
        return pace_for(self.NAME, account, rate, per, connections)

    def subscriber(self, event: PlatformEvent) -> str | None:
        """The tool's subscriber id the click carries, byte for byte."""
        if not self.SUBSCRIBER_PARAM:
            return None
        return event.click_ids.get(self.SUBSCRIBER_PARAM) or None

    def body(
        self, items: list[dict[str, Any]], batch: Sequence[PlatformEvent], settings: Settings
    ) -> Any:
        """One event per request: the payload is the body."""
        return items[0]

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """2xx ok; 408, 429 and 5xx retry; anything else (401, 403, 400, 404, 422) permanent,
        with the tool's own words (``error_detail``, addresses masked) as the reason. A success
        is just its status: its body is the contact as the tool keeps it, address included."""
        if 200 <= status < 300:
            return classify_status(status)
        return classify_status(status, error_detail(body))


def then_send(step: HttpRequest) -> Callable[[Any], HttpRequest | None]:
    """A chain's link to ``step``, a next step that needs nothing out of the answer before it
    (so a dry run, which has no answer, shows it as it will be sent)."""
    return lambda _answer: step


def iso(moment: datetime) -> str:
    """``2026-11-23T11:00:00+00:00`` (every tool reads ISO 8601 with an offset)."""
    return moment.isoformat()


def as_text(values: Mapping[str, Any]) -> dict[str, str]:
    """Properties as strings, for tools whose custom fields take text only."""
    return {k: v if isinstance(v, str) else str(v) for k, v in values.items()}
