"""The platform-neutral event the dispatcher hands to every platform, and what platforms refuse.

One ``PlatformEvent`` is either a click (``kind="page_view"``) or a conversion (``lead``,
``purchase`` or a merchant's custom name). Platforms translate it; they never see clear PII:
``user`` is the output of ``hashing.hash_user``. The one exception is ``contact``: the plain,
normalised email, present only for the merchant's own systems (email tools, webhooks that ask for
plain data), which cannot match on a hash; it never reaches an ad platform module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

PAGE_VIEW, LEAD, PURCHASE = "page_view", "lead", "purchase"

DEFAULT_CONSENT = MappingProxyType(
    {"ad_user_data": True, "ad_personalization": True, "limited_data_use": False}
)


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class PlatformEvent:
    """One event for ad platforms, before any platform-specific shaping.

    ``event_id`` is the dedup key shared with the browser pixels: the click id for clicks, the
    merchant's order/lead id for conversions. ``click_time`` is when the original click happened
    (Meta's ``fbc`` is built from it). ``click_ids`` are byte-for-byte as the visitor brought them
    (``chalicelib.click_ids``), and browser ids when they are known (``fbp``, ``ttp``).
    """

    kind: str
    event_id: str
    event_time: datetime
    click_time: datetime | None = None
    source_url: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    click_ids: Mapping[str, str] = field(default_factory=dict)
    user: Mapping[str, str] = field(default_factory=dict)
    value: float | None = None
    currency: str | None = None
    country: str | None = None
    consent: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_CONSENT))
    visitor_id: str | None = None
    # An engagement tier's event (``dispatch/tiers.py``): the audience it is for; its event id is
    # ``<click id>:<audience id>``, so it never collides with the click's own page view.
    audience: str | None = None
    # The plain contact (``{"email": ...}``) for email tools; not shown by ``repr``.
    contact: Mapping[str, str] = field(default_factory=dict, repr=False)
    # The conversion's context for the merchant's own systems (link, campaign, UTM, destination,
    # audiences, consent state): what only Rebound knows about the lead.
    context: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_time", _utc(self.event_time))
        object.__setattr__(self, "click_time", _utc(self.click_time))
        object.__setattr__(self, "consent", MappingProxyType({**DEFAULT_CONSENT, **self.consent}))
        object.__setattr__(self, "click_ids", MappingProxyType(dict(self.click_ids)))
        object.__setattr__(self, "user", MappingProxyType(dict(self.user)))
        object.__setattr__(self, "contact", MappingProxyType(dict(self.contact)))
        object.__setattr__(self, "context", MappingProxyType(dict(self.context)))

    @property
    def is_page_view(self) -> bool:
        return self.kind == PAGE_VIEW

    @property
    def clicked_at(self) -> datetime | None:
        """The click's time: ``click_time``, or the event's own time for a click event."""
        if self.click_time is not None:
            return self.click_time
        return self.event_time if self.is_page_view else None

    @property
    def ad_user_data(self) -> bool:
        return bool(self.consent["ad_user_data"])

    @property
    def ad_personalization(self) -> bool:
        return bool(self.consent["ad_personalization"])

    @property
    def limited_data_use(self) -> bool:
        return bool(self.consent["limited_data_use"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for queues and dead letters); ``from_dict`` reads it back."""
        return {
            "kind": self.kind,
            "event_id": self.event_id,
            "event_time": self.event_time.isoformat(),
            "click_time": self.click_time.isoformat() if self.click_time else None,
            "source_url": self.source_url,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "click_ids": dict(self.click_ids),
            "user": dict(self.user),
            "value": self.value,
            "currency": self.currency,
            "country": self.country,
            "consent": dict(self.consent),
            "visitor_id": self.visitor_id,
            "audience": self.audience,
            "contact": dict(self.contact),
            "context": dict(self.context),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlatformEvent:
        values = dict(data)
        values["event_time"] = datetime.fromisoformat(values["event_time"])
        if values.get("click_time"):
            values["click_time"] = datetime.fromisoformat(values["click_time"])
        values["click_ids"] = values.get("click_ids") or {}
        values["user"] = values.get("user") or {}
        values["consent"] = values.get("consent") or DEFAULT_CONSENT
        values["contact"] = values.get("contact") or {}
        values["context"] = values.get("context") or {}
        return cls(**values)


@dataclass(frozen=True)
class Rejected:
    """An event a platform will not send, and why (never contains a secret).

    ``not_applicable`` marks events that are simply not for this platform (LinkedIn gets clicks
    only with ``li_fat_id``; Google needs GA4 for clicks, Ads for conversions): nothing is
    wrong, there is nothing to retry or dead-letter.
    """

    event_id: str
    reason: str
    not_applicable: bool = False
