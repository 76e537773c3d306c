"""Country, languages and referrer; the assembled visitor."""

from __future__ import annotations

import pytest

from chalicelib.redirect.visitor import parse_accept_language, parse_country, referrer_host
from tests.redirect.factories import SAFARI_IPHONE, facts, visitor


@pytest.mark.parametrize(
    ("value", "country"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        (" at ", "AT"),
        ("DEU", None),
        ("1A", None),
        ("", None),
        (None, None),
    ],
)
def test_country_comes_from_cloudfront_as_two_upper_case_letters(value, country):
    assert parse_country(value) == country


@pytest.mark.parametrize(
    ("header", "languages"),
    [
        ("de-AT,de;q=0.9,en;q=0.5", ("de-AT", "de", "en")),
        ("en;q=0.5, fr;q=0.8, de", ("de", "fr", "en")),
        ("en-us, EN-GB;q=0.9", ("en-US", "en-GB")),
        ("fr;q=0, de;q=0.1", ("de",)),  # q=0: not acceptable
        ("*;q=0.5, it", ("it",)),
        ("zh-Hant-TW, zh;q=0.8", ("zh-Hant-TW", "zh")),
        ("de;q=abc, en", ("en",)),
        ("de;q=1.5", ("de",)),
        ("", ()),
        (",,;;,", ()),
        ("\x00\r\n", ()),
    ],
)
def test_accept_language_is_ranked_by_q_value(header, languages):
    assert parse_accept_language(header) == languages


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("https://www.Facebook.com/some/page?x=1", "www.facebook.com"),
        ("http://l.instagram.com:8080/", "l.instagram.com"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("not a url", None),
        ("https://[::1/", None),
        ("", None),
        (None, None),
    ],
)
def test_referrer_host_is_the_normalised_host_of_the_referer(value, host):
    assert referrer_host(value) == host


def test_visitor_collects_device_country_language_and_referrer():
    request = facts(
        ua=SAFARI_IPHONE,
        cloudfront_viewer_country="us",
        accept_language="en-US,en;q=0.9",
        referer="https://t.co/abc",
    )
    seen = visitor(request)
    assert seen.device == "mobile"
    assert seen.device_classes == {"ios", "mobile"}
    assert (seen.os, seen.browser) == ("iOS", "Mobile Safari")
    assert (seen.country, seen.language, seen.referrer_host) == ("US", "en-US", "t.co")
    assert (seen.is_bot, seen.bot_name) == (False, None)
    assert seen.consent == "not_required"


def test_an_unknown_domain_sets_no_cookie():
    request = facts()
    from chalicelib.redirect import read_visitor

    assert read_visitor(request, None, salt=b"s").set_cookies == ()
