"""What a valid file turns into: normalised values, defaults, and the `spec()` of each entity."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.config.loader import load_config, load_config_text
from chalicelib.config.model import Config, Link
from tests.config.helpers import HEAD, yaml

DESIGN_EXAMPLE = Path(__file__).parent / "fixtures" / "design_example.yaml"


def one_link(*lines: str) -> Link:
    text = HEAD + "links:\n  - domain: go.localhost\n    slug: a\n    url: https://shop.example/a\n"
    text += "".join(f"    {line}\n" for line in lines)
    return load_config_text(text, "f").links[0]


def test_design_example_loads():
    config = load_config(DESIGN_EXAMPLE)
    assert config.version == 1
    assert [d.name for d in config.domains] == ["go.localhost"]
    assert sorted(config.platform_specs()) == ["google", "linkedin", "meta", "tiktok"]
    (link,) = config.links
    assert link.spec() == {
        "domain": "go.localhost",
        "slug": "spring-sale",
        "url": "https://shop.example/sale",
        "redirect": 302,
        "mode": "redirect",
        "campaign": "spring",
        "tags": ["sale", "pricing"],
        "utm": {"source": "newsletter", "medium": "email", "campaign": "spring"},
        "forward_query": True,
        "track_conversions": True,
        "rules": [
            {"when": {"device": ["ios"]}, "url": "https://apps.apple.com/app/id1"},
            {
                "when": {"country": ["DE", "AT"], "language": ["de"]},
                "url": "https://shop.example/de/sale",
            },
        ],
        "split": [
            {"url": "https://shop.example/a", "weight": 70},
            {"url": "https://shop.example/b", "weight": 30},
        ],
        "starts_at": "2026-11-01T00:00:00Z",
        "expires_at": "2027-01-01T00:00:00Z",
        "max_clicks": 100000,
    }


def test_design_example_domain_audience_and_platform_specs():
    config = load_config(DESIGN_EXAMPLE)
    assert config.domains[0].spec() == {
        "name": "go.localhost",
        "root_url": "https://shop.example/",
        "not_found_url": "https://shop.example/missing",
        "consent": {
            "honor_gpc": True,
            "honor_dnt": True,
            "require_in": ["EU"],
            "unknown_country": "deny",
            "limited_data_use": False,
        },
        "conversion_secret": "ssm:/rebound/dev/go.localhost/conversion-secret",
    }
    assert config.audiences[0].spec() == {
        "id": "pricing-visitors",
        "match": {"tags": ["pricing"]},
        "window_days": 30,
        "send_to": ["meta", "tiktok"],
    }
    specs = config.platform_specs()
    assert specs["meta"] == {
        "pixel_id": "1234",
        "access_token": "ssm:/rebound/dev/meta-token",
        "test_event_code": "TEST123",
        "page_view_event": "PageView",
        "api_version": "v26.0",
        "dry_run": False,
    }
    assert specs["linkedin"] == {
        "conversion_rule": "urn:lla:llaPartnerConversion:1",
        "access_token": "secretsmanager:rebound/linkedin",
        "dry_run": False,
    }
    assert specs["google"]["ads_account_id"] == "1234567890"


def test_minimal_link_spec_has_every_default_and_no_nones():
    assert one_link().spec() == {
        "domain": "go.localhost",
        "slug": "a",
        "url": "https://shop.example/a",
        "redirect": 302,
        "mode": "redirect",
        "tags": [],
        "utm": {},
        "forward_query": True,
        "track_conversions": False,
        "rules": [],
    }


def test_minimal_domain_and_audience_specs():
    config = load_config_text(
        HEAD + "audiences: [{id: all, match: {domains: [go.localhost]}}]\n", "f"
    )
    assert config.domains[0].spec() == {
        "name": "go.localhost",
        "consent": {
            "honor_gpc": True,
            "honor_dnt": False,
            "require_in": [],
            "unknown_country": "deny",
            "limited_data_use": False,
        },
    }
    assert config.audiences[0].spec() == {
        "id": "all",
        "match": {"domains": ["go.localhost"]},
        "window_days": 30,
        "send_to": [],
    }
    assert config.audiences[0].min_clicks == 1
    assert config.audiences[0].exclude_converted is False


def test_design_example_engagement_tier():
    """A tier's spec keeps its fields; a plain audience's spec is what it was before tiers."""
    config = load_config(DESIGN_EXAMPLE)
    plain, hot = config.audiences
    assert "min_clicks" not in plain.spec() and "exclude_converted" not in plain.spec()
    assert hot.spec() == {
        "id": "hot-pricing",
        "match": {"tags": ["pricing"]},
        "window_days": 7,
        "min_clicks": 3,
        "exclude_converted": True,
        "send_to": ["meta", "tiktok"],
    }


def test_schema_describes_the_tier_fields():
    from chalicelib.config.model import Audience

    props = Audience.model_json_schema()["properties"]
    assert props["min_clicks"]["minimum"] == 1 and props["min_clicks"]["default"] == 1
    assert props["exclude_converted"]["default"] is False
    assert "tier" in props["min_clicks"]["description"]


def test_platform_specs_only_lists_configured_platforms_with_defaults():
    config = load_config_text(
        yaml(
            """
            version: 1
            platforms:
              pinterest: {ad_account_id: 549755885175, access_token: ssm:/p}
              reddit: {pixel_id: t2_abc, access_token: secretsmanager:rebound/reddit, dry_run: true}
              snapchat:
            """
        ),
        "f",
    )
    assert config.platform_specs() == {
        "pinterest": {
            "ad_account_id": "549755885175",
            "access_token": "ssm:/p",
            "test": False,
            "dry_run": False,
        },
        "reddit": {
            "pixel_id": "t2_abc",
            "access_token": "secretsmanager:rebound/reddit",
            "dry_run": True,
        },
    }


def test_domain_names_are_lower_cased_and_idna_encoded():
    text = yaml(
        """
        version: 1
        domains: [{name: Go.Bücher.Example.}]
        links: [{domain: go.bücher.example, slug: a, url: https://bücher.example/ä}]
        """
    )
    config = load_config_text(text, "f")
    assert config.domains[0].name == "go.xn--bcher-kva.example"
    assert config.links[0].domain == "go.xn--bcher-kva.example"
    assert config.links[0].url == "https://bücher.example/ä"  # URLs are kept as written


def test_urls_are_kept_exactly_as_written():
    url = "HTTPS://Shop.Example:8443/Path/%7Euser?q=a+b&Q=%41#Frag"
    assert one_link(f"rules: [{{when: {{os: [iOS]}}, url: '{url}'}}]").rules[0].url == url


def test_ids_and_text_are_quote_insensitive_and_keep_what_was_written():
    text = yaml(
        """
        version: 1
        domains: [{name: go.localhost}]
        platforms:
          meta: {pixel_id: 0123456789, access_token: ssm:/t}
          linkedin: {conversion_rule: "urn:lla:llaPartnerConversion:1", access_token: ssm:/l, version: 202601}
        links:
          - domain: go.localhost
            slug: 007
            url: https://shop.example/
            campaign: 2024
            tags: [1.50, 2026-01-01, 1e3]
            utm: {content: 0x1F}
            rules: [{when: {query: {ref: 042, on: true, off: false}}, url: https://x.example/}]
        """
    )
    config = load_config_text(text, "f")
    assert config.platforms.meta.pixel_id == "0123456789"
    assert config.platforms.linkedin.version == "202601"
    link = config.links[0]
    assert (link.slug, link.campaign, link.tags) == ("007", "2024", ["1.50", "2026-01-01", "1e3"])
    assert link.utm.content == "0x1F"
    assert link.rules[0].when.query == {"ref": "042", "on": True, "off": False}


def test_slug_keeps_its_case():
    assert one_link().model_copy().slug == "a"
    text = HEAD + "links: [{domain: go.localhost, slug: Spring-Sale, url: https://x.example/}]\n"
    assert load_config_text(text, "f").links[0].slug == "Spring-Sale"


@pytest.mark.parametrize(
    ("written", "spec"),
    [
        ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),
        ("2026-11-01T00:00:00", "2026-11-01T00:00:00Z"),  # naive: UTC
        ("2026-11-01 02:30:00+02:00", "2026-11-01T00:30:00Z"),
        ("2026-11-01", "2026-11-01T00:00:00Z"),
        ("'2026-11-01T09:00:00-05:00'", "2026-11-01T14:00:00Z"),
        ("2026-11-01T00:00:00.250Z", "2026-11-01T00:00:00.250000Z"),
    ],
)
def test_times_are_utc_with_z(written, spec):
    link = one_link(f"expires_at: {written}")
    assert link.spec()["expires_at"] == spec
    assert link.expires_at.tzinfo is UTC
    assert type(link.expires_at) is datetime


def test_condition_values_are_normalised():
    when = (
        one_link(
            "rules: [{when: {device: [iOS, Desktop], country: [de, At], language: [DE_at, zh-hant-tw, en]},"
            " url: https://x.example/}]"
        )
        .rules[0]
        .when
    )
    assert when.device == ["ios", "desktop"]
    assert when.country == ["DE", "AT"]
    assert when.language == ["de-AT", "zh-Hant-TW", "en"]


def test_consent_regions_and_countries_are_upper_cased():
    text = "version: 1\ndomains: [{name: a.example, consent: {require_in: [eu, eea, ch]}, default_country: de}]\n"
    domain = load_config_text(text, "f").domains[0]
    assert domain.consent.require_in == ["EU", "EEA", "CH"]
    assert domain.default_country == "DE"


def test_empty_sections_are_empty():
    config = load_config_text("version: 1\ndomains:\nplatforms:\naudiences:\nlinks:\n", "f")
    assert (config.domains, config.audiences, config.links, config.platform_specs()) == (
        [],
        [],
        [],
        {},
    )


def test_yaml_anchors_and_merge_keys_work():
    text = yaml(
        """
        version: 1
        domains: [{name: go.localhost}]
        links:
          - &base
            domain: go.localhost
            slug: a
            url: https://shop.example/a
            tags: [sale]
            utm: {source: newsletter}
          - <<: *base
            slug: b
            url: https://shop.example/b
        """
    )
    a, b = load_config_text(text, "f").links
    assert (b.slug, b.url, b.tags, b.utm.source) == (
        "b",
        "https://shop.example/b",
        ["sale"],
        "newsletter",
    )
    assert a.slug == "a"


def test_merge_key_errors_point_into_the_merged_mapping():
    text = yaml(
        """
        version: 1
        domains: [{name: go.localhost}]
        links:
          - &base {domain: go.localhost, slug: a, url: https://x.example/, redirect: 303}
          - {<<: *base, slug: b}
        """
    )
    from tests.config.helpers import issues_of

    issues = issues_of(text)
    assert [(i.field, i.line) for i in issues] == [
        ("links[0].redirect", 4),
        ("links[1].redirect", 4),
    ]


def test_config_model_validate_checks_references_too():
    with pytest.raises(ValueError, match=r"links\[0\]\.domain: unknown domain b\.example"):
        Config.model_validate(
            {
                "version": 1,
                "domains": [{"name": "a.example"}],
                "links": [{"domain": "b.example", "slug": "x", "url": "https://x.example/"}],
            }
        )


def test_config_model_validate_never_prints_a_literal_secret():
    literal = "EAAB-super-secret-token"
    with pytest.raises(ValueError) as caught:
        Config.model_validate(
            {"version": 1, "platforms": {"meta": {"pixel_id": "1", "access_token": literal}}}
        )
    assert literal not in str(caught.value)


def test_specs_are_json_values():
    import json

    config = load_config(DESIGN_EXAMPLE)
    for spec in [x.spec() for x in config.links] + list(config.platform_specs().values()):
        assert json.loads(json.dumps(spec)) == spec


def test_times_compare_as_aware_datetimes():
    link = one_link("starts_at: 2026-01-01", "expires_at: 2026-02-01T00:00:00+01:00")
    assert link.starts_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert link.expires_at == datetime(2026, 1, 31, 23, tzinfo=UTC)
