"""`rebound platform-requests`: what was sent to the platforms, or would have been (dry run)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.dispatch.sinks import DryRunRecorder


def recent_requests(s3: Any, bucket: str, platform: str | None, last: int) -> list[dict]:
    """The newest `last` recorded requests (keys sort by time), newest last."""
    keys: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": DryRunRecorder.PREFIX}
    while True:
        page = s3.list_objects_v2(**kwargs)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    if platform:
        keys = [k for k in keys if f"-{platform}-" in k.rsplit("/", 1)[-1]]
    keys = sorted(keys, key=lambda k: k.rsplit("/", 1)[-1])[-last:] if last > 0 else []
    return [json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]
