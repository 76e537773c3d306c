"""The redirect's baseline: a bare Chalice function that makes the same AWS calls and answers 302.

Whatever Rebound's redirect costs beyond this (parsing the request, the decision, the user-agent,
building the click) is its overhead. With ``cached=True`` it keeps the item in a dict, like the
redirect's warm cache: then both make one PutRecord; otherwise one GetItem + one PutRecord.
"""

from __future__ import annotations

import json
import os
from typing import Any

from chalice import Chalice, Response

from chalicelib.links.record import link_key


def baseline_app(
    *,
    dynamodb: Any,
    kinesis: Any,
    links_table: str,
    stream: str,
    record: bytes,
    cached: bool,
) -> Chalice:
    """A Chalice app with one route, ``/{slug}``, like the redirect's."""
    app = Chalice(app_name="rebound-bench-baseline")
    memo: dict[str, Any] = {}

    @app.route("/{slug}", methods=["GET", "HEAD"])
    def short_link(slug: str) -> Response:
        host = app.current_request.headers.get("host", "")
        pk = link_key(host, slug)
        doc = memo.get(pk)
        if doc is None:
            item = dynamodb.get_item(
                TableName=links_table, Key={"pk": {"S": pk}}, ProjectionExpression="doc"
            )["Item"]
            doc = json.loads(item["doc"]["S"])
            if cached:
                memo[pk] = doc
        kinesis.put_record(StreamName=stream, Data=record, PartitionKey=os.urandom(13).hex())
        return Response(body="", status_code=302, headers={"Location": doc["spec"]["url"]})

    return app
