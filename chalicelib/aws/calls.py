"""What every caller of a batch or fallible AWS API needs: backoff, BatchWriteItem with its
unprocessed items retried, and an error's code."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any


def backoff(attempt: int, cap: float = 1.0) -> float:
    """Seconds before retry ``attempt + 1``: exponential from 50 ms, capped, with jitter."""
    return min(0.05 * 2**attempt, cap) * (0.5 + random.random() / 2)


def batch_write(
    dynamodb: Any,
    table: str,
    requests: list[dict[str, Any]],
    *,
    attempts: int,
    sleep: Callable[[float], None],
    cap: float = 1.0,
) -> list[dict[str, Any]]:
    """One BatchWriteItem of up to 25 requests, its UnprocessedItems retried with backoff
    (``attempts`` calls in all, no wait after the last); returns the requests still unwritten.
    Errors are the caller's."""
    for attempt in range(attempts):
        response = dynamodb.batch_write_item(RequestItems={table: requests})
        requests = (response.get("UnprocessedItems") or {}).get(table) or []
        if not requests:
            return []
        if attempt + 1 < attempts:
            sleep(backoff(attempt, cap))
    return requests


def error_code(exc: BaseException) -> str:
    """An AWS error's code (``ParameterNotFound``, ...), else the exception's type name.

    botocore's timeouts carry ``response = None`` (they are also requests' exceptions)."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code or type(exc).__name__
