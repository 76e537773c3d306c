"""Names of Rebound's AWS resources and the boto3 clients that reach them.

Every name derives from the stage (`REBOUND_STAGE`), the way `infra/template.yaml` names them,
and each can be overridden by its own environment variable. The endpoint comes from the standard
`AWS_ENDPOINT_URL`, which botocore honours by itself: that is how the local stack and `--local` work.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

# Hot-path clients: fail fast and retry at most once; a redirect never waits on AWS for long.
HOT_PATH_TIMEOUTS = {"connect_timeout": 0.5, "read_timeout": 0.5, "max_attempts": 2}


@dataclass(frozen=True)
class Names:
    stage: str
    links_table: str
    state_table: str
    click_index_table: str
    stats_table: str
    clicks_stream: str
    clicks_fallback_queue: str
    platform_dlq: str
    lake_bucket: str | None  # None: resolve from the account id when first needed

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Names:
        env = os.environ if env is None else env
        stage = env.get("REBOUND_STAGE", "dev")
        prefix = f"rebound-{stage}"
        return cls(
            stage=stage,
            links_table=env.get("REBOUND_LINKS_TABLE", f"{prefix}-links"),
            state_table=env.get("REBOUND_STATE_TABLE", f"{prefix}-state"),
            click_index_table=env.get("REBOUND_CLICK_INDEX_TABLE", f"{prefix}-click-index"),
            stats_table=env.get("REBOUND_STATS_TABLE", f"{prefix}-stats"),
            clicks_stream=env.get("REBOUND_CLICKS_STREAM", f"{prefix}-clicks"),
            clicks_fallback_queue=env.get(
                "REBOUND_CLICKS_FALLBACK_QUEUE", f"{prefix}-clicks-fallback"
            ),
            platform_dlq=env.get("REBOUND_PLATFORM_DLQ", f"{prefix}-platform-dlq"),
            lake_bucket=env.get("REBOUND_LAKE_BUCKET") or None,
        )

    def lake_bucket_name(self) -> str:
        if self.lake_bucket:
            return self.lake_bucket
        account = client("sts").get_caller_identity()["Account"]
        return f"rebound-{self.stage}-lake-{account}"


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def link_cache_ttl() -> float:
    """Seconds a container keeps a link or domain it read (REBOUND_LINK_CACHE_TTL, default 30):
    how long an `apply` takes to reach every warm redirect and postback."""
    return float(os.environ.get("REBOUND_LINK_CACHE_TTL", "30"))


_CLIENT_LOCK = threading.Lock()  # a boto3 Session is not thread-safe; its clients are


@cache
def _session() -> Any:
    """One boto3 session per process: each session loads the service models and the endpoint
    rules again, so a session per client cost a cold start about 130 ms and 14 MB."""
    import boto3

    return boto3.session.Session()


@cache
def client(service: str, hot: bool = False) -> Any:
    """One client per (service, hot) per process: created once per Lambda container."""
    from botocore.config import Config

    if hot:
        cfg = Config(
            connect_timeout=HOT_PATH_TIMEOUTS["connect_timeout"],
            read_timeout=HOT_PATH_TIMEOUTS["read_timeout"],
            retries={"max_attempts": HOT_PATH_TIMEOUTS["max_attempts"], "mode": "standard"},
            tcp_keepalive=True,
        )
    else:
        cfg = Config(retries={"max_attempts": 5, "mode": "standard"})
    with _CLIENT_LOCK:
        return _session().client(service, region_name=region(), config=cfg)


def reset_clients() -> None:
    """Forget cached clients and the session (tests and the local stack switch endpoints)."""
    client.cache_clear()
    _session.cache_clear()


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
