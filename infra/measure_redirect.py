"""How long the redirect Lambda works per request, measured in-process (docs/cost.md).

    python infra/measure_redirect.py [--requests 3000]

Two numbers, both for a warm container with the link cached (the common case):
- handler on moto: app.py's route through Chalice, the RedirectHandler, and moto's emulated PutRecord;
- own CPU: the same handler with a Kinesis client that returns at once, i.e. the work that
  scales with Lambda's CPU share (UA parsing, bot check, decision, click record, JSON).
A deployed redirect adds one real PutRecord round trip (in-region, typically 5-20 ms) on top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


class InstantKinesis:
    def put_record(self, **_: Any) -> dict[str, str]:
        return {"ShardId": "shardId-000000000000", "SequenceNumber": "1"}


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100)
    return f"p50 {q[49]:.2f} ms  p90 {q[89]:.2f} ms  p99 {q[98]:.2f} ms  mean {statistics.mean(ms):.2f} ms"


def stream_record_size() -> int:
    """Bytes of the last click the redirect put on the stream."""
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names

    kinesis, stream = client("kinesis"), Names.from_env().clicks_stream
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return len(kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"][0]["Data"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's dummy credentials
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        REBOUND_STAGE="local",
        REBOUND_LINK_CACHE_TTL="30",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.links.plan import Specs, make_plan
    from chalicelib.links.store import ConfigStore
    from infra.provision import PROJECT, load_app, local_environment, provision

    with mock_aws():
        local_environment(provision())
        specs = Specs(
            domains=[{"name": "go.localhost", "root_url": "https://shop.example/"}],
            links=[
                {
                    "domain": "go.localhost",
                    "slug": "spring-sale",
                    "url": "https://shop.example/sale",
                    "redirect": 302,
                    "mode": "redirect",
                    "tags": ["sale"],
                    "utm": {"source": "newsletter"},
                    "forward_query": True,
                    "track_conversions": True,
                    "rules": [{"when": {"device": ["android"]}, "url": "https://shop.example/a"}],
                }
            ],
        )
        store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
        store.write(make_plan(specs, store.read_all()).writes())
        module = load_app()
        headers = {"Host": "go.localhost", "User-Agent": UA, "Accept-Language": "en-US"}
        path = "/spring-sale?utm_campaign=x&fbclid=IwAR-abc"
        with Client(module.app, stage_name="local", project_dir=str(PROJECT)) as c:
            for _ in range(50):  # warm: caches, salt, parsers
                assert c.http.get(path, headers=headers).status_code == 302
            handler = []
            for _ in range(args.requests):
                t = time.perf_counter()
                c.http.get(path, headers=headers)
                handler.append(time.perf_counter() - t)
            record = stream_record_size()
            module.redirect_handler().publisher.kinesis = InstantKinesis()
            own = []
            for _ in range(args.requests):
                t = time.perf_counter()
                c.http.get(path, headers=headers)
                own.append(time.perf_counter() - t)
    print(f"stream record (click envelope): {record} bytes")
    print(f"handler on moto ({args.requests} warm requests): {percentiles(handler)}")
    print(f"own CPU, Kinesis stubbed ({args.requests}):       {percentiles(own)}")


if __name__ == "__main__":
    main()
