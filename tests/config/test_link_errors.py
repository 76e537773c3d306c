"""Link and rule validation: each error's message, position (line:col) and field path."""

from __future__ import annotations

import pytest

from tests.config.helpers import HEAD, assert_issue, at, issues_of, one_issue


def links(body: str) -> str:
    """HEAD plus a `links:` section; `body` is indented by the caller as a list under it."""
    return HEAD + "links:\n" + body


def link(*lines: str, slug: str = "a", url: str = "https://shop.example/a") -> str:
    """One link with `lines` added (each a `key: value` line of the link)."""
    body = f"  - domain: go.localhost\n    slug: {slug}\n    url: {url}\n"
    return links(body + "".join(f"    {line}\n" for line in lines))


# (what is wrong, the link, field path, text the issue points at, message, occurrence of that text)
CASES = [
    ("slug charset", link(slug="-a"), "links[0].slug", "-a", "expected 1 to 64 letters", 0),
    ("slug too long", link(slug="a" * 65), "links[0].slug", "a" * 65, "1 to 64", 0),
    ("slug with a dot", link(slug="a.b"), "links[0].slug", "a.b", "expected 1 to 64", 0),
    ("ftp url", link(url="ftp://x.example/"), "links[0].url", "ftp:", "https:// or http://", 0),
    ("relative url", link(url="/sale"), "links[0].url", "/sale", "https:// or http://", 0),
    ("url without host", link(url="https:///sale"), "links[0].url", "https:///", "needs a host", 0),
    (
        "url with credentials",
        link(url="https://me:pw@shop.example/"),
        "links[0].url",
        "https://me",
        "user name or password",
        0,
    ),
    (
        "url with a space",
        link(url='"https://shop.example/a b"'),
        "links[0].url",
        '"https://shop.example/a b',
        "whitespace or a control character at position 23",
        0,
    ),
    (
        "url with a control character",
        link(url='"https://shop.example/\\x01"'),
        "links[0].url",
        '"https://shop.example/\\x01',
        "control character",
        0,
    ),
    (
        "url with a backslash",
        link(url="https://shop.example\\@evil.example/"),
        "links[0].url",
        "https://shop.example\\",
        "backslash",
        0,
    ),
    (
        "url too long",
        link(url="https://shop.example/" + "x" * 2028),
        "links[0].url",
        "https://shop.example/xxx",
        "2049 characters long; the limit is 2048",
        0,
    ),
    (
        "url with a bad port",
        link(url="https://shop.example:99999/"),
        "links[0].url",
        "https://shop.example:99999",
        "not a valid URL",
        0,
    ),
    ("redirect 303", link("redirect: 303"), "links[0].redirect", "303", "301, 302, 307 or 308", 0),
    ("redirect true", link("redirect: true"), "links[0].redirect", "true", "301, 302", 0),
    ("mode", link("mode: popup"), "links[0].mode", "popup", "'redirect' or 'pixel'", 0),
    ("tags scalar", link("tags: sale"), "links[0].tags", "sale", "expected a list", 0),
    ("empty tag", link('tags: [a, ""]'), "links[0].tags[1]", '""', "must not be empty", 0),
    ("campaign list", link("campaign: [a]"), "links[0].campaign", "[a]", "expected a string", 0),
    (
        "utm unknown key",
        link("utm: {src: x}"),
        "links[0].utm.src",
        "src",
        "did you mean `source`",
        0,
    ),
    (
        "utm list value",
        link("utm: {source: [x]}"),
        "links[0].utm.source",
        "[x]",
        "expected a string",
        0,
    ),
    (
        "forward_query string",
        link('forward_query: "yes"'),
        "links[0].forward_query",
        '"yes"',
        "expected true or false",
        0,
    ),
    (
        "track_conversions number",
        link("track_conversions: 1"),
        "links[0].track_conversions",
        "1",
        "expected true or false",
        2,
    ),
    ("max_clicks zero", link("max_clicks: 0"), "links[0].max_clicks", "0", "must be at least 1", 0),
    (
        "max_clicks bool",
        link("max_clicks: true"),
        "links[0].max_clicks",
        "true",
        "expected a whole number",
        0,
    ),
    (
        "expires_at not a time",
        link("expires_at: tomorrow"),
        "links[0].expires_at",
        "tomorrow",
        "expected a date and time",
        0,
    ),
    (
        "expires_at a unix time",
        link("expires_at: 1700000000"),
        "links[0].expires_at",
        "1700000000",
        "expected a date and time",
        0,
    ),
    (
        "expires before start",
        link("starts_at: 2027-01-01T00:00:00Z", "expires_at: 2026-12-31T23:59:59Z"),
        "links[0].expires_at",
        "2026-12-31",
        "expires_at must be later than starts_at",
        0,
    ),
    (
        "expires when it starts",
        link("starts_at: 2027-01-01", "expires_at: 2027-01-01T01:00:00+01:00"),
        "links[0].expires_at",
        "2027-01-01T01",
        "expires_at must be later than starts_at",
        0,
    ),
    (
        "expired_url",
        link("expired_url: shop.example/gone"),
        "links[0].expired_url",
        "shop.example/gone",
        "https:// or http://",
        0,
    ),
    (
        "split with one arm",
        link("split: [{url: https://x.example/, weight: 1}]"),
        "links[0].split",
        "[{url",
        "at least 2 arms",
        0,
    ),
    (
        "split weight zero",
        link(
            "split:",
            "  - {url: https://x.example/, weight: 1}",
            "  - {url: https://y.example/, weight: 0}",
        ),
        "links[0].split[1].weight",
        "0}",
        "must be at least 1",
        0,
    ),
    (
        "split weight fraction",
        link(
            "split:",
            "  - {url: https://x.example/, weight: 1.5}",
            "  - {url: https://y.example/, weight: 1}",
        ),
        "links[0].split[0].weight",
        "1.5",
        "expected a whole number",
        0,
    ),
    (
        "split arm without url",
        link("split:", "  - {weight: 1}", "  - {url: https://y.example/, weight: 1}"),
        "links[0].split[0].url",
        "{weight",
        "missing required key `url`",
        0,
    ),
    (
        "unknown key",
        link("expire_at: 2027-01-01"),
        "links[0].expire_at",
        "expire_at",
        "unknown key `expire_at`; did you mean `expires_at`?",
        0,
    ),
    (
        "link is not a mapping",
        links("  - go.localhost/a\n"),
        "links[0]",
        "go.localhost/a",
        "expected a mapping",
        0,
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "needle", "message", "nth"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_link_field_error_points_at_the_value(text, field, needle, message, nth):
    assert_issue(text, field, needle, message, nth)


def test_missing_url_points_at_the_link_mapping():
    text = links("  - domain: go.localhost\n    slug: a\n")
    assert_issue(
        text, "links[0].url", "domain: go.localhost\n    slug", "missing required key `url`"
    )


def test_unknown_domain_points_at_the_links_domain_value():
    text = links("  - domain: shop.example\n    slug: a\n    url: https://shop.example/\n")
    assert_issue(
        text,
        "links[0].domain",
        "shop.example\n",
        "unknown domain shop.example: add it under `domains:` (defined: go.localhost)",
    )


def test_duplicate_slug_is_case_insensitive_and_names_the_first_line():
    text = links(
        "  - {domain: go.localhost, slug: Sale, url: https://shop.example/1}\n"
        "  - {domain: go.localhost, slug: other, url: https://shop.example/2}\n"
        "  - {domain: GO.localhost, slug: sALE, url: https://shop.example/3}\n"
    )
    first_line, _ = at(text, "Sale")
    issue = assert_issue(text, "links[2].slug", "sALE", "duplicate link go.localhost/sALE")
    assert f"links[0].slug (line {first_line})" in issue.message
    assert "case-insensitively" in issue.message


def test_same_slug_on_two_domains_is_fine():
    text = (
        "version: 1\ndomains: [{name: a.example}, {name: b.example}]\nlinks:\n"
        "  - {domain: a.example, slug: x, url: https://shop.example/}\n"
        "  - {domain: b.example, slug: x, url: https://shop.example/}\n"
    )
    from chalicelib.config.loader import load_config_text

    assert len(load_config_text(text, "f").links) == 2


def rule(when: str, url: str = "https://x.example/") -> str:
    return link("rules:", f"  - when: {when}", f"    url: {url}")


RULE_CASES = [
    ("when empty", rule("{}"), "links[0].rules[0].when", "{}", "at least one condition"),
    ("when empty value", rule(""), "links[0].rules[0].when", "when", "expected a mapping"),
    (
        "device",
        rule("{device: [ios, phone]}"),
        "links[0].rules[0].when.device[1]",
        "phone",
        "expected one of ios, android, mobile, tablet, desktop",
    ),
    (
        "device list empty",
        rule("{device: []}"),
        "links[0].rules[0].when.device",
        "[]",
        "needs at least 1 entry",
    ),
    (
        "os empty string",
        rule('{os: [""]}'),
        "links[0].rules[0].when.os[0]",
        '""',
        "must not be empty",
    ),
    (
        "country",
        rule("{country: [DE, XX]}"),
        "links[0].rules[0].when.country[1]",
        "XX",
        "XX is not an ISO 3166-1 alpha-2 country code",
    ),
    (
        "country UK",
        rule("{country: [UK]}"),
        "links[0].rules[0].when.country[0]",
        "UK",
        "did you mean GB?",
    ),
    (
        "country region",
        rule("{country: [EU]}"),
        "links[0].rules[0].when.country[0]",
        "EU",
        "regions are allowed only in consent.require_in",
    ),
    (
        "language",
        rule("{language: [german]}"),
        "links[0].rules[0].when.language[0]",
        "german",
        "expected a language tag such as de or de-AT",
    ),
    (
        "query null",
        rule("{query: {ref: null}}"),
        "links[0].rules[0].when.query.ref",
        "null",
        "expected a string (equals), true (present) or false (absent)",
    ),
    (
        "query empty",
        rule("{query: {}}"),
        "links[0].rules[0].when.query",
        "{}}",
        "needs at least 1 entry",
    ),
    (
        "query odd key",
        rule('{query: {"a.b": [1]}}'),
        'links[0].rules[0].when.query["a.b"]',
        "[1]",
        "expected a string",
    ),
    (
        "before not a time",
        rule("{before: soon}"),
        "links[0].rules[0].when.before",
        "soon",
        "expected a date and time",
    ),
    (
        "after >= before",
        rule("{after: 2027-01-02, before: 2027-01-01}"),
        "links[0].rules[0].when.before",
        "2027-01-01",
        "`before` must be later than `after`",
    ),
    (
        "unknown condition",
        rule("{devices: [ios]}"),
        "links[0].rules[0].when.devices",
        "devices",
        "did you mean `device`?",
    ),
    (
        "rule url",
        rule("{device: [ios]}", url="itms-apps://x"),
        "links[0].rules[0].url",
        "itms-apps",
        "https:// or http://",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "needle", "message"),
    [case[1:] for case in RULE_CASES],
    ids=[case[0] for case in RULE_CASES],
)
def test_rule_error_points_at_the_condition(text, field, needle, message):
    assert_issue(text, field, needle, message)


def test_rule_without_url_points_at_the_rule():
    text = link("rules:", "  - when: {device: [ios]}")
    assert_issue(text, "links[0].rules[0].url", "when: {device", "missing required key `url`")


def test_country_error_in_a_deep_block_list_has_the_full_path():
    text = links(
        "  - {domain: go.localhost, slug: a, url: https://shop.example/}\n" * 0
        + "".join(
            f"  - domain: go.localhost\n    slug: s{i}\n    url: https://shop.example/{i}\n"
            for i in range(3)
        )
        + "  - domain: go.localhost\n"
        "    slug: s3\n"
        "    url: https://shop.example/3\n"
        "    rules:\n"
        "      - when:\n"
        "          country:\n"
        "            - DE\n"
        "            - ZZ\n"
        "        url: https://shop.example/de\n"
    )
    assert_issue(text, "links[3].rules[0].when.country[1]", "ZZ", "ZZ is not an ISO 3166-1")


def test_every_problem_is_reported_at_once_in_file_order():
    text = links(
        "  - domain: nowhere.example\n"
        "    slug: -a\n"
        "    url: ftp://x\n"
        "    redirect: 303\n"
        "    rules: [{when: {}, url: https://x.example/}]\n"
        "  - {domain: go.localhost, slug: b, url: https://x.example/, colour: red}\n"
    )
    issues = issues_of(text)
    assert [i.field for i in issues] == [
        "links[0].domain",
        "links[0].slug",
        "links[0].url",
        "links[0].redirect",
        "links[0].rules[0].when",
        "links[1].colour",
    ]
    assert [(i.line, i.col) for i in issues] == sorted((i.line, i.col) for i in issues)


def test_a_bad_link_does_not_hide_its_unknown_domain():
    # Cross-references are checked on what is valid even when other fields of the link are not.
    text = links("  - {domain: nowhere.example, slug: a, url: ftp://x}\n")
    assert {i.field for i in issues_of(text)} == {"links[0].domain", "links[0].url"}


def test_unknown_key_message_lists_what_is_allowed():
    issue = one_issue(link("colour: red"))
    assert "allowed: domain, slug, url, redirect" in issue.message
