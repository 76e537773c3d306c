"""How long a batch may still work: the Lambda's remaining time, less a safety margin.

The dispatcher starts no send with less than ``SAFETY_SECONDS`` left (that time is for settling,
releasing what was not sent, writing the outcome log and answering Lambda), cuts each HTTP try
and backoff wait to what is left, and claims its events only until the invocation ends (plus
``CLAIM_SLACK``): a Lambda killed at its timeout leaves claims that run out moments later, so
the retry does not wait on them long.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

SAFETY_SECONDS = 10.0
CLAIM_SLACK = timedelta(seconds=5)


class Deadline:
    """``remaining`` gives the seconds until the invocation ends; None: no deadline known (a
    test, the local worker), then nothing is cut short and claims get the ledger's lease."""

    def __init__(self, remaining: Callable[[], float] | None = None):
        self._remaining = remaining

    @classmethod
    def of(cls, context: Any) -> Deadline:
        """From a Lambda context (``get_remaining_time_in_millis``), or no deadline."""
        millis = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(millis):
            return cls()
        return cls(lambda: millis() / 1000)

    @property
    def known(self) -> bool:
        return self._remaining is not None

    def left(self) -> float:
        """Seconds work may still take, the safety margin kept back (``inf`` without one)."""
        return math.inf if self._remaining is None else self._remaining() - SAFETY_SECONDS

    def claims_until(self, now: datetime) -> datetime | None:
        """When a claim made now should run out: the end of the invocation, plus a little."""
        if self._remaining is None:
            return None
        return now + timedelta(seconds=max(0.0, self._remaining())) + CLAIM_SLACK
