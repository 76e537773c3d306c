"""Where platform events end up besides the platform: the dead-letter queue and the dry-run record.

Neither keeps a full IP address at rest: the DLQ entry drops the event's IP, and the dry-run
record masks the device fields of the request body (IP address, hashed or not, and user agent)
and anything shaped like an IP address, and shows e-mail addresses masked (``j***@example.com``:
an email tool's request carries the plain address); the request is otherwise exact, so a marketer
still sees which events, click ids, hashed match keys and consent flags would have gone.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import re
from datetime import UTC, datetime
from typing import Any

from chalicelib.clicks.text import mask_emails
from chalicelib.lake.schema import hour_prefix
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.http import HttpRequest

IP_REDACTED = "<ip redacted>"
UA_REDACTED = "<user agent redacted>"

# Body fields naming a device: client_ip_address, ip, ip_address (Reddit's is an unsalted
# SHA-256 of the IP), ipAddress; client_user_agent, user_agent, userAgent.
_IP_FIELD = re.compile(r"(?:^|_)ip(?:_|$)|ipaddress", re.IGNORECASE)
_UA_FIELD = re.compile(r"user_?agent", re.IGNORECASE)


class DeadLetters:
    def __init__(self, sqs: Any, queue: str):
        self.sqs = sqs
        self.queue = queue
        self._url: str | None = None

    def url(self) -> str:
        if self._url is None:
            self._url = self.sqs.get_queue_url(QueueName=self.queue)["QueueUrl"]
        return self._url

    def send(self, platform: str, events: list[PlatformEvent], outcome: str, reason: str) -> None:
        """One message per event: platform, outcome, reason and the event (without its IP)."""
        entries = []
        for i, event in enumerate(events):
            payload = event.to_dict()
            payload["ip"] = None
            body = {
                "platform": platform,
                "outcome": outcome,
                "reason": mask_emails(reason),
                "event": payload,
            }
            entries.append({"Id": str(i), "MessageBody": json.dumps(body, sort_keys=True)})
        for start in range(0, len(entries), 10):  # SQS batch limit
            resp = self.sqs.send_message_batch(
                QueueUrl=self.url(), Entries=entries[start : start + 10]
            )
            if resp.get("Failed"):
                raise RuntimeError(f"DLQ refused {len(resp['Failed'])} messages for {platform}")


def redact_ips(value: Any) -> Any:
    """Every string that is a full IP address, anywhere in a JSON value, masked."""
    if isinstance(value, dict):
        return {k: redact_ips(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_ips(v) for v in value]
    if isinstance(value, str) and value and (value[0].isdigit() or ":" in value):
        try:
            ipaddress.ip_address(value)
            return IP_REDACTED
        except ValueError:
            return value
    return value


def redact_device(value: Any) -> Any:
    """A request body fit to keep: IP and user-agent fields masked whatever their form (a
    hashed IP is as good as the IP: there are only 2**32 of them), then any remaining string
    shaped like an IP or an e-mail address."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is not None and _IP_FIELD.search(str(k)):
                out[k] = IP_REDACTED if not isinstance(v, list) else [IP_REDACTED] * len(v)
            elif v is not None and _UA_FIELD.search(str(k)):
                out[k] = UA_REDACTED if not isinstance(v, list) else [UA_REDACTED] * len(v)
            else:
                out[k] = redact_device(v)
        return out
    if isinstance(value, list):
        return [redact_device(v) for v in value]
    if isinstance(value, str) and "@" in value:
        return mask_emails(value)
    return redact_ips(value)


class DryRunRecorder:
    """Records each request under `platform-requests/`: exact but for the secrets and the
    device fields (``redact_device``)."""

    PREFIX = "platform-requests/"

    def __init__(self, s3: Any, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def record(self, platform: str, request: HttpRequest, now: datetime, step: int = 0) -> str:
        """``step``: the request's place in its chain (0 for the first or only one), so each step
        of a chain is its own record, listed in order."""
        now = now.astimezone(UTC)
        try:
            body: Any = json.loads(request.data() or b"null")
        except ValueError:
            body = (request.data() or b"").decode("utf-8", "replace")
        doc = {
            "ts": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "platform": platform,
            "method": request.method,
            "url": mask_emails(request.safe_url),
            "headers": request.safe_headers,
            "event_ids": list(request.event_ids),
            "body": redact_device(body),
        }
        first = (list(request.event_ids) or ["none"])[0]
        stamp = f"{now:%Y%m%dT%H%M%S%f}" + (f"s{step}" if step else "")
        key = f"{_hour_prefix(self.PREFIX, now)}{stamp}-{platform}-{first}.json"
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(doc, sort_keys=True, indent=1).encode("utf-8"),
            ContentType="application/json",
        )
        return key


class OutcomeLog:
    """One gzip JSON-lines object per platform per batch under `platform-events/`: what became of
    each event (sent, dry_run, dead, rejected, skipped). The rollup counts it; analysts query it.
    No IP, no user data: event id, kind, status, reason, the short link."""

    PREFIX = "platform-events/"

    def __init__(self, s3: Any, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def write(self, platform: str, rows: list[dict[str, Any]], now: datetime) -> str | None:
        if not rows:
            return None
        now = now.astimezone(UTC)
        body = "\n".join(json.dumps(r, sort_keys=True) for r in rows) + "\n"
        key = (
            f"{_hour_prefix(self.PREFIX, now)}"
            f"{platform}-{now:%Y%m%dT%H%M%S%f}-{rows[0]['event_id']}.json.gz"
        )
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=gzip.compress(body.encode("utf-8"), mtime=0)
        )
        return key


def outcome_row(
    platform: str, event: PlatformEvent, status: str, reason: str, now: datetime
) -> dict:
    now = now.astimezone(UTC)
    return {
        "ts": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "platform": platform,
        "event_id": event.event_id,
        "kind": event.kind,
        "status": status,
        "reason": mask_emails(reason)[:300],
        "source_url": event.source_url,
        "event_time": event.event_time.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }


def _hour_prefix(prefix: str, now: datetime) -> str:
    return hour_prefix(prefix.rstrip("/"), f"{now:%Y-%m-%d}", f"{now:%H}")
