"""Rebound's entry points: every route and event source, and nothing else (logic is in chalicelib/)."""

from chalice import Chalice, Response

from chalicelib import resources

app = Chalice(app_name="rebound")
NAMES = resources.Names.from_env()


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

    return archive_batch(
        event.to_dict(),
        s3=resources.client("s3"),
        dynamodb=resources.client("dynamodb"),
        bucket=NAMES.lake_bucket_name(),
        click_index_table=NAMES.click_index_table,
    )


@app.on_sqs_message(queue=NAMES.clicks_fallback_queue, batch_size=10, name="republisher")
def republisher(event):
    """Clicks that Kinesis refused at redirect time, put back on the stream."""
    from chalicelib.clicks.stream import republish

    bodies = [(r.to_dict()["messageId"], r.body) for r in event]
    failed = republish(resources.client("kinesis"), NAMES.clicks_stream, bodies)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}
