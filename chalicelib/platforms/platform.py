"""The frame every platform fills in: how a batch of events becomes exact HTTP requests, and what
an answer means.

``Platform.build_requests`` is the same path for every platform: refuse everything when a setting
or secret is missing (naming it, never its value), screen each event (``not_for``: not this
platform's, nothing wrong; ``problem``: would be refused), split the rest into batches of
``MAX_BATCH`` and wrap each into one request to ``target``. A platform module subclasses it with
its constants and what is its own: ``target`` (URL and headers), ``payload`` (one event), and,
where the default does not fit, ``lacks``, ``groups``, ``body`` and ``classify``. The registry
holds one instance per platform.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from chalicelib.platforms.answers import classify_status, error_text, parse_json
from chalicelib.platforms.event import PlatformEvent, Rejected
from chalicelib.platforms.http import HttpRequest, Outcome
from chalicelib.platforms.pace import Pace

# Tolerated clock skew: an event up to this far ahead of our clock is sent with time = now.
CLOCK_SKEW = timedelta(seconds=60)

JSON_HEADERS = {"Content-Type": "application/json"}

T = TypeVar("T")

Settings = Mapping[str, Any]  # the platform's entry of the config (``platforms: meta: ...``)
Secrets = Mapping[str, str]  # the resolved values of ``SECRET_FIELDS``
Item = dict[str, Any]  # one event, or one request body, as the platform spells it


@dataclass(frozen=True)
class Target:
    """Where every request of one ``build_requests`` call goes: the URL, and the headers it
    needs besides the JSON content type (credentials belong here or in the URL, never a body)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    bearer: str | None = None  # an OAuth bearer token: sent as ``Authorization``, first

    def all_headers(self) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.bearer}"} if self.bearer is not None else {}
        return {**JSON_HEADERS, **auth, **self.headers}


class Platform:
    """One ad platform's server-side API, filled into the shared frame."""

    NAME: str
    MAX_BATCH: int
    MAX_AGE: timedelta
    MAX_FUTURE: timedelta = CLOCK_SKEW
    SECRET_FIELDS: tuple[str, ...]
    """Settings fields whose resolved values the caller passes in ``secrets``."""
    REQUIRED_SETTINGS: tuple[str, ...] = ()
    """Settings without which nothing can be sent (``SECRET_FIELDS`` are required too)."""

    def build_requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> tuple[list[HttpRequest], list[Rejected]]:
        """Exact requests for the valid events (batched), and the events refused, with why."""
        missing = missing_config(
            self.NAME, settings, secrets, self.REQUIRED_SETTINGS, self.SECRET_FIELDS
        )
        if missing:
            return [], reject_all(events, missing)
        good, rejected = self.screen(events, now)
        return self.requests(good, settings, secrets, now), rejected

    def screen(
        self, events: Iterable[PlatformEvent], now: datetime
    ) -> tuple[list[PlatformEvent], list[Rejected]]:
        """Split events into those fit to send and those refused (with the reason), before
        batching: one invalid event can sink a whole batch on some platforms."""
        good: list[PlatformEvent] = []
        rejected: list[Rejected] = []
        for event in events:
            if reason := self.not_for(event):
                rejected.append(Rejected(event.event_id, reason, not_applicable=True))
            elif reason := self.problem(event, now):
                rejected.append(Rejected(event.event_id, reason))
            else:
                good.append(event)
        return good, rejected

    def requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> list[HttpRequest]:
        """One POST per batch of screened events (per group, when the platform groups them)."""
        target = self.target(settings, secrets)
        headers = target.all_headers()
        pace = self.pace(settings, secrets)
        return [
            HttpRequest(
                "POST",
                target.url,
                dict(headers),
                self.body([self.payload(e, settings, now) for e in batch], batch, settings),
                tuple(e.event_id for e in batch),
                pace=pace,
            )
            for group in self.groups(events)
            for batch in batches(group, self.MAX_BATCH)
        ]

    # ---------------------------------------------------------------- what a platform fills in

    def pace(self, settings: Settings, secrets: Secrets) -> Pace | None:
        """The account's rate limit (``pace.py``), for a platform that documents one per account."""
        return None

    def not_for(self, event: PlatformEvent) -> str | None:
        """Why ``event`` is simply not for this platform (nothing wrong, nothing to retry)."""
        return None

    def problem(self, event: PlatformEvent, now: datetime) -> str | None:
        """Why the platform would refuse ``event``: out of its time window, or ``lacks``."""
        late = age_problem(event.event_time, now, self.MAX_AGE, self.MAX_FUTURE)
        return late or self.lacks(event)

    def lacks(self, event: PlatformEvent) -> str | None:
        """What ``event`` lacks that the platform needs (to match it, or for its kind)."""
        return None

    def groups(self, events: Sequence[PlatformEvent]) -> Iterable[Sequence[PlatformEvent]]:
        """Events that may share a request (by default: all of them)."""
        return [events]

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        """Where the requests go."""
        raise NotImplementedError

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        """One event as the platform spells it."""
        raise NotImplementedError

    def body(self, items: list[Item], batch: Sequence[PlatformEvent], settings: Settings) -> Item:
        """A batch's payloads wrapped into the request body (by default ``{"data": [...]}``)."""
        return {"data": items}

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """What the platform's answer means (by default: the status, with the error's text)."""
        return classify_status(status, error_text(parse_json(body)))


# ---------------------------------------------------------------------------------- screening


def age_problem(
    moment: datetime,
    now: datetime,
    max_age: timedelta,
    max_future: timedelta = CLOCK_SKEW,
    what: str = "event_time",
) -> str | None:
    """Why ``moment`` is out of the platform's window, or None when it is fine."""
    if moment < now - max_age:
        return f"{what} is older than {_span(max_age)}"
    if moment > now + max_future:
        return f"{what} is in the future"
    return None


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 7 * 24 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} hours"


def reject_all(events: Iterable[PlatformEvent], reason: str, **kw: Any) -> list[Rejected]:
    return [Rejected(e.event_id, reason, **kw) for e in events]


def missing_config(
    name: str,
    settings: Settings,
    secrets: Secrets,
    fields: Sequence[str],
    secret_fields: Sequence[str],
) -> str | None:
    """Reason naming the settings/secrets that are missing (names only, never values)."""
    lacking = [f for f in fields if not settings.get(f)]
    lacking += [f"{f} (secret)" for f in secret_fields if not secrets.get(f)]
    if lacking:
        return f"{name} is not configured: missing {', '.join(lacking)}"
    return None


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ------------------------------------------------------------------------------------- URLs


def base_url(settings: Settings, default: str) -> str:
    """``settings["endpoint"]`` (scheme, host, port, optional path prefix) or ``default``."""
    endpoint = settings.get("endpoint")
    if not endpoint:
        return default
    parts = urlsplit(str(endpoint))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("endpoint must be an absolute http(s) URL")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
