"""dump_config_yaml: readable YAML that loads back to exactly the specs it was made from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.config.loader import dump_config_yaml, load_config, load_config_text
from chalicelib.config.model import Link

DESIGN_EXAMPLE = Path(__file__).parent / "fixtures" / "design_example.yaml"
DOMAINS = [
    {
        "name": "go.localhost",
        "consent": {
            "honor_gpc": True,
            "honor_dnt": False,
            "require_in": [],
            "limited_data_use": False,
        },
    },
    {
        "name": "xn--bcher-kva.example",
        "root_url": "https://bücher.example/",
        "expired_url": "https://bücher.example/abgelaufen",
        "consent": {
            "honor_gpc": False,
            "honor_dnt": True,
            "require_in": ["EU", "CH"],
            "limited_data_use": True,
        },
        "conversion_secret": "secretsmanager:rebound/buecher-conversion-secret",
        "default_country": "DE",
    },
]


def specs_of(config):
    return (
        [d.spec() for d in config.domains],
        config.platform_specs(),
        [a.spec() for a in config.audiences],
        [x.spec() for x in config.links],
    )


def round_trip(domains, platforms, audiences, links):
    text = dump_config_yaml(domains, platforms, audiences, links)
    return specs_of(load_config_text(text, "export.yaml")), text


def test_design_example_round_trips():
    specs = specs_of(load_config(DESIGN_EXAMPLE))
    again, text = round_trip(*specs)
    assert again == specs
    assert dump_config_yaml(*again) == text  # and the text is stable


def test_output_starts_with_version_and_has_sections_in_order():
    text = dump_config_yaml(*specs_of(load_config(DESIGN_EXAMPLE)))
    assert text.startswith("version: 1\n")
    tops = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()]
    assert tops == ["version", "domains", "platforms", "audiences", "links"]


def test_output_is_readable_block_yaml_in_model_order_whatever_the_input_order():
    config = load_config(DESIGN_EXAMPLE)
    # The store keeps specs as JSON with sorted keys: the dump must not follow that order.
    shuffled = [json.loads(json.dumps(x.spec(), sort_keys=True)) for x in config.links]
    text = dump_config_yaml([], {}, [], shuffled)
    assert text.startswith("version: 1\n")
    body = text.split("links:\n", 1)[1]
    assert body.startswith(
        "  - domain: go.localhost\n    slug: spring-sale\n    url: https://shop.example/sale\n"
    )
    assert "    tags: [sale, pricing]\n" in body
    assert "    starts_at: 2026-11-01T00:00:00Z\n" in body  # a time, not a quoted string


def test_empty_config_dumps_and_loads():
    text = dump_config_yaml([], {}, [], [])
    assert text == "version: 1\n\ndomains: []\n\nplatforms: {}\n\naudiences: []\n\nlinks: []\n"
    assert specs_of(load_config_text(text, "f")) == ([], {}, [], [])


def test_items_are_separated_by_a_blank_line():
    links = [Link(domain="go.localhost", slug=s, url="https://shop.example/").spec() for s in "abc"]
    text = dump_config_yaml(DOMAINS[:1], {}, [], links)
    assert "\n\n  - domain: go.localhost\n    slug: b\n" in text
    again, _ = round_trip(DOMAINS[:1], {}, [], links)
    assert again[3] == links


def test_every_platform_round_trips():
    platforms = {
        "meta": {
            "pixel_id": "0123",
            "access_token": "ssm:/m",
            "test_event_code": "TEST1",
            "page_view_event": "Visited Link",
            "api_version": "v25.0",
            "endpoint": "http://127.0.0.1:9000/meta",
            "dry_run": True,
        },
        "tiktok": {"pixel_code": "C0DE", "access_token": "ssm:/t", "dry_run": False},
        "linkedin": {
            "conversion_rule": "urn:lla:llaPartnerConversion:77",
            "access_token": "secretsmanager:arn:aws:secretsmanager:eu-west-1:1:secret:li",
            "version": "202601",
            "dry_run": False,
        },
        "google": {
            "ga4_measurement_id": "G-ABC",
            "ga4_api_secret": "ssm:/g",
            "ads_account_id": "1234567890",
            "ads_conversion_action": "987",
            "ads_login_account_id": "555",
            "oauth_token": "ssm:/o",
            "validate_only": True,
            "dry_run": False,
        },
        "pinterest": {
            "ad_account_id": "1",
            "access_token": "ssm:/p",
            "test": True,
            "dry_run": False,
        },
        "snapchat": {"pixel_id": "1a2b-3c", "access_token": "ssm:/s", "dry_run": False},
        "reddit": {"pixel_id": "t2_x", "access_token": "ssm:/r", "test_id": "t1", "dry_run": False},
    }
    again, text = round_trip([], platforms, [], [])
    assert again[1] == platforms
    assert "    pixel_id: '0123'\n" in text


# Strings that YAML would read as something else, or that need quoting or escaping.
TRICKY = [
    "007",
    "1e3",
    "0x1F",
    "true",
    "False",
    "null",
    "~",
    "NO",
    "yes",
    "2026-01-01",
    "2026-01-01T00:00:00Z",
    "1.50",
    ".inf",
    "-",
    "- x",
    "? x",
    "a: b",
    "a:b",
    "#hash",
    "a #b",
    "x,y",
    "[x]",
    "{x}",
    "*alias",
    "&anchor",
    "!tag",
    "%percent",
    "@at",
    "`tick",
    "'single'",
    '"double"',
    "back\\slash",
    " leading",
    "trailing ",
    "two  spaces",
    "<<",
    "=",
    "|",
    ">",
    "ünïcödé ✓ 🎉",
    "\u200bzero-width",
    "\ufeffbom",
    "\u00a0nbsp",
    "x" * 300,
]


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_tricky_strings_round_trip(value):
    link = Link.model_validate(
        {
            "domain": "go.localhost",
            "slug": "a",
            "url": "https://shop.example/?q=" + value.strip().replace(" ", "%20")[:50]
            if "\\" not in value and not any(c.isspace() for c in value)
            else "https://shop.example/",
            "campaign": value,
            "tags": [value, "plain", value],
            "utm": {"source": value, "content": value},
            "rules": [
                {
                    "when": {"os": [value], "query": {value: value, "p": True}},
                    "url": "https://x.example/",
                }
            ],
        }
    ).spec()
    audience = {
        "id": "a",
        "match": {"campaigns": [value], "tags": [value]},
        "window_days": 30,
        "send_to": [],
    }
    again, _ = round_trip(DOMAINS[:1], {}, [audience], [link])
    assert again[3] == [link]
    assert again[2] == [audience]


@pytest.mark.parametrize(
    "slug", ["007", "1e3", "true", "NO", "null", "0x1F", "2026-01-01", "_x"[1:]]
)
def test_slugs_that_look_like_other_things_round_trip(slug):
    link = Link(domain="go.localhost", slug=slug, url="https://shop.example/").spec()
    again, _ = round_trip(DOMAINS[:1], {}, [], [link])
    assert again[3][0]["slug"] == slug


# ------------------------------------------------------------------------------- hypothesis

TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
)
URL_CHARS = st.characters(
    exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="\\#?\u0085"
)
URLS = st.builds(
    lambda scheme, host, path, query: f"{scheme}://{host}/{path}{query}",
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(
        ["shop.example", "shop.example:8443", "xn--bcher-kva.example", "bücher.example", "[::1]"]
    ),
    st.text(alphabet=URL_CHARS, max_size=20),
    st.sampled_from(["", "?a=1", "?q=%20x&y", "?utm_source=x#frag"]),
)
SLUGS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", fullmatch=True)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
)
WHEN = st.fixed_dictionaries(
    {},
    optional={
        "device": st.lists(
            st.sampled_from(["ios", "android", "mobile", "tablet", "desktop"]),
            min_size=1,
            max_size=3,
        ),
        "os": st.lists(TEXT, min_size=1, max_size=3),
        "browser": st.lists(TEXT, min_size=1, max_size=3),
        "country": st.lists(
            st.sampled_from(["DE", "AT", "NO", "ON"[::-1], "US", "GB", "YE"]),
            min_size=1,
            max_size=3,
        ),
        "language": st.lists(
            st.sampled_from(["de", "de-AT", "en-GB", "zh-Hant-TW", "no"]), min_size=1, max_size=3
        ),
        "query": st.dictionaries(
            TEXT, st.one_of(TEXT, st.booleans(), st.just("")), min_size=1, max_size=3
        ),
        "after": TIMES,
    },
).filter(bool)
UTM = st.fixed_dictionaries(
    {}, optional={k: TEXT for k in ("source", "medium", "campaign", "term", "content")}
)


@st.composite
def links(draw):
    raw = {
        "domain": draw(
            st.sampled_from(["go.localhost", "Bücher.example", "xn--bcher-kva.example"])
        ),
        "slug": draw(SLUGS),
        "url": draw(URLS),
        "redirect": draw(st.sampled_from([301, 302, 307, 308])),
        "mode": draw(st.sampled_from(["redirect", "pixel"])),
        "tags": draw(st.lists(TEXT, max_size=4)),
        "utm": draw(UTM),
        "forward_query": draw(st.booleans()),
        "track_conversions": draw(st.booleans()),
        "rules": draw(st.lists(st.fixed_dictionaries({"when": WHEN, "url": URLS}), max_size=3)),
    }
    if draw(st.booleans()):
        raw["campaign"] = draw(TEXT)
    if draw(st.booleans()):
        raw["split"] = draw(
            st.lists(
                st.fixed_dictionaries({"url": URLS, "weight": st.integers(1, 10_000)}),
                min_size=2,
                max_size=4,
            )
        )
    times = sorted(draw(st.lists(TIMES, min_size=2, max_size=2, unique=True)))
    if draw(st.booleans()):
        raw["starts_at"] = times[0]
    if draw(st.booleans()):
        raw["expires_at"] = times[1].isoformat()  # a string, as JSON would bring it
        raw["expired_url"] = draw(URLS)
    if draw(st.booleans()):
        raw["max_clicks"] = draw(st.integers(1, 10**12))
    return Link.model_validate(raw).spec()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(links(), min_size=1, max_size=3, unique_by=lambda x: (x["domain"], x["slug"].lower()))
)
def test_generated_links_round_trip(generated):
    again, _ = round_trip(DOMAINS, {}, [], generated)
    assert again[3] == generated
