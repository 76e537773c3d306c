"""Adding a platform is one module: the frame does the rest. ``example.py`` beside this test is
a made-up platform written as a new one would be; registered, it is reached by name and gets
what every platform gets (configuration check, screening, batching, credentials in headers and
never in bodies or shown, the shared reading of answers) without a line of its own for any of it.

What adding a real platform touches, and nothing else:

- ``chalicelib/platforms/<name>.py``: the ``Platform`` subclass and ``PLATFORM`` (like example.py);
- ``chalicelib/platforms/registry.py``: its line in ``MODULES``;
- ``tests/platforms/test_<name>.py``: its own tests, and its row in the ``SETTINGS`` and
  ``OWN_CLICK_ID`` tables of ``test_registry.py`` and ``SETTINGS`` of
  ``tests/dispatch/test_sinks.py`` (the tests every platform must pass run on each registered one);
- the config model: its settings class and field in ``chalicelib/config/model.py`` and its name
  in ``chalicelib/config/values.py`` (``test_registry.py`` holds the two lists to the registry);
- only if the platform has them: its click id in ``chalicelib/click_ids.py`` (the redirect
  forwards and records it), its browser pixel as a row of ``chalicelib/links/pixels.py``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from chalicelib.platforms import registry

from .conftest import NOW, make_event, page_view

SETTINGS = {"account_id": "acc/1"}
SECRETS = {"api_key": "EXAMPLE-KEY-never-shown"}
EMAIL = hashlib.sha256(b"a@b.co").hexdigest()


@pytest.fixture
def example(monkeypatch):
    monkeypatch.setitem(registry.MODULES, "example", "tests.platforms.example")
    return registry.platform("example")


def test_a_registered_module_is_reached_by_name(example):
    assert example.NAME == "example" and type(example).__name__ == "Example"


def test_the_frame_builds_its_exact_requests(example):
    events = [make_event(event_id=f"o-{i}", user={"em": EMAIL}) for i in range(3)]
    requests, rejected = example.build_requests(events, SETTINGS, SECRETS, NOW)
    assert rejected == []
    assert [r.event_ids for r in requests] == [("o-0", "o-1"), ("o-2",)]  # MAX_BATCH = 2
    first = requests[0]
    assert first.method == "POST"
    assert first.url == "https://ads.example/v1/accounts/acc%2F1/events"
    assert first.headers == {
        "Content-Type": "application/json",
        "Authorization": "Bearer EXAMPLE-KEY-never-shown",
    }
    time = int((NOW - timedelta(hours=1)).timestamp())
    assert first.data() == (
        b'{"data":[{"id":"o-0","name":"purchase","time":%d,"email":"%s","currency":"EUR",'
        b'"value":49.0},{"id":"o-1","name":"purchase","time":%d,"email":"%s",'
        b'"currency":"EUR","value":49.0}]}' % (time, EMAIL.encode(), time, EMAIL.encode())
    )
    assert SECRETS["api_key"] not in repr(first) and SECRETS["api_key"] not in str(first)


def test_the_frame_refuses_what_the_platform_cannot_take(example):
    events = [
        make_event(event_id="old", user={"em": EMAIL}, event_time=NOW - timedelta(days=2)),
        make_event(event_id="ahead", user={"em": EMAIL}, event_time=NOW + timedelta(minutes=5)),
        page_view(event_id="anonymous"),
        page_view(event_id="clicked", click_ids={"exclid": "X-1"}),
    ]
    requests, rejected = example.build_requests(events, SETTINGS, SECRETS, NOW)
    assert [(r.event_id, r.reason) for r in rejected] == [
        ("old", "event_time is older than 24 hours"),
        ("ahead", "event_time is in the future"),
        ("anonymous", "needs a hashed e-mail or exclid"),
    ]
    assert [r.event_ids for r in requests] == [("clicked",)]
    assert json.loads(requests[0].data())["data"][0]["exclid"] == "X-1"


def test_missing_settings_and_secrets_refuse_everything_by_name(example):
    requests, rejected = example.build_requests([make_event()], {}, {}, NOW)
    assert requests == []
    assert [r.reason for r in rejected] == [
        "example is not configured: missing account_id, api_key (secret)"
    ]


def test_answers_are_read_by_the_shared_rule(example):
    assert example.classify(200, b"{}").kind == "ok"
    assert example.classify(429, b"").kind == "retry"
    outcome = example.classify(400, b'{"error": {"message": "unknown account"}}')
    assert (outcome.kind, outcome.reason) == ("permanent", "HTTP 400: unknown account")


def test_an_endpoint_override_reaches_it_too(example):
    settings = {**SETTINGS, "endpoint": "http://127.0.0.1:9/sink/"}
    requests, _ = example.build_requests([make_event(user={"em": EMAIL})], settings, SECRETS, NOW)
    assert requests[0].url == "http://127.0.0.1:9/sink/v1/accounts/acc%2F1/events"
