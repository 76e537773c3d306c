"""Sending one platform request, and retrying it only when retrying can help.

``HttpRequest`` is what a platform builds; ``Outcome`` is what its ``classify`` makes of the
answer. The transport is plain ``urllib`` (no dependency, nothing to warm up): redirects are not
followed (a platform API never redirects a POST; following one could carry a token elsewhere),
only http/https URLs are opened, and every failure below HTTP is a ``TransportError``, which is
retryable. A caller with a deadline passes a ``budget``: no try or wait outlasts it.

A request marked ``public_only`` (a webhook, where the stage forbids endpoint overrides) goes
through a guarded opener: each connection checks the address it actually reached
(``getpeername()``, right after connecting and before a byte is sent) and refuses this network's
own (``webhooks.target``): a name resolved beforehand could resolve again elsewhere (DNS
rebinding), the connected peer cannot. A refusal is a ``RefusedTarget``: permanent, not retried.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import http.client
import json
import math
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from chalicelib.platforms.pace import Pace

OK: Final = "ok"
RETRY: Final = "retry"
PERMANENT: Final = "permanent"

DEFAULT_TIMEOUT = 10.0
MAX_RETRY_AFTER = 60.0  # a platform asking for a longer wait gets this, at most

# Query parameters and headers that carry credentials: masked whenever a request is shown.
_SECRET_PARAMS = frozenset({"access_token", "api_secret"})
_SECRET_HEADERS = frozenset(
    {"authorization", "access-token", "api-key", "api-token", "x-kit-api-key", "rebound-signature"}
)
_MASK = "***"


@dataclass(frozen=True)
class HttpRequest:
    """One exact request to a platform, and the events it carries.

    ``str()``/``repr()`` mask credentials (query ``access_token``/``api_secret``, the
    ``Authorization`` and ``Access-Token`` headers and the email tools' key headers); log those,
    never ``url`` or ``headers``.

    ``then`` makes the request the first step of a chain (an email tool that upserts the contact,
    then tags it by the id the upsert answered): called with the parsed JSON of a successful answer
    (``None`` in a dry run, where there is none), it gives the next step or None. Every step is
    safe to repeat, so a chain that fails part-way is retried from its first step. ``pace`` is the
    tool's per-account rate limit (``pace.py``), taken before each try.
    """

    method: str
    url: str = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    body: Any = field(repr=False)
    event_ids: tuple[str, ...] = ()
    then: Callable[[Any], HttpRequest | None] | None = field(
        default=None, repr=False, compare=False
    )
    pace: Pace | None = field(default=None, repr=False, compare=False)
    public_only: bool = False
    """Connect to public addresses only (SSRF guard: ``_public_connection``)."""

    def data(self) -> bytes:
        """The body as sent: compact UTF-8 JSON."""
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @property
    def safe_url(self) -> str:
        """The URL with credential parameters masked."""
        parts = urlsplit(self.url)
        query = [(k, _MASK if k in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query)]
        return urlunsplit(parts._replace(query=urlencode(query, safe="*")))

    @property
    def safe_headers(self) -> dict[str, str]:
        return {k: (_MASK if k.lower() in _SECRET_HEADERS else v) for k, v in self.headers.items()}

    def secret_values(self) -> tuple[str, ...]:
        """The credentials this request carries (to keep them out of reasons and logs)."""
        values = [v for k, v in parse_qsl(urlsplit(self.url).query) if k in _SECRET_PARAMS]
        for name, value in self.headers.items():
            if name.lower() in _SECRET_HEADERS:
                values += [value, value.split(" ", 1)[-1], *_basic_password(value)]
        return tuple(sorted({v for v in values if len(v) >= 4}, key=len, reverse=True))

    def __str__(self) -> str:
        return f"{self.method} {self.safe_url} ({len(self.event_ids)} events)"

    def __repr__(self) -> str:
        return (
            f"HttpRequest(method={self.method!r}, url={self.safe_url!r}, "
            f"headers={self.safe_headers!r}, events={len(self.event_ids)})"
        )


def _basic_password(value: str) -> list[str]:
    """The password inside ``Basic base64(user:password)`` (Mailchimp's API key), if any."""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return []
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return []
    return [decoded.partition(":")[2]]


@dataclass(frozen=True)
class Outcome:
    """What a platform's answer means: ``ok``, ``retry`` (later may work) or ``permanent``.

    ``partial`` is set on an ``ok`` answer that still refused some events (TikTok 20001,
    per-event errors on Pinterest or LinkedIn); ``reason`` says which. Retrying would send the
    accepted ones twice, so the dispatcher records it instead.
    ``out_of_time`` is set on a ``retry`` outcome when the caller's budget ran out before the
    tries did: nothing is settled, the events are for a later run.
    """

    kind: Literal["ok", "retry", "permanent"]
    reason: str = ""
    partial: bool = False
    out_of_time: bool = False
    answer: Any = field(default=None, repr=False, compare=False)
    """The parsed JSON of an ``ok`` answer (what the next step of a chain is built from)."""

    @property
    def ok(self) -> bool:
        return self.kind == OK


class Answer(NamedTuple):
    """A platform's HTTP answer: status, body, and the wait its ``Retry-After`` asks for."""

    status: int
    body: bytes
    retry_after: float | None = None


class TransportError(Exception):
    """No HTTP answer (refused, reset, timed out, DNS): always worth a retry."""


class RefusedTarget(Exception):
    """A guarded request reached an address of this network's own (SSRF): never retried."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx is returned as the answer and classified as permanent


def _public_connection(
    address: tuple[str, int], timeout: Any, source_address: Any = None
) -> socket.socket:
    """``socket.create_connection``, then a look at the peer actually connected to."""
    from chalicelib.webhooks.target import peer_reason

    sock = socket.create_connection(address, timeout, source_address)
    try:
        reason = peer_reason(sock.getpeername()[0])
    except OSError:
        reason = "an address that cannot be read"
    if reason:
        sock.close()
        raise RefusedTarget(f"the target is {reason}: only public addresses are allowed here")
    return sock


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection  # before TLS: the check precedes any byte


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        return self.do_open(_PublicHTTPSConnection, req)  # the default, verifying TLS context


_opener = urllib.request.build_opener(_NoRedirect())
# No proxy (the peer would be the proxy, not the target), no redirects, guarded connections.
_public_opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), _NoRedirect(), _PublicHTTPHandler(), _PublicHTTPSHandler()
)


def send(request: HttpRequest, timeout: float = DEFAULT_TIMEOUT) -> Answer:
    """Send ``request``; returns the ``Answer`` for any HTTP status, raises ``TransportError``
    (or ``RefusedTarget`` for a ``public_only`` request that reached an internal address)."""
    scheme = urlsplit(request.url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"refusing to send to a {scheme or 'relative'} URL")
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        request.url,
        data=request.data() if request.body is not None else None,
        headers=dict(request.headers),
        method=request.method,
    )
    opener = _public_opener if request.public_only else _opener
    try:
        with _paced(request, timeout), opener.open(req, timeout=timeout) as resp:
            return Answer(resp.status, resp.read(), retry_after(resp.headers.get("Retry-After")))
    except urllib.error.HTTPError as err:
        with err:
            wait = retry_after(err.headers.get("Retry-After") if err.headers else None)
            return Answer(err.code, err.read(), wait)
    except urllib.error.URLError as err:
        # The reason only (never the URL: it may carry a token).
        raise TransportError(f"{type(err.reason).__name__}: {err.reason}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
        raise TransportError(f"{type(err).__name__}: {err}") from None
    except OSError as err:
        raise TransportError(f"{type(err).__name__}: {err.strerror or err}") from None


def _paced(request: HttpRequest, timeout: float) -> Any:
    """The request's rate-limit slot (held while it is in flight), or no limit."""
    if request.pace is None:
        return contextlib.nullcontext()
    return request.pace.slot(timeout)


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """The seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None
    when there is none or it cannot be read."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now())


def _scrub(outcome: Outcome, request: HttpRequest) -> Outcome:
    """A platform that echoes the token back must not get it into our records."""
    reason = outcome.reason
    for secret in request.secret_values():
        reason = reason.replace(secret, _MASK)
    return outcome if reason == outcome.reason else replace(outcome, reason=reason)


def backoff(attempt: int, base_delay: float, max_delay: float, rng: Any = random) -> float:
    """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(attempt-1))]."""
    return rng.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))


def send_with_retries(
    request: HttpRequest,
    classify: Callable[[int, bytes], Outcome],
    attempts: int = 4,
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    sleep: Callable[[float], Any] = time.sleep,
    rng: Any = random,
    timeout: float = DEFAULT_TIMEOUT,
    transport: Callable[..., Answer | tuple[int, bytes]] = send,
    budget: Callable[[], float] | None = None,
) -> tuple[Outcome, int]:
    """Send until ``ok`` or ``permanent``, or ``attempts`` run out; returns (outcome, attempts).

    Only ``retry`` outcomes (429, 5xx, the platform's transient codes, transport errors) are
    retried, after an exponential backoff with full jitter, or the platform's ``Retry-After``
    when it asks for longer (up to ``MAX_RETRY_AFTER``). ``budget`` gives the seconds the caller
    has left: each try's timeout is cut to it, and a try or wait that would not fit is not
    started: the outcome is then ``retry`` with ``out_of_time``. ``sleep`` and ``rng`` are
    injectable.
    """
    left = budget or (lambda: math.inf)
    outcome = Outcome(RETRY, "not sent")
    for attempt in range(1, max(1, attempts) + 1):
        remaining = left()
        if remaining <= 0:
            return _out_of_time(outcome), attempt - 1
        wait: float | None = None
        try:
            answer = transport(request, timeout=min(timeout, remaining))
        except TransportError as err:
            outcome = Outcome(RETRY, f"transport error: {err}")
        except RefusedTarget as err:
            return Outcome(PERMANENT, f"refused: {err}"), attempt
        else:
            # A transport may answer (status, body) or an Answer with its Retry-After.
            wait = getattr(answer, "retry_after", None)
            outcome = _scrub(classify(answer[0], answer[1]), request)
            if outcome.ok and request.then is not None:
                outcome = replace(outcome, answer=parse_json(answer[1]))
        if outcome.kind != RETRY or attempt >= attempts:
            return outcome, attempt
        delay = max(backoff(attempt, base_delay, max_delay, rng), min(wait or 0, MAX_RETRY_AFTER))
        if delay >= left():
            return _out_of_time(outcome), attempt
        sleep(delay)
    return outcome, max(1, attempts)


def parse_json(body: bytes | str) -> Any:
    """An answer's JSON, or None when it has none (empty, not JSON, not UTF-8)."""
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None


def _out_of_time(outcome: Outcome) -> Outcome:
    return replace(outcome, reason=f"out of time: {outcome.reason}", out_of_time=True)
