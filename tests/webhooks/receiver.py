"""A webhook receiver on 127.0.0.1 for the tests, and the signature check as a receiver writes
it (docs/webhooks.md, "Verifying a delivery"): on purpose not Rebound's own ``verify``."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.platforms.conftest import FakePlatform, Received

SECRET = "whsec-test-3f9a1c0b7d"
TOLERANCE = 300
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "webhook.schema.json"


class BadSignature(Exception):
    pass


def verify(header: str | None, raw: bytes, secret: str, now: float | None = None) -> int:
    """What a receiver does with ``Rebound-Signature: t=<unix>,v1=<hex>``: returns ``t``."""
    if not header:
        raise BadSignature("no Rebound-Signature header")
    t, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            t = int(value)
        elif key == "v1":
            candidates.append(value)
    if t is None or not candidates:
        raise BadSignature("malformed Rebound-Signature header")
    if abs((time.time() if now is None else now) - t) > TOLERANCE:
        raise BadSignature("timestamp outside the 5-minute tolerance")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise BadSignature("signature does not match")
    return t


@dataclass
class Delivery:
    received: Received
    verified: bool
    problem: str = ""

    @property
    def json(self) -> Any:
        return self.received.json

    def header(self, name: str) -> str | None:
        return self.received.header(name)


class WebhookReceiver(FakePlatform):
    """A FakePlatform that checks every delivery's signature with ``secret``."""

    def __init__(self, secret: str = SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.default = (200, b'{"ok": true}')

    @property
    def deliveries(self) -> list[Delivery]:
        out = []
        for r in list(self.received):
            try:
                verify(r.header("Rebound-Signature"), r.raw, self.secret)
            except (BadSignature, ValueError) as err:
                out.append(Delivery(r, False, str(err)))
            else:
                out.append(Delivery(r, True))
        return out


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def validate(body: Any) -> None:
    """Raise unless ``body`` is a delivery as docs/webhook.schema.json documents it."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    validator.validate(body)
