"""Rebound's entry points: every route and event source, and nothing else (logic is in chalicelib/)."""

from chalice import Chalice, Response

app = Chalice(app_name="rebound")


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
