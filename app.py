"""Rebound's entry points: every route and event source, and nothing else (logic is in chalicelib/)."""

import os
import time
from functools import cache, partial

from chalice import Chalice, Rate, Response

from chalicelib import redirect
from chalicelib.aws.clients import client
from chalicelib.aws.names import Names, link_cache_ttl
from chalicelib.clicks import after_response
from chalicelib.observe import outcomes

app = Chalice(app_name="rebound")
NAMES = Names.from_env()
# On Lambda the runtime writes JSON logs (the template's LoggingConfig); elsewhere, on request.
if os.environ.get("REBOUND_LOG_FORMAT") == "json":
    from chalicelib.observe import logs

    logs.configure()

ROBOTS_TXT = "User-agent: *\nDisallow: /\n"


@cache
def redirect_handler():
    """The redirect's AWS glue, created once per container (clients with short timeouts)."""
    from chalicelib.redirect.handler import RedirectHandler

    return RedirectHandler(
        dynamodb=client("dynamodb", hot=True),
        kinesis=client("kinesis", hot=True),
        sqs=client("sqs", hot=True),
        links_table=NAMES.links_table,
        state_table=NAMES.state_table,
        stream=NAMES.clicks_stream,
        fallback_queue=NAMES.clicks_fallback_queue,
        cache_ttl=link_cache_ttl(),
        held=after_response.HELD if PUBLISH_AFTER_RESPONSE else None,
    )


def _is_api_function() -> bool:
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    return name is None or name == f"rebound-{NAMES.stage}"


PUBLISH_AFTER_RESPONSE = False
if _is_api_function():
    # Build the bot matcher during init (full CPU), not on the first click.
    redirect.warm_up()
    # The stage's REBOUND_PUBLISH_MODE: with after-response the visitor does not wait for the
    # click to be recorded; on Lambda the runtime's thread publishes it right after posting the
    # response (an internal extension where the runtime's client is not known), elsewhere a
    # thread; before the next request (docs/operations.md, "Publishing after the response").
    if after_response.mode() == after_response.AFTER_RESPONSE and after_response.start():
        PUBLISH_AFTER_RESPONSE = True
        app.register_middleware(after_response.middleware, "http")
        # Clicks that went to the fallback queue (or nowhere) after the response: their metric.
        after_response.HELD.on_flush = lambda where: outcomes.published(NAMES.stage, where).emit()
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency":
        # Init runs before any visitor arrives: make the clients and load the user-agent parser
        # now, so that no first click pays for them.
        redirect_handler()
        redirect.warm_up(user_agents=True)


# --- The redirect ----------------------------------------------------------------------------


@app.route("/", methods=["GET", "HEAD"])
def root() -> Response:
    return _redirect("/")


@app.route("/{slug}", methods=["GET", "HEAD"])
def short_link(slug: str) -> Response:
    return _redirect(slug)


def _redirect(path: str) -> Response:
    req = app.current_request
    answer = redirect_handler().handle(
        method=req.method,
        path=path,
        query=req.query_params,
        # The event's own dict (what req.headers wraps): read without the mapping's overhead.
        headers=req.to_original_event().get("headers"),
        source_ip=((req.context or {}).get("identity") or {}).get("sourceIp"),
    )
    # One EMF line per request; in after-response mode printed by the flush, after the answer.
    if PUBLISH_AFTER_RESPONSE:
        after_response.HELD.later(partial(_redirect_metric, answer, time.time()))
    else:
        _redirect_metric(answer)
    headers = {"Content-Type": "text/plain; charset=utf-8", **answer.headers}
    return Response(body=answer.body, status_code=answer.status, headers=headers)


def _redirect_metric(answer, at: float | None = None) -> None:
    outcomes.redirect(NAMES.stage, answer).emit(at)


@app.route("/robots.txt", methods=["GET", "HEAD"])
def robots() -> Response:
    return Response(
        body=ROBOTS_TXT,
        status_code=200,
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Robots-Tag": "noindex"},
    )


# --- Consent: the visitor's own choice, on the short domain -----------------------------------


# Any content type reaches the handler, which answers 415 itself (the form is url-encoded).
@app.route("/_/consent", methods=["GET", "HEAD", "POST"], content_types=["*/*"])
def consent_choice() -> Response:
    """The first-party consent choice: GET shows it, POST (same origin only) records it."""
    from chalicelib.redirect import consent_page

    req = app.current_request
    reply = consent_page.answer(
        method=req.method, query=req.query_params, headers=req.headers, body=req.raw_body
    )
    return Response(body=reply.body, status_code=reply.status, headers=reply.headers)


# --- Health ----------------------------------------------------------------------------------


@app.route("/_/health", methods=["GET"])
def health() -> Response:
    return Response(
        body='{"status":"ok"}',
        status_code=200,
        headers={
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            "X-Robots-Tag": "noindex",
        },
    )


# --- Conversions ------------------------------------------------------------------------------


@cache
def conversion_intake():
    """The postback's AWS glue, created once per container."""
    from chalicelib.conversions.intake import Intake
    from chalicelib.secrets import default_secrets

    return Intake(
        # Short, explicit timeouts: the postback shares the redirect's 10 s function.
        dynamodb=client("dynamodb", hot=True),
        kinesis=client("kinesis", hot=True),
        sqs=client("sqs", hot=True),
        secrets=default_secrets(),
        links_table=NAMES.links_table,
        state_table=NAMES.state_table,
        click_index_table=NAMES.click_index_table,
        stream=NAMES.clicks_stream,
        fallback_queue=NAMES.clicks_fallback_queue,
        cache_ttl=link_cache_ttl(),
    )


# Any content type reaches the handler, which answers 415 in the same JSON shape as its other
# errors (Chalice's own 415 would not list the field).
@app.route("/_/conversions", methods=["POST"], content_types=["*/*"])
def conversions() -> Response:
    """Merchant postback (HMAC-signed): validated, attributed, hashed, queued."""
    req = app.current_request
    reply = conversion_intake().receive(headers=req.headers, body=req.raw_body)
    outcomes.postback(NAMES.stage, reply.status, reply.body).emit()
    return Response(body=reply.body, status_code=reply.status, headers=reply.headers)


# --- Downstream of the click stream ----------------------------------------------------------


@app.on_kinesis_record(
    stream=NAMES.clicks_stream,
    batch_size=500,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=5,
    name="archiver",
)
def archiver(event):
    """Clicks and conversions to the S3 lake; human clicks to the click index."""
    from chalicelib.lake.archive import archive_batch

    response = archive_batch(
        event.to_dict(),
        s3=client("s3"),
        dynamodb=client("dynamodb"),
        bucket=NAMES.lake_bucket_name(),
        click_index_table=NAMES.click_index_table,
    )
    outcomes.archived(NAMES.stage, response).emit()
    return response


@cache
def dispatcher_service():
    from chalicelib.dispatch.dispatcher import ConfigView, Dispatcher
    from chalicelib.dispatch.ledger import Ledger
    from chalicelib.dispatch.sinks import DeadLetters, DryRunRecorder, OutcomeLog
    from chalicelib.secrets import default_secrets

    ddb = client("dynamodb")
    return Dispatcher(
        config=ConfigView(ddb, NAMES.links_table),
        secrets=default_secrets(),
        ledger=Ledger(ddb, NAMES.state_table),
        dead_letters=DeadLetters(client("sqs"), NAMES.platform_dlq),
        recorder=DryRunRecorder(client("s3"), NAMES.lake_bucket_name()),
        outcomes=OutcomeLog(client("s3"), NAMES.lake_bucket_name()),
        dry_run_default=os.environ.get("REBOUND_PLATFORMS_DRY_RUN") == "1",
    )


@app.on_kinesis_record(
    stream=NAMES.clicks_stream,
    batch_size=500,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=1,
    name="dispatcher",
)
def dispatcher(event):
    """Server-side events to the ad platforms: batched, retried, idempotent, consent-aware."""
    # The Lambda context gives the batch its deadline: what cannot be sent in time is released
    # and reported for the retry.
    report = dispatcher_service().dispatch(event.to_dict(), getattr(event, "context", None))
    outcomes.dispatched(NAMES.stage, report).emit()  # one EMF line per destination
    return report.response()


@app.on_sqs_message(queue=NAMES.clicks_fallback_queue, batch_size=10, name="republisher")
def republisher(event):
    """Clicks that Kinesis refused at redirect time, put back on the stream."""
    from chalicelib.clicks.envelope import batch_failures
    from chalicelib.clicks.stream import republish

    bodies = [(r.to_dict()["messageId"], r.body) for r in event]
    return batch_failures(republish(client("kinesis"), NAMES.clicks_stream, bodies))


# --- Housekeeping ------------------------------------------------------------------------------


@app.schedule(Rate(1, unit=Rate.HOURS), name="salt-shredder")
def salt_shredder(event):
    """Destroy past days' visitor-hash salts now: DynamoDB's TTL sweep can lag by days."""
    from datetime import UTC, datetime

    from chalicelib.clicks.salt import destroy_before

    return {"destroyed": destroy_before(client("dynamodb"), NAMES.state_table, datetime.now(UTC))}


@app.schedule(Rate(1, unit=Rate.HOURS), name="rollup")
def rollup(event):
    """Compact the recent hours to Parquet and roll them up into the stats table (idempotent)."""
    from chalicelib.rollup.run import scheduled

    # The Lambda context tells the run how long it has left: it stops starting hours in time.
    return scheduled(NAMES, context=getattr(event, "context", None))
