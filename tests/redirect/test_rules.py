"""Each rule condition, on its own and combined: first match wins, all conditions must hold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.redirect.decision import choose_url
from chalicelib.redirect.rules import first_matching_rule, parse_instant, rule_matches
from tests.redirect.factories import (
    CHROME,
    CHROME_ANDROID,
    CHROME_ANDROID_TABLET,
    NOW,
    SAFARI_IPAD,
    SAFARI_IPHONE,
    facts,
    visitor,
)


def matches(when, now=NOW, **request):
    request_facts = facts(**request)
    return rule_matches(when, request_facts, visitor(request_facts), now)


@pytest.mark.parametrize(
    ("ua", "device", "expected"),
    [
        (SAFARI_IPHONE, ["ios"], True),
        (SAFARI_IPHONE, ["mobile"], True),
        (SAFARI_IPHONE, ["android", "desktop"], False),
        (SAFARI_IPAD, ["ios"], True),
        (SAFARI_IPAD, ["tablet"], True),
        (SAFARI_IPAD, ["mobile"], False),
        (CHROME_ANDROID, ["android"], True),
        (CHROME_ANDROID, ["mobile"], True),
        (CHROME_ANDROID_TABLET, ["tablet"], True),
        (CHROME, ["desktop"], True),
        (CHROME, ["mobile", "tablet"], False),
    ],
)
def test_device_condition(ua, device, expected):
    assert matches({"device": device}, ua=ua) is expected


def test_device_condition_follows_cloudfront_headers():
    assert matches({"device": ["android"]}, ua=SAFARI_IPHONE, cloudfront_is_android_viewer="true")


def test_os_condition_compares_families_case_insensitively():
    assert matches({"os": ["ios"]}, ua=SAFARI_IPHONE)
    assert matches({"os": ["Windows", "Mac OS X"]}, ua=CHROME)
    assert not matches({"os": ["Android"]}, ua=CHROME)
    assert not matches({"os": ["Windows"]}, ua="")


def test_browser_condition_compares_families_case_insensitively():
    assert matches({"browser": ["chrome"]}, ua=CHROME)
    assert matches({"browser": ["Mobile Safari"]}, ua=SAFARI_IPHONE)
    assert not matches({"browser": ["Chrome"]}, ua=CHROME_ANDROID)  # that is "Chrome Mobile"


def test_country_condition():
    assert matches({"country": ["DE", "AT"]}, cloudfront_viewer_country="at")
    assert not matches({"country": ["DE"]}, cloudfront_viewer_country="CH")
    assert not matches({"country": ["DE"]})  # unknown country matches no list


@pytest.mark.parametrize(
    ("accept_language", "wanted", "expected"),
    [
        ("de-AT,en;q=0.8", ["de"], True),  # "de" matches de-AT
        ("de-AT", ["de-AT"], True),
        ("de-at", ["de-AT"], True),
        ("de", ["de-AT"], False),  # "de-AT" matches only de-AT
        ("de-CH", ["de-AT"], False),
        ("en;q=0.9,de", ["de"], True),  # most preferred by q
        ("en,de;q=0.9", ["de"], False),  # only the most preferred language counts
        ("dex", ["de"], False),
        ("de;q=0,en", ["de"], False),
        ("", ["de"], False),
    ],
)
def test_language_condition_uses_the_most_preferred_language(accept_language, wanted, expected):
    assert matches({"language": wanted}, accept_language=accept_language) is expected


@pytest.mark.parametrize(
    ("query", "condition", "expected"),
    [
        ("src=ig", {"src": "ig"}, True),
        ("src=fb", {"src": "ig"}, False),
        ("src=fb&src=ig", {"src": "ig"}, True),
        ("src=IG", {"src": "ig"}, False),
        ("src=", {"src": True}, True),
        ("src=x", {"src": True}, True),
        ("other=1", {"src": True}, False),
        ("other=1", {"src": False}, True),
        ("src=1", {"src": False}, False),
        ("a=1&b=2", {"a": "1", "b": True}, True),
        ("a=1", {"a": "1", "b": True}, False),
        ("n=5", {"n": 5}, True),
    ],
)
def test_query_condition_equals_present_absent(query, condition, expected):
    assert matches({"query": condition}, query=query) is expected


def test_before_and_after_conditions():
    instant = "2026-11-15T12:00:00Z"
    assert matches({"before": instant}, now=NOW - timedelta(seconds=1))
    assert not matches({"before": instant}, now=parse_instant(instant))
    assert matches({"after": instant}, now=parse_instant(instant))
    assert not matches({"after": instant}, now=NOW - timedelta(seconds=1))
    window = {"after": "2026-11-01T00:00:00Z", "before": "2026-12-01T00:00:00Z"}
    assert matches(window, now=NOW)
    assert not matches({"after": "not a time"})


def test_all_conditions_of_a_rule_must_hold():
    when = {"country": ["DE"], "language": ["de"], "device": ["mobile"]}
    assert matches(when, ua=SAFARI_IPHONE, cloudfront_viewer_country="DE", accept_language="de")
    assert not matches(when, ua=CHROME, cloudfront_viewer_country="DE", accept_language="de")
    assert not matches(when, ua=SAFARI_IPHONE, cloudfront_viewer_country="FR", accept_language="de")


def test_absent_conditions_do_not_constrain_and_unknown_ones_never_match():
    assert matches({})
    assert matches({"device": None, "country": [], "query": {}})
    assert not matches({"weather": ["sunny"]})


def test_first_matching_rule_wins():
    rules = [
        {"when": {"country": ["FR"]}, "url": "https://a.example/"},
        {"when": {"device": ["ios"]}, "url": "https://b.example/"},
        {"when": {"device": ["mobile"]}, "url": "https://c.example/"},
    ]
    request = facts(ua=SAFARI_IPHONE)
    assert first_matching_rule(rules, request, visitor(request), NOW) == 1
    request = facts(ua=CHROME)
    assert first_matching_rule(rules, request, visitor(request), NOW) is None


def test_choose_url_prefers_rules_then_split_then_the_link_url():
    spec = {
        "domain": "go.example",
        "slug": "s",
        "url": "https://default.example/",
        "rules": [{"when": {"device": ["ios"]}, "url": "https://ios.example/"}],
        "split": [{"url": "https://a.example/", "weight": 1}],
    }
    iphone, desktop = facts(ua=SAFARI_IPHONE), facts(ua=CHROME)
    assert choose_url(spec, iphone, visitor(iphone), NOW) == ("https://ios.example/", "rule:0")
    assert choose_url(spec, desktop, visitor(desktop), NOW) == ("https://a.example/", "split:0")
    spec["split"] = None
    assert choose_url(spec, desktop, visitor(desktop), NOW) == (
        "https://default.example/",
        "default",
    )
