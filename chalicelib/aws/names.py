"""Names of Rebound's AWS resources, and the stage settings read from the environment.

Every name derives from the stage (`REBOUND_STAGE`), the way `infra/template.yaml` names them,
and each can be overridden by its own environment variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.aws.clients import client

# The stage the local stack provisions and serves (`rebound local`, tests, benchmarks).
LOCAL_STAGE = "local"


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
    def from_env(cls, env: Mapping[str, str] | None = None) -> Names:
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


def link_cache_ttl() -> float:
    """Seconds a container keeps a link or domain it read (REBOUND_LINK_CACHE_TTL, default 30):
    how long an `apply` takes to reach every warm redirect and postback."""
    return float(os.environ.get("REBOUND_LINK_CACHE_TTL", "30"))
