"""What the email tools' tests share: a lead with an email, sending a request (or a whole chain)
the way the dispatcher does, a fake S3 for dry-run records, and a Pace on a fake clock."""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial
from types import SimpleNamespace
from typing import Any

from chalicelib.dispatch.dispatcher import Dispatcher, _steps
from chalicelib.platforms.email_tool import EmailTool
from chalicelib.platforms.http import HttpRequest, Outcome, send_with_retries
from chalicelib.platforms.pace import Pace

from .conftest import make_event

EMAIL = "jane.doe@example.com"
MASKED = "j***@example.com"
KEY = "S3CRET-tool-key-never-shown"
CONTEXT = {
    "link": "go.brand.com/spring-sale",
    "campaign": "spring",
    "tags": ["promo", "eu"],
    "utm": {"source": "newsletter", "medium": "email", "campaign": "spring-24"},
    "destination": "https://shop.example/spring?utm_source=newsletter",
    "audiences": ["spring-leads"],
    "consent": "denied",
}

# What every tool is told about the lead above (email_tool.properties), flat.
LEAD_PROPERTIES = {
    "rebound_event_id": "lead-42",
    "link": "go.brand.com/spring-sale",
    "campaign": "spring",
    "tags": "promo, eu",
    "destination": "https://shop.example/spring?utm_source=newsletter",
    "click_time": "2026-11-20T09:30:15.123000+00:00",
    "audiences": "spring-leads",
    "ad_consent": "denied",
    "short_url": "https://go.brand.com/spring-sale",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "spring-24",
}


def lead(**overrides: Any):
    values: dict[str, Any] = {
        "kind": "lead",
        "event_id": "lead-42",
        "value": None,
        "currency": None,
        "contact": {"email": EMAIL},
        "context": CONTEXT,
    }
    values.update(overrides)
    return make_event(**values)


def purchase(**overrides: Any):
    values: dict[str, Any] = {"contact": {"email": EMAIL}, "context": CONTEXT}
    values.update(overrides)
    return make_event(**values)


def deliver(
    request: HttpRequest, tool: EmailTool, sleeps: list[float] | None = None, attempts: int = 3
) -> tuple[Outcome, int]:
    """Send ``request`` and the rest of its chain with the dispatcher's own chain code."""
    sleep = sleeps.append if sleeps is not None else (lambda _s: None)
    sender = SimpleNamespace(
        send=partial(send_with_retries, attempts=attempts, sleep=sleep, timeout=5)
    )
    run = SimpleNamespace(deadline=SimpleNamespace(left=lambda: 600.0))
    return Dispatcher._send_chain(sender, request, tool, run)  # type: ignore[arg-type]


def steps(request: HttpRequest) -> Iterator[HttpRequest]:
    """A chain's steps as a dry run records them."""
    return _steps(request)


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        self.objects[Key] = Body


def busiest_window(rate: float, per: float, window: float, requests: int) -> int:
    """The most requests a ``Pace(rate, per)`` lets through in any ``window`` seconds (both
    ends included), for ``requests`` sent as fast as it allows, on a fake clock."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pace = Pace(rate, per, clock=lambda: now[0], sleep=sleep)
    times = []
    for _ in range(requests):
        with pace.slot(math.inf):
            times.append(now[0])
    most, start = 0, 0
    for end, at in enumerate(times):
        while times[start] < at - window - 1e-9:
            start += 1
        most = max(most, end - start + 1)
    return most
