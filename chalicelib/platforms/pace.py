"""A tool's documented per-account rate limit, kept within one container.

Email tools limit each account, not each request: ActiveCampaign 5 requests/s, Kit 120/min, Brevo's
events 10/s, Omnisend 400/min, Mailchimp 10 connections at once. A dispatcher sends a platform's
requests up to ``SEND_CONCURRENCY`` at a time, so without a limit one batch of leads would earn a
burst of 429s. ``Pace.slot`` is taken by ``http.send`` around each try: it waits for a token
(a token bucket: ``rate`` per ``per`` seconds, full at the start, so a quiet container may send a
first burst of ``rate``) and, where the tool limits connections, for one of them. A wait that would
not fit in the try's timeout is not started: ``TimeoutError``, which the sender retries or, out of
time, hands back for a later run. Containers do not share a bucket (nothing is shared between
Lambda containers without a network call); the tools' 429s with backoff cover the rest.

``pace_for`` gives the one ``Pace`` per (tool, account) in this process.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any


class Pace:
    def __init__(
        self,
        rate: float,
        per: float,
        connections: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ):
        if rate <= 0 or per <= 0:
            raise ValueError("rate and per must be positive")
        self.rate = float(rate)
        self.per = float(per)
        self.clock = clock
        self.sleep = sleep
        self._tokens = float(rate)
        self._at = clock()
        self._lock = threading.Lock()
        self._connections = threading.BoundedSemaphore(connections) if connections else None

    def _refill(self, now: float) -> None:
        self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate / self.per)
        self._at = now

    def reserve(self) -> float:
        """Take a token; the seconds to wait before using it (0 when one was there)."""
        with self._lock:
            now = self.clock()
            self._refill(now)
            self._tokens -= 1
            if self._tokens >= 0:
                return 0.0
            return -self._tokens * self.per / self.rate

    def _give_back(self) -> None:
        with self._lock:
            self._tokens = min(self.rate, self._tokens + 1)

    @contextlib.contextmanager
    def slot(self, timeout: float) -> Iterator[None]:
        """Wait for a token (and a connection), at most ``timeout`` seconds in all."""
        started = self.clock()
        wait = self.reserve()
        if wait > timeout:
            self._give_back()
            raise TimeoutError(f"rate limit: no slot within {timeout:.1f} s")
        if wait > 0:
            self.sleep(wait)
        if self._connections is None:
            yield
            return
        left = max(0.0, timeout - (self.clock() - started))
        if not self._connections.acquire(timeout=left):
            raise TimeoutError(f"connection limit: none free within {timeout:.1f} s")
        try:
            yield
        finally:
            self._connections.release()


_paces: dict[tuple[str, str], Pace] = {}
_paces_lock = threading.Lock()


def pace_for(
    tool: str, account: str, rate: float, per: float, connections: int | None = None
) -> Pace:
    """The process's one ``Pace`` for ``tool``'s ``account`` (created on first use)."""
    key = (tool, account)
    with _paces_lock:
        found = _paces.get(key)
        if found is None or (found.rate, found.per) != (float(rate), float(per)):
            found = _paces[key] = Pace(rate, per, connections)
        return found


def reset() -> None:
    """Forget every account's bucket, as a new container starts (tests, the fault matrix)."""
    with _paces_lock:
        _paces.clear()
