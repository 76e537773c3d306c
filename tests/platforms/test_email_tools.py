"""What holds for every email tool (registry.EMAIL_TOOLS): the same small shape, conversions
without an email are not theirs, dry-run records and ``repr`` show neither the email nor the key,
the tool's error texts reach a reason with addresses masked, and each tool's pace keeps within
its documented per-account limit (on a fake clock: the mechanism, not the wall clock).

Each tool's module author adds its entry to ``SETTINGS`` (and ``LIMITS`` for a rate limit)."""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta

import pytest

from chalicelib.dispatch.sinks import DryRunRecorder
from chalicelib.platforms import registry
from chalicelib.platforms.email_tool import EmailTool, event_name, properties

from .conftest import NOW, page_view
from .email_fakes import EMAIL, KEY, MASKED, FakeS3, busiest_window, deliver, lead, purchase, steps

# A working config entry for each tool (secrets aside: every secret field gets KEY).
SETTINGS: dict[str, dict] = {
    "klaviyo": {"revision": "2026-10-15"},
    "omnisend": {},
    "brevo": {},
    "kit": {"tags": {"lead": 4100001, "purchase": 4100002}},
    "activecampaign": {"account": "acme", "tags": {"lead": 7, "purchase": 8}},
    "mailchimp": {"list_id": "a1b2c3d4e5"},
    "hubspot": {"event_names": {"lead": "pe1234567_rebound_lead", "purchase": "pe1234567_buy"}},
}
# Secrets a tool reads more from than a key (Mailchimp's data centre is the key's suffix).
SECRETS: dict[str, dict[str, str]] = {"mailchimp": {"api_key": f"{KEY}-us6"}}
# Another account than the one above: (settings, secrets) over the defaults (ActiveCampaign's
# limit is the account's, whatever the key).
OTHER_ACCOUNTS: dict[str, tuple[dict, dict]] = {
    "activecampaign": ({"account": "other"}, {}),
    "mailchimp": ({}, {"api_key": "other-us9"}),
}

# Tools whose module author has yet to add the SETTINGS entry (remove the name when adding it).
PENDING: set[str] = set()

# Each tool's documented per-account limits: (requests, in seconds).
LIMITS: dict[str, list[tuple[int, float]]] = {
    "klaviyo": [(350, 1.0), (3500, 60.0)],  # burst, steady (Create Event)
    "omnisend": [(400, 60.0)],  # per brand, sliding window
    "brevo": [(10, 1.0)],  # POST /v3/events, and /v3/contacts
    "kit": [(120, 60.0)],  # per API key
    "activecampaign": [(5, 1.0)],  # per account, all keys
    "hubspot": [(100, 10.0)],  # per app and account (Free/Starter; 190 higher up)
}


def available() -> list[str]:
    """The email tools whose module exists (another engineer's may still be on its way)."""
    return [n for n in registry.EMAIL_TOOLS if importlib.util.find_spec(registry.EMAIL_MODULES[n])]


def secrets_for(tool: EmailTool) -> dict[str, str]:
    return SECRETS.get(tool.NAME) or dict.fromkeys(tool.SECRET_FIELDS, KEY)


def other_account(tool: EmailTool) -> tuple[dict, dict]:
    settings, secrets = OTHER_ACCOUNTS.get(tool.NAME, ({}, {}))
    others = dict.fromkeys(tool.SECRET_FIELDS, "other")
    return {**SETTINGS[tool.NAME], **settings}, {**others, **secrets}


def build(tool: EmailTool, events):
    return tool.build_requests(events, SETTINGS[tool.NAME], secrets_for(tool), NOW)


@pytest.fixture(params=sorted(SETTINGS))
def tool(request) -> EmailTool:
    found = registry.platform(request.param)
    assert isinstance(found, EmailTool)
    return found


def test_every_email_tool_with_a_module_has_an_entry_here():
    assert set(available()) - PENDING <= set(SETTINGS), "add the tool's SETTINGS entry"
    assert set(SETTINGS) <= set(registry.EMAIL_TOOLS) and not PENDING & set(SETTINGS)


def test_every_email_tool_has_the_same_small_shape(tool):
    assert tool.NAME in registry.EMAIL_TOOLS and registry.is_own_system(tool.NAME)
    assert tool.MAX_BATCH == 1 and isinstance(tool.MAX_AGE, timedelta)
    assert isinstance(tool.SECRET_FIELDS, tuple) and tool.SECRET_FIELDS
    assert build(tool, []) == ([], [])
    [request], rejected = build(tool, [lead()])
    assert rejected == [] and request.event_ids == ("lead-42",)
    assert all(step.event_ids == ("lead-42",) for step in steps(request))


def test_a_conversion_without_an_email_is_not_applicable(tool):
    requests, rejected = build(tool, [lead(contact={})])
    assert requests == []
    assert [(r.event_id, r.not_applicable) for r in rejected] == [("lead-42", True)]


def test_a_click_without_the_tools_subscriber_id_is_not_applicable(tool):
    requests, rejected = build(tool, [page_view(click_ids={"fbclid": "IwAR-x"})])
    assert requests == [] and [r.not_applicable for r in rejected] == [True]


def test_a_missing_key_refuses_everything_by_name_only(tool):
    requests, rejected = tool.build_requests([lead()], SETTINGS[tool.NAME], {}, NOW)
    assert requests == []
    assert [r.reason for r in rejected] == [
        f"{tool.NAME} is not configured: missing "
        + ", ".join(f"{f} (secret)" for f in tool.SECRET_FIELDS)
    ]


def test_a_dry_run_record_of_every_step_shows_the_email_masked_and_no_key(tool):
    [request], _ = build(tool, [purchase()])
    s3 = FakeS3()
    recorder = DryRunRecorder(s3, "lake")
    for index, step in enumerate(steps(request)):
        recorder.record(tool.NAME, step, NOW, index)
    assert s3.objects
    texts = [raw.decode() for _, raw in sorted(s3.objects.items())]
    for text in texts:
        assert EMAIL not in text and KEY not in text
        assert json.loads(text)["event_ids"] == ["order-1001"]
    assert MASKED in texts[0]  # later steps may name the contact by an id instead


def test_repr_and_str_of_a_request_show_neither_the_key_nor_the_email(tool):
    [request], _ = build(tool, [purchase()])
    for step in steps(request):
        for shown in (repr(step), str(step)):
            assert KEY not in shown and EMAIL not in shown and "jane" not in shown


def test_a_refusal_that_quotes_the_email_is_recorded_with_it_masked(tool):
    answers = [
        {"errors": [{"code": "invalid", "detail": f"{EMAIL} is not a valid email"}]},
        {"title": "Validation failed", "errors": [{"field": "email", "message": EMAIL}]},
        {"code": "invalid_parameter", "message": f"email {EMAIL} is invalid"},
        {"errors": [f"Email address {EMAIL} is invalid"]},
        f"bad email {EMAIL}",
    ]
    for answer in answers:
        body = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
        outcome = tool.classify(400, body)
        assert outcome.kind == "permanent"
        assert EMAIL not in outcome.reason and MASKED in outcome.reason


def test_a_success_is_recorded_as_its_status_without_the_body_the_tool_answered(tool):
    body = json.dumps({"subscriber": {"id": 1, "email_address": EMAIL}, "message": EMAIL})
    for status in (200, 201, 202, 204):
        outcome = tool.classify(status, body.encode())
        assert (outcome.kind, outcome.reason) == ("ok", f"HTTP {status}")


def test_the_event_names_and_properties_every_tool_is_told():
    assert [event_name(k) for k in ("lead", "purchase", "page_view", "Trial Started")] == [
        "Rebound Lead",
        "Rebound Purchase",
        "Rebound Clicked Link",
        "Rebound Trial Started",
    ]
    assert properties(purchase(value=49.5, currency="EUR")) == {
        "rebound_event_id": "order-1001",
        "link": "go.brand.com/spring-sale",
        "campaign": "spring",
        "tags": "promo, eu",
        "destination": "https://shop.example/spring?utm_source=newsletter",
        "click_time": "2026-11-20T09:30:15.123000+00:00",
        "value": 49.5,
        "currency": "EUR",
        "audiences": "spring-leads",
        "ad_consent": "denied",
        "short_url": "https://go.brand.com/spring-sale",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "spring-24",
    }


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_each_tools_pace_keeps_within_its_documented_limit(name):
    tool = registry.platform(name)
    assert isinstance(tool, EmailTool) and tool.PACE is not None
    rate, per, _ = tool.PACE
    for limit, window in LIMITS[name]:
        sent = max(3 * limit, 400)
        assert busiest_window(rate, per, window, sent) <= limit, (limit, window)
    # ...and does not starve: at least half the documented rate over the longest window.
    limit, window = max(LIMITS[name], key=lambda lw: lw[1])
    assert busiest_window(rate, per, window, 3 * limit) >= limit / 2


def test_every_request_carries_its_accounts_pace(tool):
    [request], _ = build(tool, [purchase()])
    rate, per, _ = tool.PACE or (None, None, None)
    for step in steps(request):
        assert step.pace is not None
        assert (step.pace.rate, step.pace.per) == (rate, per)
    [again], _ = build(tool, [purchase(event_id="order-1002")])
    assert [s.pace for s in steps(again)] == [s.pace for s in steps(request)]  # one per account
    other = tool.build_requests([purchase()], *other_account(tool), NOW)
    assert all(
        s.pace is not r.pace for s, r in zip(steps(other[0][0]), steps(request), strict=True)
    )


# Each tool's documented success, as one answer every step of its chain can read.
SUCCESS: dict[str, tuple[int, bytes]] = {
    "klaviyo": (202, b""),
    "omnisend": (202, b""),
    "brevo": (201, b'{"id": 42}'),
    "kit": (201, b'{"subscriber": {"id": 1103}}'),
    "activecampaign": (201, b'{"contact": {"id": "113"}, "contactTag": {"id": "1"}}'),
    "mailchimp": (200, b'{"id": "0f2d", "status": "pending"}'),
    "hubspot": (200, b'{"status": "COMPLETE", "results": [{"id": "512"}]}'),
}


@pytest.mark.parametrize("retry_after", ["7", None], ids=["with-retry-after", "without"])
def test_a_429_is_retried_after_the_wait_asked_for_or_a_backoff_then_the_lead_goes(
    tool, platform, retry_after
):
    platform.default = SUCCESS[tool.NAME]
    platform.answer(429, b"Too Many Requests", {"Retry-After": retry_after} if retry_after else {})
    settings = {**SETTINGS[tool.NAME], "endpoint": platform.url}
    (request,), rejected = tool.build_requests([lead()], settings, secrets_for(tool), NOW)
    assert rejected == []
    sleeps: list[float] = []
    outcome, attempts = deliver(request, tool, sleeps)
    assert outcome.ok, outcome.reason
    first, again = platform.received[:2]
    assert (first.method, first.path) == (again.method, again.path)  # the same step, once more
    assert first.raw == again.raw
    assert attempts == len(platform.received)  # then each later step once
    if retry_after:
        assert sleeps[0] >= 7.0  # the tool's wait, not a shorter backoff
    else:
        assert 0 <= sleeps[0] <= 0.2  # the first backoff (full jitter, base 0.2 s)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_retried_then_left_for_later_not_dead_lettered(tool, platform, status):
    platform.default = (status, b'{"message": "upstream trouble"}')
    settings = {**SETTINGS[tool.NAME], "endpoint": platform.url}
    (request,), _ = tool.build_requests([lead()], settings, secrets_for(tool), NOW)
    outcome, attempts = deliver(request, tool, attempts=3)
    assert outcome.kind == "retry" and attempts == 3
