"""AWS calls per redirect, counted with botocore event hooks (``before-call.<service>.<op>``).

Budget (DESIGN.md §1): a cache hit makes 0 DynamoDB calls and 1 Kinesis call; a cache miss 1 + 1;
nothing else. The baseline is the bare Chalice function of the overhead benchmark, counted the
same way. The hooks sit on the handler's own clients and on every client `chalicelib.aws.clients`
hands out, so a call through any of them is seen.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.apigw import LambdaContext, rest_event
from bench.baseline_app import baseline_app
from bench.figures import Budget, Figure, Result
from bench.stack import CHROME, HOST, SLUG, load_app, moto_stack

NAME = "aws-calls"
TITLE = "AWS calls per redirect (botocore event hooks)"
PARAMS: dict[str, dict[str, int]] = {
    "full": {"redirects": 50},
    "quick": {"redirects": 20},
    "tiny": {"redirects": 3},
}
SERVICES = ("dynamodb", "kinesis", "sqs", "s3", "sts", "ssm", "secretsmanager")
BUDGETS = {
    "cache hit": {"dynamodb": 0, "kinesis": 1, "other": 0},
    "cache miss": {"dynamodb": 1, "kinesis": 1, "other": 0},
    # No consent in the EU: the visitor id is a hash under the day's salt, read once a day.
    "cache hit, EU visitor without consent": {"dynamodb": 0, "kinesis": 1, "other": 0},
}


class CallCounter:
    """Counts API calls per service on every client it watches."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.operations: Counter[str] = Counter()
        self._watched: set[int] = set()

    def _hook(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.counts[service] += 1
        self.operations[f"{service}.{operation}"] += 1

    def watch(self, *clients: Any) -> None:
        for c in clients:
            if c is not None and id(c) not in self._watched:
                c.meta.events.register("before-call.*.*", self._hook)
                self._watched.add(id(c))

    def per_call(self, calls: int) -> dict[str, float]:
        """Calls per redirect by budget line: dynamodb, kinesis, other."""
        other = sum(v for k, v in self.counts.items() if k not in ("dynamodb", "kinesis"))
        return {
            "dynamodb": self.counts["dynamodb"] / calls,
            "kinesis": self.counts["kinesis"] / calls,
            "other": other / calls,
        }

    def reset(self) -> None:
        self.counts.clear()
        self.operations.clear()


def handler_clients(handler: Any) -> list[Any]:
    """The botocore clients the handler holds, itself or in its parts (counter, salt, publisher)."""
    found = []
    for holder in (handler, *vars(handler).values()):
        for value in vars(holder).values() if hasattr(holder, "__dict__") else ():
            if hasattr(value, "meta") and hasattr(value.meta, "events"):
                found.append(value)
    return found


def run(*, redirects: int) -> Result:
    from chalicelib.aws.clients import client

    started = time.perf_counter()
    result = Result(NAME, TITLE, params={"redirects": redirects})
    with moto_stack():
        module = load_app()
        event = rest_event(f"/{SLUG}", host=HOST, user_agent=CHROME, query="fbclid=IwAR2xYz")
        eu_event = rest_event(f"/{SLUG}", host=HOST, user_agent=CHROME, country="DE")
        context = LambdaContext()
        counter = CallCounter()

        handler = module.redirect_handler()
        counter.watch(*handler_clients(handler))
        counter.watch(*(client(s, hot) for s in SERVICES for hot in (False, True)))
        _invoke(module.app, event, context)
        first = dict(counter.operations)

        subject: dict[str, dict[str, float]] = {}
        counter.reset()
        for _ in range(redirects):
            handler.cache.clear()
            _invoke(module.app, event, context)
        subject["cache miss"] = counter.per_call(redirects)
        miss_ops = dict(counter.operations)
        counter.reset()
        for _ in range(redirects):
            _invoke(module.app, event, context)
        subject["cache hit"] = counter.per_call(redirects)
        hit_ops = dict(counter.operations)
        counter.reset()
        _invoke(module.app, eu_event, context)
        first_eu = dict(counter.operations)
        counter.reset()
        for _ in range(redirects):
            _invoke(module.app, eu_event, context)
        subject["cache hit, EU visitor without consent"] = counter.per_call(redirects)

        baseline: dict[str, dict[str, float]] = {}
        shared = {
            "dynamodb": handler.ddb,
            "kinesis": handler.publisher.kinesis,
            "links_table": handler.links_table,
            "stream": handler.publisher.stream,
            "record": b"{}",
        }
        for label, cached in (("cache hit", True), ("cache miss", False)):
            app = baseline_app(**shared, cached=cached)
            _invoke(app, event, context)
            counter.reset()
            for _ in range(redirects):
                _invoke(app, event, context)
            baseline[label] = counter.per_call(redirects)
        baseline["cache hit, EU visitor without consent"] = baseline["cache hit"]
        module.redirect_handler.cache_clear()

    for label, budget in BUDGETS.items():
        for line, limit in budget.items():
            what = "other AWS calls" if line == "other" else f"{_service_name(line)} calls"
            result.figures.append(
                Figure(
                    f"{label}: {what} per redirect",
                    subject[label][line],
                    "calls",
                    baseline[label][line],
                    "bare Chalice function",
                    Budget(limit, on="value", op="=="),
                )
            )
    for label, ops in (
        ("first redirect of a new container", first),
        ("first redirect that needs the day's salt (EU, no consent)", first_eu),
    ):
        result.figures.append(
            Figure(
                f"{label}: AWS calls",
                sum(ops.values()),
                "calls",
                note=", ".join(f"{k} ×{v}" for k, v in sorted(ops.items())),
            )
        )
    result.notes.append(
        f"Per redirect over {redirects} redirects each. Cache miss: "
        + ", ".join(f"{k} ×{v}" for k, v in sorted(miss_ops.items()))
        + "; cache hit: "
        + ", ".join(f"{k} ×{v}" for k, v in sorted(hit_ops.items()))
        + ". A container reads the day's visitor-hash salt once, at the first redirect that "
        "needs it (consent denied), and creates it if it is the first of the day."
    )
    result.seconds = time.perf_counter() - started
    return result


def _invoke(app: Any, event: dict[str, Any], context: Any) -> None:
    response = app(event, context)
    if response.get("statusCode") != 302:
        raise RuntimeError(f"expected a 302, got {response.get('statusCode')}")


def _service_name(service: str) -> str:
    return {"dynamodb": "DynamoDB", "kinesis": "Kinesis"}.get(service, service)
