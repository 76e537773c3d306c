"""Bots and link-preview fetchers are recognised; people are not."""

from __future__ import annotations

import pytest

from chalicelib.redirect.bots import (
    EXCLUDED_PATTERNS,
    BotVerdict,
    detect_bot,
    literal_text,
    name_from_pattern,
)
from tests.redirect.factories import (
    CHROME,
    CHROME_ANDROID,
    CHROME_ANDROID_TABLET,
    FIREFOX_MAC,
    SAFARI_IPAD,
    SAFARI_IPHONE,
)

PREVIEWS_AND_SCANNERS = [
    ("facebookexternalhit", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
    ("Facebot", "Facebot"),
    ("Slackbot", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
    ("Slack-ImgProxy", "Slack-ImgProxy (+https://api.slack.com/robots)"),
    ("Twitterbot", "Twitterbot/1.0"),
    ("WhatsApp", "WhatsApp/2.23.20.0 A"),
    ("LinkedInBot", "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"),
    ("Discordbot", "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"),
    ("TelegramBot", "TelegramBot (like TwitterBot)"),
    ("SkypeUriPreview", "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com"),
    ("Applebot", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"),
    ("Mimecast", "Mozilla/5.0 (compatible; Mimecast URL Protect)"),
    ("Proofpoint", "Proofpoint URL Defense/1.0"),
    ("Barracuda", "Barracuda Sentinel (EE)"),
    ("UptimeRobot", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"),
    ("Pingdom", "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)"),
    ("StatusCake", "Mozilla/5.0 (compatible; StatusCake)"),
    ("BetterUptime", "Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36"),
    ("Site24x7", "Mozilla/5.0 (compatible; Site24x7)"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "ua"), PREVIEWS_AND_SCANNERS)
def test_each_link_preview_fetcher_and_scanner_is_a_bot_with_a_stable_name(name, ua):
    verdict = detect_bot(ua)
    assert verdict.is_bot
    assert verdict.name == name


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot"),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "AhrefsBot"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36", "HeadlessChrome"),
    ],
)  # fmt: skip
def test_crawlers_from_the_maintained_list_are_bots(ua, name):
    verdict = detect_bot(ua)
    assert verdict.is_bot and verdict.name == name


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("curl/8.4.0", "curl"),
        ("Wget/1.21.4", "wget"),
        ("python-requests/2.31.0", "python-requests"),
        ("Go-http-client/2.0", "Go-http-client"),
    ],
)
def test_http_libraries_are_bots(ua, name):
    # Nobody clicks a marketing link through curl: scripted hits must not reach ad audiences.
    verdict = detect_bot(ua)
    assert verdict.is_bot and verdict.name == name


def test_a_head_request_is_a_bot_even_with_a_browser_user_agent():
    verdict = detect_bot(CHROME, "HEAD")
    assert verdict.is_bot and verdict.name == "head-request"


@pytest.mark.parametrize("ua", ["", "   "])
def test_an_empty_or_missing_user_agent_is_a_bot(ua):
    verdict = detect_bot(ua)
    assert verdict.is_bot and verdict.name == "no-user-agent"


HUMANS = [
    CHROME,
    SAFARI_IPHONE,
    SAFARI_IPAD,
    FIREFOX_MAC,
    CHROME_ANDROID,
    CHROME_ANDROID_TABLET,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    # In-app browsers: the bulk of clicks from social ads.
    "Mozilla/5.0 (Linux; Android 15; CPH2557 Build/AP3A.240617.008; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/142.0.7444.142 Mobile Safari/537.36 Instagram 406.0.0.58.159 Android (35/15; 480dpi; 1080x2400; OPPO; CPH2557; OP573DL1; mt6833; en_MY; 822918295; IABMV/1)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/455.0.0.38.109;FBBV/590000000;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBSS/3;FBID/phone;FBLC/en_US;FBOP/80]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 325.0.0.35.91 (iPhone15,2; iOS 17_4; en_US; en; scale=3.00; 1179x2556; 579446734)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.29.8962",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240305.019; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.119 Mobile Safari/537.36 trill_330304 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly app_version/33.3.4 ByteLocale/en ByteFullLocale/en Region/US BytedanceWebview/d8a21c6",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/12.80.0.39 (like Safari/8617.2.4.10.8, panda)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Twitter for iPhone/10.34",
]  # fmt: skip


@pytest.mark.parametrize("ua", HUMANS)
def test_browsers_and_in_app_browsers_are_not_bots(ua):
    verdict = detect_bot(ua)
    assert not verdict.is_bot and verdict.name is None


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        (r"Googlebot\/", "Googlebot"),
        (r"[wW]get", "wget"),
        (r"Ahrefs(Bot|SiteAudit)", "AhrefsBot"),
        (r"^curl", "curl"),
        (r"(^| )sentry\/", "sentry"),
        (r"Mediapartners \(Googlebot\)", "Mediapartners (Googlebot)"),
        (r"Chirp|gotosocial", "Chirp"),
        (r"ContextualBot[\s\S]*outcomes\.net", "ContextualBot outcomes.net"),
        (r"AdsBot-Google([^-]|$)", "AdsBot-Google"),
    ],
)
def test_names_of_listed_bots_are_read_from_their_patterns(pattern, name):
    assert name_from_pattern(pattern) == name


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("Googlebot", "Googlebot"),
        (r"Googlebot\/2", "Googlebot/2"),
        (r"Mozilla\.org", "Mozilla.org"),
        (r"Bark\ rowler", "Bark rowler"),
        ("[wW]get", None),
        ("^curl", None),
        ("Chirp|gotosocial", None),
        (r"BlogTraffic\/\d\.\d+ Feed-Fetcher", None),
        ("Site.Check", None),
        ("trailing\\", None),
    ],
)
def test_only_plain_strings_go_to_the_automaton(pattern, text):
    assert literal_text(pattern) == text


def test_every_example_of_the_maintained_list_is_a_bot():
    from crawleruseragents import CRAWLER_USER_AGENTS_DATA

    examples = [
        (entry["pattern"], ua)
        for entry in CRAWLER_USER_AGENTS_DATA
        if entry["pattern"] not in EXCLUDED_PATTERNS
        for ua in entry.get("instances") or []
    ]
    assert len(examples) > 1000
    missed = [(p, ua) for p, ua in examples if not detect_bot(ua).is_bot]
    assert missed == []


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        # the leftmost match across the whole list names the bot, not a later token
        ("W3C-checklink/4.5 [4.160] libwww-perl/5.823", "W3C-checklink"),
        ("OICrawler/Nutch https://openindex.ai", "OICrawler"),
        ("TelegramBot (like TwitterBot)", "TelegramBot"),
        ("Better Uptime Bot Mozilla/5.0", "BetterUptime"),
        ("betteruptime probe", "BetterUptime"),  # our own list ignores case
        ("Wget/1.21.4", "wget"),  # a regex entry of the list: [wW]get
    ],
)
def test_the_leftmost_match_names_the_bot(ua, name):
    assert detect_bot(ua) == BotVerdict(True, name)
