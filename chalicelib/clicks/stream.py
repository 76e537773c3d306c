"""One Kinesis PutRecord per envelope (a click or a conversion), or one PutRecords for the
envelopes a redirect held until after its response; SQS when Kinesis refuses; a re-publisher that
drains SQS.

No click is lost: a failed PutRecord sends the same event (same click id) to the fallback queue,
and the re-publisher puts it on the stream later. The click id is the key downstream, so an event
that reaches the stream twice (a put that timed out after it succeeded) is still one click.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from chalicelib.clicks.envelope import decode, encode, partition_key

log = logging.getLogger(__name__)


class StreamPublisher:
    def __init__(self, kinesis: Any, sqs: Any, stream: str, fallback_queue: str):
        self.kinesis = kinesis
        self.sqs = sqs
        self.stream = stream
        self.fallback_queue = fallback_queue
        self._queue_url: str | None = None

    def publish(self, event: dict[str, Any], key: str) -> str:
        """Returns where the event went: "stream", "fallback" or "lost" (logged). Never raises:
        a redirect never fails for its click."""
        try:
            data = encode(event)
        except Exception as exc:  # not JSON-serialisable: a bug upstream, still not the visitor's
            log.error(
                "click %s not published: it could not be encoded (%s)",
                key,
                _code(exc),
                extra={"partition_key": key},
            )
            return "lost"
        try:
            self.kinesis.put_record(StreamName=self.stream, Data=data, PartitionKey=key)
            return "stream"
        except Exception as exc:
            log.warning(
                "kinesis put failed for %s (%s), using the fallback queue",
                key,
                _code(exc),
                extra={"partition_key": key},
            )
        return self._fallback(data, key)

    def publish_batch(self, items: list[tuple[bytes, str]]) -> Counter[str]:
        """Encoded envelopes and their keys, in PutRecords calls of at most 500 records and
        5 MiB; each record Kinesis refuses (or all of a call that fails) goes to the fallback
        queue, as ``publish`` does with one. Returns how many went where ("stream",
        "fallback", "lost"). Never raises."""
        where: Counter[str] = Counter()
        for chunk in _chunks(items):
            try:
                resp = self.kinesis.put_records(
                    StreamName=self.stream,
                    Records=[{"Data": data, "PartitionKey": key} for data, key in chunk],
                )
                results = resp.get("Records") or []
                refused = [
                    item
                    for item, result in zip(chunk, results, strict=False)
                    if result.get("ErrorCode")
                ]
                refused += chunk[len(results) :]  # an answer shorter than the call: not put
                code = next((r["ErrorCode"] for r in results if r.get("ErrorCode")), None)
            except Exception as exc:
                refused, code = list(chunk), _code(exc)
            where["stream"] += len(chunk) - len(refused)
            if refused:
                log.warning(
                    "kinesis refused %d of %d records (%s), using the fallback queue",
                    len(refused),
                    len(chunk),
                    code,
                )
            for data, key in refused:
                where[self._fallback(data, key)] += 1
        return where

    def _fallback(self, data: bytes, key: str) -> str:
        try:
            self.sqs.send_message(QueueUrl=self.queue_url(), MessageBody=data.decode("utf-8"))
            return "fallback"
        except Exception as exc:
            # Both down: the click is lost. The log says which and why, never what it held (the
            # envelope carries the IP, the user agent and whatever the visitor put in the URL).
            log.error(
                "click %s not published: kinesis and the fallback queue failed (%s)",
                key,
                _code(exc),
                extra={"partition_key": key},
            )
            return "lost"

    def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self.sqs.get_queue_url(QueueName=self.fallback_queue)["QueueUrl"]
        return self._queue_url


# PutRecords takes at most 500 records and 5 MiB a call (data and partition keys together).
MAX_RECORDS = 500
MAX_BYTES = 5 * 1024 * 1024


def _chunks(items: list[tuple[bytes, str]]) -> list[list[tuple[bytes, str]]]:
    chunks: list[list[tuple[bytes, str]]] = []
    size = 0
    for data, key in items:
        n = len(data) + len(key.encode("utf-8"))
        if not chunks or len(chunks[-1]) == MAX_RECORDS or size + n > MAX_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append((data, key))
        size += n
    return chunks


def _code(exc: Exception) -> str:
    """An AWS error code (``ThrottlingException``) or the exception's type: never its message."""
    response = getattr(exc, "response", None)
    code = (response.get("Error") or {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else type(exc).__name__


def republish(kinesis: Any, stream: str, bodies: list[tuple[str, str]]) -> list[str]:
    """Put fallback-queue messages back on the stream; returns the message ids that failed.

    `bodies` are (message id, body). One PutRecords call for the batch (SQS delivers at most 10).
    """
    if not bodies:
        return []
    records, failed = [], []
    ids = []
    for message_id, body in bodies:
        try:
            key = partition_key(decode(body))
        except (ValueError, KeyError, TypeError):
            # Its body may hold a click's IP and user agent: the id only, never the content.
            log.error(
                "fallback message %s is not a click event; dropping it",
                message_id,
                extra={"message_id": message_id},
            )
            continue
        records.append({"Data": body.encode("utf-8"), "PartitionKey": key})
        ids.append(message_id)
    if not records:
        return []
    try:
        resp = kinesis.put_records(StreamName=stream, Records=records)
    except Exception as exc:
        log.warning("re-publish failed (%s), will retry", _code(exc))
        return ids
    for message_id, result in zip(ids, resp.get("Records", []), strict=False):
        if result.get("ErrorCode"):
            failed.append(message_id)
    return failed
