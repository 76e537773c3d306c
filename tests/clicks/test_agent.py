"""Device class, OS and browser from the User-Agent; CloudFront's device headers win."""

from __future__ import annotations

import pytest

from chalicelib.clicks.agent import parse_agent
from tests.redirect.factories import (
    CHROME,
    CHROME_ANDROID,
    CHROME_ANDROID_TABLET,
    FIREFOX_MAC,
    SAFARI_IPAD,
    SAFARI_IPHONE,
)


@pytest.mark.parametrize(
    ("ua", "classes", "os", "browser"),
    [
        (SAFARI_IPHONE, {"ios", "mobile"}, "iOS", "Mobile Safari"),
        (SAFARI_IPAD, {"ios", "tablet"}, "iOS", "Mobile Safari"),
        (CHROME_ANDROID, {"android", "mobile"}, "Android", "Chrome Mobile"),
        (CHROME_ANDROID_TABLET, {"android", "tablet"}, "Android", "Chrome"),
        (CHROME, {"desktop"}, "Windows", "Chrome"),
        (FIREFOX_MAC, {"desktop"}, "Mac OS X", "Firefox"),
        (
            "Mozilla/5.0 (Mobile; rv:48.0; A405DL) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
            {"mobile"},
            "KaiOS",
            "Firefox Mobile",
        ),
        ("", {"desktop"}, None, None),
        ("\x00\xff garbage", {"desktop"}, None, None),
    ],
)
def test_user_agent_gives_device_classes_os_and_browser(ua, classes, os, browser):
    agent = parse_agent(ua)
    assert agent.classes == classes
    assert (agent.os, agent.browser) == (os, browser)


def test_cloudfront_device_headers_take_precedence_over_the_user_agent():
    headers = {
        "cloudfront-is-mobile-viewer": "false",
        "cloudfront-is-tablet-viewer": "true",
        "cloudfront-is-desktop-viewer": "false",
        "cloudfront-is-ios-viewer": "false",
        "cloudfront-is-android-viewer": "true",
    }
    agent = parse_agent(SAFARI_IPHONE, headers)
    assert agent.classes == {"android", "tablet"}
    assert agent.os == "iOS"  # OS and browser families still come from the UA


def test_cloudfront_desktop_header_makes_an_iphone_ua_desktop():
    headers = {"cloudfront-is-desktop-viewer": "true", "cloudfront-is-ios-viewer": "false"}
    assert parse_agent(SAFARI_IPHONE, headers).classes == {"desktop"}


def test_without_cloudfront_headers_the_user_agent_decides():
    assert parse_agent(SAFARI_IPHONE, {"accept": "*/*"}).classes == {"ios", "mobile"}


def test_very_long_user_agents_are_parsed_quickly_and_safely():
    agent = parse_agent(SAFARI_IPHONE + " x" * 100_000)
    assert agent.platform == "ios"


@pytest.mark.parametrize(
    ("ua", "classes"),
    [
        ("Nokia6300/2.0 (05.00) Profile/MIDP-2.0 Configuration/CLDC-1.1", {"mobile"}),
        (
            "Mozilla/5.0 (PlayBook; U; RIM Tablet OS 2.1.0; en-US) AppleWebKit/536.2+ "
            "(KHTML, like Gecko) Version/7.2.1.0 Safari/536.2+",
            {"tablet"},
        ),
        (
            "Mozilla/5.0 (Android 14; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0",
            {"android", "tablet"},
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
            {"android", "mobile"},
        ),
    ],
)
def test_devices_beyond_the_common_ones(ua, classes):
    assert parse_agent(ua).classes == classes


def test_the_device_patterns_are_built_only_for_an_agent_whose_os_is_unknown():
    from chalicelib.clicks import agent

    agent._parse_ua.cache_clear()
    agent._device_resolver.cache_clear()
    for ua in (SAFARI_IPHONE, SAFARI_IPAD, CHROME_ANDROID, CHROME_ANDROID_TABLET, CHROME):
        parse_agent(ua)
    assert agent._device_resolver.cache_info().currsize == 0  # not built: the OS decided

    parse_agent("Nokia6300/2.0 (05.00) Profile/MIDP-2.0 Configuration/CLDC-1.1")
    assert agent._device_resolver.cache_info().currsize == 1
