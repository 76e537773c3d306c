"""One emulated AWS account (moto, in-process) for every path of the fault matrix.

Provisioned once from infra/template.yaml like the local stack, with the config every path
needs, two fake platforms on 127.0.0.1, and a snapshot of the tables, the bucket and the
queues. ``restore()`` puts them back as they were between cells (a few scans and puts: far
cheaper than provisioning again); the Kinesis stream cannot be rewound, so ``StreamCursor``
reads only what was put since a mark.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from chalicelib.aws.clients import client, reset_clients
from chalicelib.aws.names import Names
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from chalicelib.platforms import pace
from tests.conftest import AWS_ENV
from tests.faults.injector import Injector
from tests.platforms.conftest import FakePlatform

DOMAIN = "go.localhost"
SECRET = "whsec-faults-0123456789abcdef"
SECRET_REF = "ssm:/rebound/local/go.localhost/conversion-secret"
META_TOKEN_REF = "ssm:/rebound/local/meta-token"
TIKTOK_TOKEN_REF = "secretsmanager:rebound/local/tiktok-token"  # both kinds of reference
KLAVIYO_KEY_REF = "ssm:/rebound/local/klaviyo-key"
KIT_KEY_REF = "ssm:/rebound/local/kit-key"
KIT_PURCHASE_TAG = 4100002
WEBHOOK_SECRET_REF = "ssm:/rebound/local/webhook-crm"
WEBHOOK = "webhook:crm"


def world_specs(
    meta_url: str, tiktok_url: str, klaviyo_url: str, webhook_url: str, kit_url: str
) -> Specs:
    link = {
        "domain": DOMAIN,
        "redirect": 302,
        "mode": "redirect",
        "tags": ["sale"],
        "utm": {"source": "faults"},
        "forward_query": True,
        "track_conversions": True,
        "rules": [],
        "campaign": "spring",
    }
    return Specs(
        domains=[
            {
                "name": DOMAIN,
                "root_url": "https://shop.example/",
                "not_found_url": "https://shop.example/missing",
                "consent": {"honor_gpc": True, "honor_dnt": True, "require_in": []},
                "conversion_secret": SECRET_REF,
                "default_country": "US",
            }
        ],
        platforms={
            "meta": {
                "pixel_id": "1234567890",
                "access_token": META_TOKEN_REF,
                "endpoint": meta_url,
                "dry_run": False,
            },
            "tiktok": {
                "pixel_code": "C0DE1234",
                "access_token": TIKTOK_TOKEN_REF,
                "endpoint": tiktok_url,
                "dry_run": False,
            },
            # The merchant's own systems: an email tool and a webhook (issue 17).
            "klaviyo": {
                "api_key": KLAVIYO_KEY_REF,
                "endpoint": klaviyo_url,
                "dry_run": False,
                "revision": "2025-10-15",
            },
            # An email tool that takes a chain (subscriber upsert, then the tag): both steps are
            # HTTP call sites of the dispatcher path.
            "kit": {
                "api_key": KIT_KEY_REF,
                "endpoint": kit_url,
                "dry_run": False,
                "tags": {"purchase": KIT_PURCHASE_TAG},
            },
        },
        audiences=[
            {
                "id": "buyers",
                "match": {"tags": ["sale"]},
                "send_to": ["meta", "tiktok", "klaviyo", "kit"],
            },
            # An engagement tier (dispatch/tiers.py): its state reads and writes are on the path.
            {
                "id": "warm",
                "match": {"tags": ["sale"]},
                "window_days": 7,
                "exclude_converted": True,
                "send_to": ["meta"],
            },
        ],
        links=[
            {**link, "slug": "sale", "url": "https://shop.example/sale"},
            {**link, "slug": "capped", "url": "https://shop.example/capped", "max_clicks": 10**9},
        ],
        webhooks=[
            {
                "id": "crm",
                "url": f"{webhook_url}/rebound",
                "secret": WEBHOOK_SECRET_REF,
                "events": ["click", "lead", "purchase"],
                "personal_data": "hashed",
                "dry_run": False,
            }
        ],
    )


@dataclass
class Snapshot:
    tables: dict[str, Any] = field(default_factory=dict)  # name -> moto's items
    objects: dict[str, bytes] = field(default_factory=dict)


class FakeContext:
    """The Lambda context's one method the code asks (``get_remaining_time_in_millis``)."""

    def __init__(self, millis: int = 240_000):
        self.millis = millis
        self.function_name = "rebound-faults"
        self.aws_request_id = "faults"

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


class Clock:
    """Real time plus an offset the harness moves forward (past leases) between replays."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> None:
        self.offset += by


class World:
    def __init__(self) -> None:
        self.names: Names
        self.outputs: dict[str, str] = {}
        self.meta = FakePlatform()
        self.tiktok = FakePlatform()
        self.meta.default = (200, b'{"events_received": 1}')
        self.tiktok.default = (200, b'{"code": 0, "message": "OK"}')
        self.klaviyo = FakePlatform()
        self.klaviyo.default = (202, b"")
        self.kit = FakePlatform()
        self.kit.default = (201, b'{"subscriber": {"id": 1103}}')
        self.webhook = FakePlatform()
        self.webhook.default = (200, b"{}")
        self.injector = Injector()
        self.snapshot = Snapshot()
        self.app: ModuleType
        self.clock = Clock()
        self.extra: list[str] = []

    # --- set-up -----------------------------------------------------------------------------

    def build(self) -> None:
        from infra.provision import load_app, local_environment, provision

        self.outputs = provision()
        local_environment(self.outputs)
        os.environ["REBOUND_PLATFORMS_DRY_RUN"] = "0"
        os.environ["REBOUND_LINK_CACHE_TTL"] = "30"
        self.names = Names.from_env()
        for fake in self.fakes():
            fake.start()
        self.injector.platform_names = {
            self.meta.server.server_address[1]: "meta",
            self.tiktok.server.server_address[1]: "tiktok",
            self.klaviyo.server.server_address[1]: "klaviyo",
            self.kit.server.server_address[1]: "kit",
            self.webhook.server.server_address[1]: WEBHOOK,
        }
        ddb = client("dynamodb")
        store = ConfigStore(ddb, self.names.links_table)
        store.write(
            make_plan(
                world_specs(
                    self.meta.url, self.tiktok.url, self.klaviyo.url, self.webhook.url, self.kit.url
                ),
                store.read_all(),
            ).writes()
        )
        ssm = client("ssm")
        for ref, value in [
            (SECRET_REF, SECRET),
            (META_TOKEN_REF, "EAAB-meta-token"),
            (KLAVIYO_KEY_REF, "pk_faults_klaviyo"),
            (KIT_KEY_REF, "kit_faults_key"),
            (WEBHOOK_SECRET_REF, "whsec-crm-faults"),
        ]:
            ssm.put_parameter(Name=ref.removeprefix("ssm:"), Value=value, Type="SecureString")
        client("secretsmanager").create_secret(
            Name=TIKTOK_TOKEN_REF.removeprefix("secretsmanager:"), SecretString="tiktok-token"
        )
        self.app = load_app()
        self.new_container()

    def take_snapshot(self) -> None:
        """What ``restore()`` returns to: call after every path's own set-up."""
        self.snapshot = Snapshot(
            tables={t: copy.deepcopy(_moto_table(t).items) for t in self.tables()},
            objects=self._objects(),
        )

    # --- between cells ----------------------------------------------------------------------

    def new_container(self) -> None:
        """A new Lambda execution environment: nothing cached by the app (clients excepted:
        they keep no state the faults could have touched)."""
        for name in ("redirect_handler", "conversion_intake", "dispatcher_service"):
            cached = getattr(self.app, name, None)
            if cached is not None and hasattr(cached, "cache_clear"):
                cached.cache_clear()
        # An email tool's per-account rate limit is kept per container (platforms/pace.py): a
        # new one starts with a full bucket, as a cell's Lambda would.
        pace.reset()

    def restore(self) -> None:
        """Tables, bucket and queues as in the snapshot; the fakes forget what they received.

        The tables are put back inside moto (as moto restores a backup: a deep copy of the
        items), because scanning them through the API costs ~0.1 ms an attribute."""
        for table, items in self.snapshot.tables.items():
            _moto_table(table).items = copy.deepcopy(items)
        s3, bucket = client("s3"), self.names.lake_bucket_name()
        live_objects = self._objects(bodies=False)
        extra = [k for k in live_objects if k not in self.snapshot.objects]
        for start in range(0, len(extra), 1000):
            s3.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": k} for k in extra[start : start + 1000]]},
            )
        for key, body in self.snapshot.objects.items():
            if key not in live_objects:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
        sqs = client("sqs")
        for url in self.queue_urls():  # PurgeQueue allows one call a minute
            for _ in range(50):
                page = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
                ).get("Messages", [])
                if not page:
                    break
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(page)
                    ],
                )
        for fake in self.fakes():
            with fake._lock:
                fake.received.clear()
        self.clock.offset = timedelta()
        self.new_container()

    # --- reading the world ------------------------------------------------------------------

    def fakes(self) -> list[FakePlatform]:
        """The destinations' fake servers: two ad platforms, two email tools (one of them
        a chain of two requests), a webhook."""
        return [self.meta, self.tiktok, self.klaviyo, self.webhook, self.kit]

    def tables(self) -> list[str]:
        n = self.names
        return [n.links_table, n.state_table, n.click_index_table, n.stats_table, *self.extra]

    def table_like(self, name: str, like: str) -> str:
        """A new table with the key schema of ``like`` (a path that needs its own)."""
        ddb = client("dynamodb")
        desc = ddb.describe_table(TableName=like)["Table"]
        ddb.create_table(
            TableName=name,
            KeySchema=desc["KeySchema"],
            AttributeDefinitions=desc["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        self.extra.append(name)
        return name

    def queue_urls(self) -> list[str]:
        return [v for k, v in self.outputs.items() if k.endswith("QueueUrl")]

    def queue_url(self, name: str) -> str:
        return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    def queue_bodies(self, name: str) -> list[str]:
        """Every message in a queue, left in it (received with a visibility timeout of 0)."""
        sqs, url = client("sqs"), self.queue_url(name)
        seen: dict[str, str] = {}
        for _ in range(20):
            page = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            new = {m["MessageId"]: m["Body"] for m in page if m["MessageId"] not in seen}
            if not new:
                break
            seen.update(new)
        return list(seen.values())

    def _objects(self, bodies: bool = True, prefix: str = "") -> dict[str, Any]:
        s3, bucket = client("s3"), self.names.lake_bucket_name()
        out: dict[str, Any] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                out[key] = (
                    s3.get_object(Bucket=bucket, Key=key)["Body"].read() if bodies else obj["ETag"]
                )
        return out

    def objects(self, prefix: str) -> dict[str, bytes]:
        return self._objects(prefix=prefix)

    def table_items(self, table: str) -> list[dict]:
        """Every item of a table in the low-level format (read inside moto: a scan through the
        API would cost more than the cell)."""
        moto_table = _moto_table(table)
        out = []
        for value in list(moto_table.items.values()):
            for item in value.values() if isinstance(value, dict) else [value]:
                out.append(item.to_json()["Attributes"])
        return out

    def stop(self) -> None:
        for fake in self.fakes():
            fake.stop()


def _moto_table(name: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_REGION"]].tables[name]


class StreamCursor:
    """Reads what was put on the clicks stream since the mark (one shard or several)."""

    def __init__(self, stream: str):
        self.stream = stream
        self.kinesis = client("kinesis")
        self.after: dict[str, str | None] = {}
        self.mark()

    def _shards(self) -> list[str]:
        desc = self.kinesis.describe_stream(StreamName=self.stream)["StreamDescription"]
        return [s["ShardId"] for s in desc["Shards"]]

    def _read(self, shard: str, after: str | None) -> list[dict]:
        kwargs: dict[str, Any] = {"StreamName": self.stream, "ShardId": shard}
        if after is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        iterator = self.kinesis.get_shard_iterator(**kwargs)["ShardIterator"]
        out: list[dict] = []
        for _ in range(100):
            page = self.kinesis.get_records(ShardIterator=iterator, Limit=10000)
            out += page.get("Records", [])
            if not page.get("Records") or not page.get("NextShardIterator"):
                return out
            iterator = page["NextShardIterator"]
        return out

    def mark(self) -> None:
        for shard in self._shards():
            records = self._read(shard, self.after.get(shard))
            if records:
                self.after[shard] = records[-1]["SequenceNumber"]
            else:
                self.after.setdefault(shard, None)

    def since_mark(self) -> list[dict]:
        """The records put since the last mark, as (shard, Kinesis record)."""
        out = []
        for shard in self._shards():
            for r in self._read(shard, self.after.get(shard)):
                out.append({**r, "ShardId": shard})
        return out

    def events_since_mark(self) -> list[dict]:
        return [json.loads(r["Data"]) for r in self.since_mark()]


@contextmanager
def aws_world() -> Iterator[World]:
    """The world, inside moto, with the environment restored afterwards."""
    from moto import mock_aws

    saved = dict(os.environ)
    os.environ.update(AWS_ENV)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "REBOUND_LAKE_BUCKET"):
        os.environ.pop(key, None)
    reset_clients()
    world = World()
    started = time.monotonic()
    try:
        with mock_aws():
            world.build()
            world.build_seconds = time.monotonic() - started  # type: ignore[attr-defined]
            yield world
    finally:
        world.stop()
        reset_clients()
        os.environ.clear()
        os.environ.update(saved)
