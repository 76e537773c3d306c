"""Redirect overhead: warm redirects through the Lambda handler vs a bare Chalice function.

Both are invoked in-process with the same API Gateway REST (v1) proxy event, on moto, with the
same boto3 clients; the baseline (bench/baseline_app.py) makes the same AWS calls and answers a
302. Cache hit: both make one PutRecord. Cache miss (the redirect's link cache emptied before
each request): both make one GetItem + one PutRecord. Calls alternate in ABBA blocks after a
warm-up. Moto's own time per call is in both; "Rebound's own time" is the difference of medians.
The budget (≤ 1.5× the baseline) holds for the median and the p99 of a cache hit and a miss.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.apigw import LambdaContext, rest_event
from bench.baseline_app import baseline_app
from bench.figures import Budget, Figure, Result, median, percentile
from bench.stack import CHROME, HOST, SLUG, load_app, moto_stack
from bench.timing import alternate

NAME = "redirect"
TITLE = "Redirect overhead: Lambda handler vs bare Chalice function (in-process, moto)"
PARAMS: dict[str, dict[str, int]] = {
    "full": {"hits": 3000, "misses": 1500, "new_agents": 1500, "block": 50, "warmup": 200},
    "quick": {"hits": 400, "misses": 200, "new_agents": 200, "block": 25, "warmup": 50},
    "tiny": {"hits": 12, "misses": 8, "new_agents": 8, "block": 4, "warmup": 3},
}
BUDGET = Budget(1.5)
QUERY = "fbclid=IwAR2xYz_-AbC"


def run(*, hits: int, misses: int, new_agents: int, block: int, warmup: int) -> Result:
    started = time.perf_counter()
    params = {"hits": hits, "misses": misses, "new_agents": new_agents}
    result = Result(NAME, TITLE, params={**params, "block": block, "warmup": warmup})
    with moto_stack():
        module = load_app()
        event = rest_event(f"/{SLUG}", host=HOST, user_agent=CHROME, query=QUERY)
        context = LambdaContext()

        def subject() -> None:
            _expect_302(module.app(event, context))

        subject()  # creates the handler (clients, salt), so its clients can be shared
        handler = module.redirect_handler()
        shared = {
            "dynamodb": handler.ddb,
            "kinesis": handler.publisher.kinesis,
            "links_table": handler.links_table,
            "stream": handler.publisher.stream,
            "record": _last_record(handler.publisher.kinesis, handler.publisher.stream),
        }
        warm_app = baseline_app(**shared, cached=True)
        cold_app = baseline_app(**shared, cached=False)

        hit_s, hit_b = alternate(
            subject,
            lambda: _expect_302(warm_app(event, context)),
            n=hits,
            block=block,
            warmup=warmup,
        )
        miss_s, miss_b = alternate(
            subject,
            lambda: _expect_302(cold_app(event, context)),
            n=misses,
            block=block,
            warmup=max(1, warmup // 4),
            before_subject=handler.cache.clear,
        )
        # The user-agent parse and the bot check are memoised per user agent: a stream of
        # agents never seen before is the redirect's worst case for CPU.
        fresh = [
            rest_event(f"/{SLUG}", host=HOST, user_agent=agent, query=QUERY)
            for agent in unseen_agents(new_agents + warmup)
        ]
        subject_events, baseline_events = iter(fresh), iter(fresh)
        ua_s, ua_b = alternate(
            lambda: _expect_302(module.app(next(subject_events), context)),
            lambda: _expect_302(warm_app(next(baseline_events), context)),
            n=new_agents,
            block=block,
            warmup=warmup,
        )
        module.redirect_handler.cache_clear()

    for label, s, b, calls, budget in (
        ("cache hit", hit_s, hit_b, "PutRecord", BUDGET),
        ("cache miss", miss_s, miss_b, "GetItem + PutRecord", BUDGET),
        ("cache hit, user agent never seen", ua_s, ua_b, "PutRecord", None),
    ):
        base = f"bare Chalice, {calls}"
        result.figures += [
            Figure(f"{label}: median per redirect", median(s), "µs", median(b), base, budget),
            Figure(
                f"{label}: p99 per redirect",
                percentile(s, 99),
                "µs",
                percentile(b, 99),
                base,
                budget,
            ),
            Figure(
                f"{label}: Rebound's own time (difference of medians)",
                median(s) - median(b),
                "µs",
                note="request parsing, user agent, decision, click record; no AWS",
            ),
        ]
    result.notes.append(
        f"GET /{SLUG}?{QUERY} on {HOST}, Chrome desktop; the link has rules, UTM, "
        "track_conversions and an audience (meta, tiktok). Moto's per-call time is in both sides. "
        "The user-agent parse and bot check are memoised per user agent; the never-seen case "
        "(a new agent every request, as in-app browsers on ad traffic produce) has no budget."
    )
    result.seconds = time.perf_counter() - started
    return result


def unseen_agents(n: int) -> list[str]:
    """``n`` distinct, realistic user agents: Chrome, Safari on iPhone, Facebook's in-app browser
    (ad traffic: a build and device string per app version) and Firefox."""
    out = []
    for i in range(n):
        build, kind = divmod(i, 4)
        ios = f"17_{build % 8}"
        if kind == 0:
            out.append(CHROME.replace("130.0.0.0", f"130.0.{6000 + build}.{i % 200}"))
        elif kind == 1:
            out.append(
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/17.{build % 8} Mobile/15E{148 + build} Safari/604.1"
            )
        elif kind == 2:
            out.append(
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Mobile/21B{80 + build % 50} [FBAN/FBIOS;FBAV/{440 + build}"
                f".0.0.{build % 60}.{build % 113};FBBV/{600000000 + build * 7919};"
                f"FBDV/iPhone{13 + build % 4},{2 + build % 3};FBMD/iPhone;FBSN/iOS;"
                f"FBSV/{ios.replace('_', '.')};FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/0]"
            )
        else:
            out.append(
                f"Mozilla/5.0 (X11; Linux x86_64; rv:{100 + build % 40}.0) "
                f"Gecko/20100101 Firefox/{100 + build % 40}.0.{build}"
            )
    return out


def _expect_302(response: dict[str, Any]) -> None:
    if response.get("statusCode") != 302:
        raise RuntimeError(f"expected a 302, got {response.get('statusCode')}: {response}")


def _last_record(kinesis: Any, stream: str) -> bytes:
    """A click envelope as the redirect wrote it: the baseline puts the same bytes."""
    shards = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"]
    for shard in shards:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator)["Records"]
        if records:
            return records[-1]["Data"]
    return json.dumps({"kind": "click"}).encode()
