"""End to end: `rebound local` as a subprocess, driven with the `rebound --local` command line."""

from __future__ import annotations

import json
import textwrap
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

MY_LINKS = textwrap.dedent(
    """\
    version: 1
    domains:
      - name: go.localhost
        root_url: https://shop.example/
        not_found_url: https://shop.example/missing
    links:
      - domain: go.localhost
        slug: e2e-new
        url: https://shop.example/e2e
        campaign: e2e
    """
)


def test_health_answers(stack):
    with urllib.request.urlopen(stack.url("/_/health"), timeout=5) as r:
        assert r.status == 200
        assert json.loads(r.read()) == {"status": "ok"}


def test_example_links_were_applied_at_start(stack):
    result = stack.rebound("export")
    assert result.returncode == 0, result.stderr
    assert "slug: spring-sale" in result.stdout
    assert "name: go.localhost" in result.stdout


def test_plan_apply_export_round_trip_against_the_running_stack(stack, tmp_path):
    mine = tmp_path / "my-links.yaml"
    mine.write_text(MY_LINKS)

    plan = stack.rebound("plan", str(mine))
    assert plan.returncode == 0, plan.stderr
    assert "+ link go.localhost/e2e-new" in plan.stdout

    apply = stack.rebound("apply", str(mine), "--yes")
    assert apply.returncode == 0, apply.stderr
    assert "1 created" in apply.stdout

    again = stack.rebound("apply", str(mine), "--yes")
    assert again.returncode == 0
    assert "No changes" in again.stdout

    exported = tmp_path / "live.yaml"
    assert stack.rebound("export", "-o", str(exported)).returncode == 0
    assert "slug: e2e-new" in exported.read_text()
    replan = stack.rebound("plan", str(exported), "--prune")
    assert replan.returncode == 0, replan.stderr
    assert "No changes" in replan.stdout


def test_a_bad_file_is_refused_with_its_position_and_nothing_is_written(stack, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MY_LINKS.replace("slug: e2e-new", "slug: e2e-bad\n    colour: red"))
    result = stack.rebound("apply", str(bad), "--yes")
    assert result.returncode == 1
    assert f"{bad}:9:5 links[0].colour" in result.stderr
    assert "e2e-bad" not in stack.rebound("export").stdout


def test_local_flag_without_a_stack_is_a_clear_user_error(stack, tmp_path):
    import subprocess

    from tests.e2e.conftest import PROJECT, REBOUND, free_port

    env = {**stack.env, "REBOUND_AWS_PORT": str(free_port())}
    result = subprocess.run(
        [*REBOUND, "--local", "export"], env=env, capture_output=True, text=True, cwd=PROJECT
    )
    assert result.returncode == 1
    assert "no local stack is listening" in result.stderr


CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
BOTS = [
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0",
    "curl/8.5.0",
]


def visit(stack, slug: str, ua: str, **headers: str) -> tuple[int, str | None]:
    """One request to the branded domain, the way a browser sends it (Host: go.localhost):
    its status and Location."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=10)
    conn.request(
        "GET",
        f"/{slug}",
        headers={"Host": f"go.localhost:{stack.api_port}", "User-Agent": ua, **headers},
    )
    response = conn.getresponse()
    status, location = response.status, response.getheader("Location")
    conn.close()
    return status, location


def click(stack, slug: str, ua: str, **headers: str) -> int:
    return visit(stack, slug, ua, **headers)[0]


def test_clicks_reach_the_lake_and_rebound_query_counts_them(stack):
    import time

    humans, bots = 7, len(BOTS)
    for _ in range(humans):
        assert click(stack, "pricing", CHROME) == 302
    for ua in BOTS:
        assert click(stack, "pricing", ua) == 302

    deadline = time.monotonic() + 30
    while True:
        result = stack.rebound(
            "query",
            "select count(*) as clicks, count_if(is_bot) as bots from clicks_raw where slug = 'pricing'",
            "--format",
            "json",
        )
        assert result.returncode == 0, result.stderr
        (row,) = json.loads(result.stdout)
        if row["clicks"] >= humans + bots or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert row == {"clicks": humans + bots, "bots": bots}

    saved = stack.rebound("query", "--saved", "human_vs_bot", "--format", "json")
    assert saved.returncode == 0, saved.stderr
    pricing = next(r for r in json.loads(saved.stdout) if r["slug"] == "pricing")
    assert (pricing["human_clicks"], pricing["bot_clicks"]) == (humans, bots)


def test_no_full_ip_email_or_phone_in_the_lake_or_the_click_index(stack):
    import gzip
    import re
    import time
    from urllib.parse import parse_qs, urlsplit

    import boto3

    status, location = visit(stack, "spring-sale", CHROME, **{"X-Forwarded-For": "198.51.100.23"})
    assert status == 302
    (click_id,) = parse_qs(urlsplit(location or "").query)["rb_cid"]  # this test's own click
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    endpoint = f"http://127.0.0.1:{stack.aws_port}"
    s3 = session.client("s3", endpoint_url=endpoint)
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if "-lake-" in b["Name"]]

    def lake_and_index() -> tuple[list[str], list[str]]:
        lake = []
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            lake.append(
                gzip.decompress(body).decode() if obj["Key"].endswith(".gz") else body.decode()
            )
        index = [json.dumps(i) for i in ddb.scan(TableName="rebound-local-click-index")["Items"]]
        return lake, index

    deadline = time.monotonic() + 60  # a hang guard, not a measure
    while True:
        lake, index = lake_and_index()
        archived = any(click_id in t for t in lake) and any(click_id in t for t in index)
        if archived or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert archived, f"click {click_id} is not in both the lake and the click index"
    everything = "\n".join(lake + index)
    full_ipv4 = re.findall(r"\b(?:\d{1,3}\.){3}\d{1,3}\b(?!/)", everything)
    assert [ip for ip in full_ipv4 if not ip.endswith(".0")] == []
    assert "127.0.0.1" not in everything
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", everything)
    assert not re.search(r"\+\d{8,15}\b", everything)


def test_a_human_click_in_an_audience_is_recorded_as_dry_run_platform_requests(stack):
    import time

    # From outside the domain's require_in, as CloudFront would say (the local stack says nothing,
    # and an unknown country counts as inside).
    outside = {"Accept-Language": "en-US", "CloudFront-Viewer-Country": "US"}
    assert click(stack, "pricing", CHROME, **outside) == 302
    deadline = time.monotonic() + 30
    while True:
        result = stack.rebound("platform-requests", "--json", "--last", "50")
        assert result.returncode == 0, result.stderr
        found = json.loads(result.stdout)
        platforms = {r["platform"] for r in found}
        if {"meta", "tiktok"} <= platforms or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {"meta", "tiktok"} <= platforms
    meta = next(r for r in found if r["platform"] == "meta")
    assert meta["url"].startswith("https://graph.facebook.com/v26.0/1234567890/events")
    assert "local-" not in json.dumps(found)  # the seeded credential values never appear
    assert meta["body"]["data"][0]["event_name"] == "PageView"
    table = stack.rebound("platform-requests", "--platform", "tiktok")
    assert table.returncode == 0 and "tiktok" in table.stdout


REMARKETING = """\
version: 1
domains:
  - name: mail.localhost
    root_url: https://shop.example/
    conversion_secret: ssm:/rebound/local/mail.localhost/conversion-secret
platforms:
  klaviyo: {{api_key: ssm:/rebound/local/klaviyo-key, endpoint: "{klaviyo}"}}
  brevo: {{api_key: ssm:/rebound/local/brevo-key}}
audiences:
  - id: e2e-leads
    match: {{links: [mail.localhost/e2e-lead]}}
    send_to: [klaviyo, brevo]
links:
  - domain: mail.localhost
    slug: e2e-lead
    url: https://shop.example/guide
    campaign: e2e-mail
    track_conversions: true
"""


def test_a_signed_lead_reaches_the_email_tool_once_and_its_email_is_kept_nowhere(stack, tmp_path):
    """A click, then a signed lead with an email: one request at the (fake) email tool with the
    normalised email and Rebound's event id as its idempotency key; the same postback again: no
    second request; the lake, the click index and the dry-run records hold no plain email."""
    import http.client
    import time
    from urllib.parse import parse_qs, urlsplit

    import boto3

    from tests.platforms.conftest import FakePlatform

    klaviyo = FakePlatform().start()
    klaviyo.default = (202, b"")
    try:
        links = tmp_path / "remarketing.yaml"
        links.write_text(REMARKETING.format(klaviyo=klaviyo.url), encoding="utf-8")
        applied = stack.rebound("apply", str(links), "--yes")
        assert applied.returncode == 0, applied.stderr + applied.stdout

        def request(method: str, path: str, body: bytes | None = None, **headers: str):
            conn = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=10)
            conn.request(method, path, body=body, headers={"Host": "mail.localhost", **headers})
            response = conn.getresponse()
            answer = (response.status, response.getheader("Location"), response.read())
            conn.close()
            return answer

        status, location, _ = request(
            "GET", "/e2e-lead", **{"User-Agent": CHROME, "CloudFront-Viewer-Country": "US"}
        )
        assert status == 302
        (click_id,) = parse_qs(urlsplit(location or "").query)["rb_cid"]

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        endpoint = f"http://127.0.0.1:{stack.aws_port}"
        ddb = session.client("dynamodb", endpoint_url=endpoint)
        deadline = time.monotonic() + 60  # a hang guard: the archiver indexes the click
        while not ddb.get_item(
            TableName="rebound-local-click-index", Key={"click_id": {"S": click_id}}
        ).get("Item"):
            assert time.monotonic() < deadline, "the click never reached the click index"
            time.sleep(0.3)

        body = json.dumps(
            {
                "click_id": click_id,
                "event": "lead",
                "event_id": "lead-e2e-1",
                "user": {"email": "  Jane.Doe@Example.COM "},
            }
        ).encode()
        signed = stack.rebound("sign", "--domain", "mail.localhost", "-", input=body.decode())
        assert signed.returncode == 0, signed.stderr
        headers = {"Content-Type": "application/json", "Rebound-Signature": signed.stdout.strip()}
        status, _, answer = request("POST", "/_/conversions", body, **headers)
        assert status == 202, answer
        assert json.loads(answer)["attributed"] is True

        deadline = time.monotonic() + 60
        while not klaviyo.received:
            assert time.monotonic() < deadline, "the lead never reached the email tool"
            time.sleep(0.3)
        (sent,) = klaviyo.received
        event = sent.json["data"]["attributes"]
        assert event["profile"]["data"]["attributes"]["email"] == "jane.doe@example.com"
        assert event["unique_id"] == "lead-e2e-1"
        assert event["properties"]["campaign"] == "e2e-mail"

        # The same postback again (a merchant's retry): accepted as a duplicate, never resent.
        status, _, answer = request("POST", "/_/conversions", body, **headers)
        assert status == 202 and json.loads(answer)["duplicate"] is True

        # The dry-run tool (brevo: no endpoint, so the local stack records it) shows it masked.
        deadline = time.monotonic() + 60
        while True:
            found = stack.rebound("platform-requests", "--json", "--platform", "brevo")
            assert found.returncode == 0, found.stderr
            records = json.loads(found.stdout)
            if any("lead-e2e-1" in json.dumps(r) for r in records):
                break
            assert time.monotonic() < deadline, "no dry-run record of the lead for brevo"
            time.sleep(0.3)
        assert "j***@example.com" in json.dumps(records)

        s3 = session.client("s3", endpoint_url=endpoint)
        buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        deadline = time.monotonic() + 60
        while True:  # until the lake has the conversion (so the scan looks at it)
            kept = [
                gzip_or_text(obj["Key"], s3.get_object(Bucket=b, Key=obj["Key"])["Body"].read())
                for b in buckets
                for obj in s3.list_objects_v2(Bucket=b).get("Contents", [])
            ]
            if any("lead-e2e-1" in t and '"conversion_id"' in t for t in kept):
                break
            assert time.monotonic() < deadline, "the conversion never reached the lake"
            time.sleep(0.5)
        kept += [json.dumps(i) for i in ddb.scan(TableName="rebound-local-click-index")["Items"]]
        everything = "\n".join(kept).lower()
        assert "jane.doe" not in everything
        assert len(klaviyo.received) == 1
    finally:
        klaviyo.stop()


def gzip_or_text(key: str, raw: bytes) -> str:
    import gzip

    return gzip.decompress(raw).decode() if key.endswith(".gz") else raw.decode()
