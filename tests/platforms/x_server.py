"""A fake X Ads API on 127.0.0.1 that checks OAuth 1.0a as X does before answering.

Every request's ``Authorization`` header is verified server-side with oauthlib's own RFC 5849
functions (parameters collected from the header and the query, the base string, HMAC-SHA1 with
the test credentials): a request with a wrong signature, unknown key or token, another method,
an ``oauth_body_hash`` (X's base string has no body) or a nonce seen before gets X's 401. Only a
request that passes gets the scripted answer (status, JSON body, headers such as Retry-After).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from oauthlib.oauth1.rfc5849 import signature, utils

from tests.platforms.conftest import LoopbackServer

CONSUMER_KEY = "xk-consumer-key-TEST"
CONSUMER_SECRET = "xs-consumer-secret-never-shown"
ACCESS_TOKEN = "1234-access-token-TEST"
ACCESS_TOKEN_SECRET = "xs-token-secret-never-shown"
SECRETS = {
    "consumer_key": CONSUMER_KEY,
    "consumer_secret": CONSUMER_SECRET,
    "access_token": ACCESS_TOKEN,
    "access_token_secret": ACCESS_TOKEN_SECRET,
}
TIMESTAMP_WINDOW = 15 * 60  # a generous skew: the check is that a timestamp is there and sane

UNAUTHORIZED = {
    "errors": [
        {"code": "UNAUTHORIZED_ACCESS", "message": "This request is not properly authenticated"}
    ]
}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    oauth: dict[str, str] = field(default_factory=dict)  # the header's oauth_* parameters
    verified: bool = False
    problem: str = ""

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


def check_signature(
    method: str, url: str, authorization: str | None, seen_nonces: set[str]
) -> tuple[dict[str, str], str]:
    """(the oauth_* parameters, the problem or "") of one request, as X would judge it."""
    if not authorization or not authorization.startswith("OAuth "):
        return {}, "no OAuth Authorization header"
    params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(authorization)}
    if params.get("oauth_signature_method") != "HMAC-SHA1":
        return params, "not HMAC-SHA1"
    if params.get("oauth_consumer_key") != CONSUMER_KEY:
        return params, "unknown consumer key"
    if params.get("oauth_token") != ACCESS_TOKEN:
        return params, "unknown access token"
    if "oauth_body_hash" in params:
        return params, "oauth_body_hash is not part of X's signature"
    try:
        stamp = int(params.get("oauth_timestamp", ""))
    except ValueError:
        return params, "no timestamp"
    if abs(time.time() - stamp) > TIMESTAMP_WINDOW:
        return params, "timestamp out of bounds"
    nonce = params.get("oauth_nonce") or ""
    if not nonce or nonce in seen_nonces:
        return params, "nonce used before"
    query = urlsplit(url).query
    collected = signature.collect_parameters(
        uri_query=query, headers={"Authorization": authorization}, exclude_oauth_signature=True
    )
    base = signature.signature_base_string(
        method, signature.base_string_uri(url), signature.normalize_parameters(collected)
    )
    keys = SimpleNamespace(client_secret=CONSUMER_SECRET, resource_owner_secret=ACCESS_TOKEN_SECRET)
    expected = signature.sign_hmac_sha1_with_client(base, keys)
    if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
        return params, "signature mismatch"
    seen_nonces.add(nonce)
    return params, ""


class FakeX(LoopbackServer):
    """``url`` to point the platform at (its ``endpoint``); ``received`` every request with the
    verdict on its signature; ``answer()`` scripts what verified requests get."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.nonces: set[str] = set()
        self._script: deque[tuple[int, bytes, dict[str, str]]] = deque()
        self.default: tuple[int, bytes, dict[str, str]] = (
            200,
            json.dumps({"data": {"conversions_processed": 1}}).encode(),
            {},
        )
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = f"http://{self.headers.get('Host')}{self.path}"
                with fake._lock:
                    oauth, problem = check_signature(
                        self.command, url, self.headers.get("Authorization"), fake.nonces
                    )
                    got = Received(
                        self.command,
                        urlsplit(self.path).path,
                        {k.lower(): v for k, v in self.headers.items()},
                        raw,
                        oauth,
                        verified=not problem,
                        problem=problem,
                    )
                    fake.received.append(got)
                    if problem:
                        status, body, headers = 401, json.dumps(UNAUTHORIZED).encode(), {}
                    else:
                        status, body, headers = (
                            fake._script.popleft() if fake._script else fake.default
                        )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.serve(Handler)

    def answer(self, status: int, body: Any = None, **headers: str) -> FakeX:
        """Queue one answer for a verified request (``Retry_After="3"`` -> ``Retry-After: 3``)."""
        data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self._script.append((status, data, {k.replace("_", "-"): v for k, v in headers.items()}))
        return self

    @property
    def conversions(self) -> list[dict[str, Any]]:
        """Every conversion of every verified request, in order."""
        return [c for r in self.received if r.verified for c in r.json["conversions"]]
