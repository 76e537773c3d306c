"""Domain, platform and audience validation: message, position (line:col) and field path."""

from __future__ import annotations

import pytest

from chalicelib.config.loader import ConfigError, load_config_text
from tests.config.helpers import assert_issue, at, issues_of, one_issue


def domain(*lines: str, name: str = "go.localhost") -> str:
    return "version: 1\ndomains:\n" + f"  - name: {name}\n" + "".join(f"    {x}\n" for x in lines)


DOMAIN_CASES = [
    (
        "port",
        domain(name="go.localhost:8000"),
        "domains[0].name",
        "go.localhost:8000",
        "without a port",
    ),
    ("scheme", domain(name="https://go.brand.com"), "domains[0].name", "https://", "not a URL"),
    ("path", domain(name="go.brand.com/x"), "domains[0].name", "go.brand.com/x", "without a path"),
    (
        "underscore",
        domain(name="go_brand.com"),
        "domains[0].name",
        "go_brand",
        "not a valid host name",
    ),
    (
        "empty label",
        domain(name="go..brand.com"),
        "domains[0].name",
        "go..",
        "not a valid host name",
    ),
    (
        "punycode that does not decode",
        domain(name="xn--zz.example"),
        "domains[0].name",
        "xn--zz",
        "not a valid host name: Invalid A-label",
    ),
    (
        "hyphens in 3rd and 4th position",
        domain(name="ab--c.example"),
        "domains[0].name",
        "ab--c",
        "not a valid host name",
    ),
    (
        "root_url",
        domain("root_url: shop.example"),
        "domains[0].root_url",
        "shop.example",
        "https:// or http://",
    ),
    (
        "not_found_url",
        domain("not_found_url: https://"),
        "domains[0].not_found_url",
        "https://",
        "needs a host",
    ),
    (
        "expired_url",
        domain("expired_url: javascript:alert(1)"),
        "domains[0].expired_url",
        "javascript",
        "https:// or http://",
    ),
    (
        "honor_gpc",
        domain("consent: {honor_gpc: yes}"),
        "domains[0].consent.honor_gpc",
        "yes",
        "expected true or false",
    ),
    (
        "require_in code",
        domain("consent: {require_in: [EU, XX]}"),
        "domains[0].consent.require_in[1]",
        "XX",
        "XX is not an ISO 3166-1 alpha-2 country code",
    ),
    (
        "require_in UK",
        domain("consent: {require_in: [uk]}"),
        "domains[0].consent.require_in[0]",
        "uk",
        "did you mean GB?",
    ),
    (
        "require_in scalar",
        domain("consent: {require_in: EU}"),
        "domains[0].consent.require_in",
        "EU",
        "expected a list",
    ),
    (
        "consent key",
        domain("consent: {honour_gpc: true}"),
        "domains[0].consent.honour_gpc",
        "honour_gpc",
        "did you mean `honor_gpc`?",
    ),
    (
        "default_country",
        domain("default_country: Germany"),
        "domains[0].default_country",
        "Germany",
        "not an ISO 3166-1 alpha-2",
    ),
    (
        "conversion_secret ref",
        domain("conversion_secret: ssm:rebound/x"),
        "domains[0].conversion_secret",
        "ssm:rebound",
        "an SSM reference is `ssm:/`",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "needle", "message"),
    [c[1:] for c in DOMAIN_CASES],
    ids=[c[0] for c in DOMAIN_CASES],
)
def test_domain_error(text, field, needle, message):
    assert_issue(text, field, needle, message)


def test_domain_missing_name_points_at_the_domain():
    text = "version: 1\ndomains:\n  - root_url: https://shop.example/\n"
    assert_issue(text, "domains[0].name", "root_url", "missing required key `name`")


def test_duplicate_domain_after_normalisation():
    text = "version: 1\ndomains:\n  - name: bücher.example\n  - name: XN--BCHER-KVA.example\n"
    issue = assert_issue(text, "domains[1].name", "XN--", "duplicate domain xn--bcher-kva.example")
    assert "domains[0].name (line 3)" in issue.message


LITERAL = "EAABwzLixnjYBO1234567890abcdef"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (domain(f"conversion_secret: {LITERAL}"), "domains[0].conversion_secret"),
        (
            f"version: 1\nplatforms:\n  meta: {{pixel_id: '1', access_token: {LITERAL}}}\n",
            "platforms.meta.access_token",
        ),
        (
            f"version: 1\nplatforms:\n  google: {{ga4_measurement_id: G-X, ga4_api_secret: {LITERAL}}}\n",
            "platforms.google.ga4_api_secret",
        ),
        (
            f"version: 1\nplatforms:\n  reddit: {{pixel_id: t2_x, access_token: '{LITERAL}'}}\n",
            "platforms.reddit.access_token",
        ),
    ],
    ids=["conversion_secret", "meta", "ga4_api_secret", "quoted"],
)
def test_literal_credential_asks_for_a_reference_and_is_never_echoed(text, field):
    needle = f"'{LITERAL}" if f"'{LITERAL}" in text else LITERAL
    issue = assert_issue(
        text, field, needle, "use a reference here (ssm:/path or secretsmanager:name)"
    )
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "f.yaml")
    assert LITERAL not in str(caught.value)
    assert LITERAL not in repr(caught.value.issues)
    assert issue.field == field


def test_numeric_token_is_a_literal_too():
    text = "version: 1\nplatforms:\n  tiktok: {pixel_code: C0DE, access_token: 123456789}\n"
    issue = assert_issue(text, "platforms.tiktok.access_token", "123456789", "use a reference")
    assert "123456789" not in issue.message


def platforms(block: str) -> str:
    return "version: 1\nplatforms:\n" + block


PLATFORM_CASES = [
    (
        "unknown platform",
        platforms("  facebook: {}\n"),
        "platforms.facebook",
        "facebook",
        "unknown key `facebook` (allowed: meta, tiktok, linkedin, google, pinterest, snapchat, reddit, x, klaviyo, omnisend, brevo, kit, activecampaign, mailchimp, hubspot)",
    ),
    (
        "meta pixel_id",
        platforms("  meta: {pixel_id: abc, access_token: ssm:/t}\n"),
        "platforms.meta.pixel_id",
        "abc",
        "digits only",
    ),
    (
        "meta unknown key",
        platforms("  meta: {pixel: '1', pixel_id: '1', access_token: ssm:/t}\n"),
        "platforms.meta.pixel",
        "pixel:",
        "did you mean `pixel_id`?",
    ),
    (
        "meta event name too long",
        platforms(
            f"  meta: {{pixel_id: '1', access_token: ssm:/t, page_view_event: {'E' * 51}}}\n"
        ),
        "platforms.meta.page_view_event",
        "EEE",
        "at most 50 characters",
    ),
    (
        "endpoint",
        platforms("  tiktok: {pixel_code: C0DE, access_token: ssm:/t, endpoint: localhost:9000}\n"),
        "platforms.tiktok.endpoint",
        "localhost:9000",
        "https:// or http://",
    ),
    (
        "dry_run",
        platforms("  snapchat: {pixel_id: abc-123, access_token: ssm:/t, dry_run: 'no'}\n"),
        "platforms.snapchat.dry_run",
        "'no'",
        "expected true or false",
    ),
    (
        "linkedin rule",
        platforms("  linkedin: {conversion_rule: '123', access_token: ssm:/t}\n"),
        "platforms.linkedin.conversion_rule",
        "'123'",
        "expected urn:lla:llaPartnerConversion:<digits>",
    ),
    (
        "linkedin version",
        platforms(
            "  linkedin: {conversion_rule: 'urn:lla:llaPartnerConversion:1', access_token: ssm:/t, version: 2026-01}\n"
        ),
        "platforms.linkedin.version",
        "2026-01",
        "YYYYMM",
    ),
    (
        "linkedin month",
        platforms(
            "  linkedin: {conversion_rule: 'urn:lla:llaPartnerConversion:1', access_token: ssm:/t, version: 202613}\n"
        ),
        "platforms.linkedin.version",
        "202613",
        "YYYYMM",
    ),
    (
        "ga4 id",
        platforms("  google: {ga4_measurement_id: UA-1234, ga4_api_secret: ssm:/s}\n"),
        "platforms.google.ga4_measurement_id",
        "UA-1234",
        "G-ABC123XYZ",
    ),
    (
        "ads account dashes",
        platforms("  google: {ads_account_id: 123-456-7890, ads_conversion_action: '9'}\n"),
        "platforms.google.ads_account_id",
        "123-456",
        "digits only",
    ),
    (
        "pinterest test",
        platforms("  pinterest: {ad_account_id: '549755885175', access_token: ssm:/t, test: 1}\n"),
        "platforms.pinterest.test",
        "1}",
        "expected true or false",
    ),
    (
        "reddit test_id",
        platforms("  reddit: {pixel_id: t2_abc, access_token: ssm:/t, test_id: 'a b'}\n"),
        "platforms.reddit.test_id",
        "'a b'",
        "expected an ID",
    ),
    (
        "platform not a mapping",
        platforms("  meta: yes\n"),
        "platforms.meta",
        "yes",
        "expected a mapping",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "needle", "message"),
    [c[1:] for c in PLATFORM_CASES],
    ids=[c[0] for c in PLATFORM_CASES],
)
def test_platform_error(text, field, needle, message):
    assert_issue(text, field, needle, message)


def test_platform_missing_credential_points_at_its_mapping():
    text = platforms("  pinterest:\n    ad_account_id: '1'\n")
    assert_issue(text, "platforms.pinterest.access_token", "ad_account_id", "missing required key")


@pytest.mark.parametrize(
    ("block", "field", "message"),
    [
        (
            "{ga4_measurement_id: G-ABC}",
            "platforms.google.ga4_api_secret",
            "ga4_api_secret is required with ga4_measurement_id",
        ),
        (
            "{ga4_api_secret: ssm:/s}",
            "platforms.google.ga4_measurement_id",
            "ga4_measurement_id is required with ga4_api_secret",
        ),
        (
            "{ads_account_id: '1'}",
            "platforms.google.ads_conversion_action",
            "ads_conversion_action is required with ads_account_id",
        ),
        (
            "{ads_conversion_action: '1'}",
            "platforms.google.ads_account_id",
            "ads_account_id is required with ads_conversion_action",
        ),
        (
            "{ga4_measurement_id: G-A, ga4_api_secret: ssm:/s, oauth_token: ssm:/o}",
            "platforms.google.oauth_token",
            "used only for Google Ads",
        ),
        (
            "{}",
            "platforms.google",
            "configure GA4 (ga4_measurement_id, ga4_api_secret), Google Ads",
        ),
    ],
)
def test_google_fields_that_go_together(block, field, message):
    text = platforms(f"  google: {block}\n")
    issue = one_issue(text)
    assert issue.field == field
    assert message in issue.message
    if field.endswith("oauth_token"):
        assert (issue.line, issue.col) == at(text, "ssm:/o")  # present: its value
    else:
        assert (issue.line, issue.col) == at(text, "{")  # absent: the mapping that lacks it


HEAD = (
    "version: 1\n"
    "domains: [{name: go.localhost}]\n"
    "platforms:\n"
    "  meta: {pixel_id: '1', access_token: ssm:/t}\n"
    "links:\n"
    "  - {domain: go.localhost, slug: spring-sale, url: https://shop.example/}\n"
    "audiences:\n"
)

AUDIENCE_CASES = [
    (
        "id",
        "  - {id: 'no spaces', match: {tags: [a]}}\n",
        "audiences[0].id",
        "'no spaces'",
        "expected 1 to 64",
    ),
    (
        "match empty",
        "  - {id: a, match: {}}\n",
        "audiences[0].match",
        "{}",
        "needs at least one of tags, links, campaigns, domains",
    ),
    (
        "match unknown key",
        "  - {id: a, match: {tag: [x]}}\n",
        "audiences[0].match.tag",
        "tag:",
        "did you mean `tags`?",
    ),
    (
        "match tags empty",
        "  - {id: a, match: {tags: []}}\n",
        "audiences[0].match.tags",
        "[]",
        "needs at least 1 entry",
    ),
    (
        "window_days low",
        "  - {id: a, match: {tags: [x]}, window_days: 0}\n",
        "audiences[0].window_days",
        "0}",
        "must be at least 1",
    ),
    (
        "window_days high",
        "  - {id: a, match: {tags: [x]}, window_days: 541}\n",
        "audiences[0].window_days",
        "541",
        "must be at most 540",
    ),
    (
        "min_clicks low",
        "  - {id: a, match: {tags: [x]}, min_clicks: 0}\n",
        "audiences[0].min_clicks",
        "0}",
        "must be at least 1",
    ),
    (
        "min_clicks not a number",
        "  - {id: a, match: {tags: [x]}, min_clicks: three}\n",
        "audiences[0].min_clicks",
        "three",
        "expected a whole number",
    ),
    (
        "exclude_converted not a boolean",
        "  - {id: a, match: {tags: [x]}, exclude_converted: maybe}\n",
        "audiences[0].exclude_converted",
        "maybe",
        "expected true or false",
    ),
    (
        "send_to unknown",
        "  - {id: a, match: {tags: [x]}, send_to: [meta, myspace]}\n",
        "audiences[0].send_to[1]",
        "myspace",
        "expected 'meta', 'tiktok'",
    ),
    (
        "send_to unconfigured",
        "  - {id: a, match: {tags: [x]}, send_to: [meta, tiktok]}\n",
        "audiences[0].send_to[1]",
        "tiktok",
        "platform tiktok is not configured under `platforms:`",
    ),
    (
        "links format",
        "  - {id: a, match: {links: [spring-sale]}}\n",
        "audiences[0].match.links[0]",
        "spring-sale]",
        "expected domain/slug",
    ),
    (
        "links unknown",
        "  - {id: a, match: {links: [go.localhost/winter]}}\n",
        "audiences[0].match.links[0]",
        "go.localhost/winter",
        "no link go.localhost/winter in this file",
    ),
    (
        "domains unknown",
        "  - {id: a, match: {domains: [go.other.example]}}\n",
        "audiences[0].match.domains[0]",
        "go.other",
        "unknown domain go.other.example",
    ),
    ("missing match", "  - {id: a}\n", "audiences[0].match", "{id", "missing required key `match`"),
]


@pytest.mark.parametrize(
    ("body", "field", "needle", "message"),
    [c[1:] for c in AUDIENCE_CASES],
    ids=[c[0] for c in AUDIENCE_CASES],
)
def test_audience_error(body, field, needle, message):
    text = HEAD + body
    assert_issue(text, field, needle, message, nth=text.count(needle) - 1)


def test_audience_link_reference_is_case_insensitive_and_idna():
    text = (
        HEAD + "  - {id: a, match: {links: [GO.LOCALHOST/Spring-Sale], domains: [Go.Localhost]}}\n"
    )
    config = load_config_text(text, "f")
    assert config.audiences[0].spec()["match"] == {
        "links": ["go.localhost/Spring-Sale"],
        "domains": ["go.localhost"],
    }


def test_duplicate_audience_ids():
    text = HEAD + "  - {id: a, match: {tags: [x]}}\n  - {id: a, match: {tags: [y]}}\n"
    issue = assert_issue(text, "audiences[1].id", "a,", "duplicate audience a", nth=1)
    assert f"audiences[0].id (line {at(text, 'a,')[0]})" in issue.message


def test_all_entity_errors_come_together():
    text = (
        "version: 1\n"
        "domains: [{name: 'go.localhost:1'}, {name: b.example, conversion_secret: x}]\n"
        "platforms: {meta: {pixel_id: x, access_token: ssm:/t}}\n"
        "audiences: [{id: a, match: {}, send_to: [tiktok]}]\n"
        "links: [{domain: c.example, slug: s, url: https://x.example/}]\n"
    )
    assert [i.field for i in issues_of(text)] == [
        "domains[0].name",
        "domains[1].conversion_secret",
        "platforms.meta.pixel_id",
        "audiences[0].match",
        "audiences[0].send_to[0]",
        "links[0].domain",
    ]
