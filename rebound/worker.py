"""The local stand-in for what AWS runs by itself: Kinesis triggers and schedules.

moto stores stream records but invokes no Lambda, so locally this loop reads each stream the app
subscribes to (`@app.on_kinesis_record`) and calls the handler with the event Lambda would deliver,
honouring partial batch failures; and it runs the app's scheduled functions and periodic chores.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from chalicelib.clicks.envelope import failed_identifiers, kinesis_event

log = logging.getLogger("rebound.worker")

# How often a failed record is retried before the local worker gives up on it (Lambda would
# retry until the record expires; locally we log and move on so one bug does not wedge the loop).
MAX_ATTEMPTS = 3


def sqs_event(messages: list[dict[str, Any]], queue: str, region: str) -> dict:
    """The event Lambda delivers for messages received from a queue."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{region}:123456789012:{queue}",
                "awsRegion": region,
            }
            for m in messages
        ]
    }


@dataclass
class ShardReader:
    """Reads one shard from the start, re-reading from the first failed record when told to."""

    kinesis: Any
    stream: str
    shard_id: str
    iterator: str | None = None
    attempts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.iterator = self.kinesis.get_shard_iterator(
            StreamName=self.stream, ShardId=self.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def poll(self, handler: Callable[[dict, Any], Any], arn: str, region: str, limit: int) -> int:
        page = self.kinesis.get_records(ShardIterator=self.iterator, Limit=limit)
        records = page.get("Records", [])
        next_iterator = page.get("NextShardIterator")
        if not records:
            self.iterator = next_iterator
            return 0
        result = handler(kinesis_event(records, self.shard_id, arn, region), None)
        failed = sorted(failed_identifiers(result), key=int)
        if failed:
            first = failed[0]
            self.attempts[first] = self.attempts.get(first, 0) + 1
            if self.attempts[first] < MAX_ATTEMPTS:
                # Lambda's contract: retry from the lowest failed sequence number.
                self.iterator = self.kinesis.get_shard_iterator(
                    StreamName=self.stream,
                    ShardId=self.shard_id,
                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                    StartingSequenceNumber=first,
                )["ShardIterator"]
                return len(records)
            log.error(
                "giving up on record %s of %s after %d attempts", first, self.stream, MAX_ATTEMPTS
            )
        self.iterator = next_iterator
        return len(records)


class LocalWorker:
    """Drives the app's stream consumers and schedules until stopped."""

    def __init__(
        self,
        app_module: ModuleType,
        kinesis: Any,
        region: str,
        sqs: Any = None,
        schedule_every: float = 60.0,
        chores: list[tuple[float, Callable[[], Any]]] | None = None,
    ):
        self.app_module = app_module
        self.kinesis = kinesis
        self.sqs = sqs
        self.region = region
        self.schedule_every = schedule_every
        self.chores = chores or []
        self._stop = threading.Event()
        self._readers: dict[tuple[str, str], ShardReader] = {}
        self._thread: threading.Thread | None = None

    def _handler(self, source: Any) -> Callable[[dict, Any], Any]:
        return getattr(self.app_module, source.handler_string.rsplit(".", 1)[1])

    def _sources(self, kind: str) -> list[Any]:
        return [s for s in self.app_module.app.event_sources if type(s).__name__ == kind]

    def tick(self) -> int:
        """One pass over every subscribed shard; returns how many records were handled."""
        handled = 0
        for source in self._sources("KinesisEventConfig"):
            desc = self.kinesis.describe_stream(StreamName=source.stream)["StreamDescription"]
            for shard in desc["Shards"]:
                key = (source.name, shard["ShardId"])
                if key not in self._readers:
                    self._readers[key] = ShardReader(self.kinesis, source.stream, shard["ShardId"])
                handled += self._readers[key].poll(
                    self._handler(source), desc["StreamARN"], self.region, source.batch_size
                )

        for source in self._sources("SQSEventConfig"):
            handled += self._poll_queue(source)
        return handled

    def _poll_queue(self, source: Any) -> int:
        if self.sqs is None or not source.queue:
            return 0
        url = self.sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        messages = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(10, source.batch_size), WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return 0
        result = self._handler(source)(sqs_event(messages, source.queue, self.region), None)
        failed = set(failed_identifiers(result))
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in done],
            )
        return len(messages)

    def run_schedules(self) -> None:
        for source in self._sources("ScheduledEventConfig"):
            self._handler(source)(scheduled_event(source.name, self.region), None)

    def _loop(self) -> None:
        next_schedule = time.monotonic() + self.schedule_every
        next_chore = [time.monotonic() + every for every, _ in self.chores]
        while not self._stop.is_set():
            try:
                busy = self.tick()
                now = time.monotonic()
                for i, (every, chore) in enumerate(self.chores):
                    if now >= next_chore[i]:
                        chore()
                        next_chore[i] = now + every
                if now >= next_schedule:
                    self.run_schedules()
                    next_schedule = now + self.schedule_every
            except Exception:  # the loop must outlive a bad batch; the error is logged
                log.exception("local worker pass failed")
                busy = 0
            self._stop.wait(0.05 if busy else 0.5)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rebound-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)


def scheduled_event(rule: str, region: str) -> dict:
    """The EventBridge event a scheduled Lambda receives."""
    import uuid

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule}"],
        "detail": {},
    }
