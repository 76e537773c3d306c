"""Values a hostile or careless config could use against visitors or the platform credentials:
look-alike hosts, secrets the stage's functions cannot read, endpoints that would receive tokens."""

from __future__ import annotations

import pytest

from chalicelib.config.loader import ConfigError, load_config_text
from chalicelib.platforms.endpoints import endpoint_permitted, endpoints_allowed
from tests.config.helpers import FILE, HEAD, assert_issue, at, yaml


def link_to(url: str) -> str:
    return HEAD + f"links:\n  - domain: go.localhost\n    slug: a\n    url: '{url}'\n"


@pytest.mark.parametrize(
    ("host", "what"),
    [
        ("shop\uff0eexample", "U+FF0E"),  # fullwidth full stop: browsers read it as a dot
        ("shop\u200b.example", "U+200B"),  # zero-width space
        ("shop.exa\u202emple", "U+202E"),  # right-to-left override
        ("shop.\u00adexample", "U+00AD"),  # soft hyphen: invisible
        ("p\u0430ypal.example", "mixes"),  # Cyrillic a among Latin letters
        ("xn--pypal-4ve.example", "mixes"),  # the same, written as punycode
    ],
    ids=["fullwidth-dot", "zero-width-space", "bidi-override", "soft-hyphen", "mixed", "punycode"],
)
def test_a_look_alike_host_in_a_destination_is_rejected_at_its_field(host, what):
    text = link_to(f"https://{host}/sale")
    assert_issue(text, "links[0].url", "'https://", what)


@pytest.mark.parametrize(
    "field_yaml, field",
    [
        (
            "    rules: [{when: {os: [iOS]}, url: 'https://sh\u200bop.example/'}]\n",
            "links[0].rules[0].url",
        ),
        ("    expired_url: 'https://shop\uff0eexample/'\n", "links[0].expired_url"),
    ],
)
def test_every_url_field_refuses_look_alike_hosts(field_yaml, field):
    text = link_to("https://shop.example/") + field_yaml
    (issue,) = _issues(text)
    assert issue.field == field


@pytest.mark.parametrize(
    "url",
    [
        "https://bücher.example/ä",  # one script: fine
        "https://xn--bcher-kva.example/",
        "https://例え.テスト/",  # Han with Katakana: one writing system
        "https://пример.испытание/",  # all Cyrillic
        "https://Shop.Example:8443/Path",
    ],
)
def test_honest_international_hosts_pass(url):
    assert load_config_text(link_to(url), FILE).links[0].url == url


# --- secrets outside the stage's path ------------------------------------------------------------


def staged(text: str, stage: str = "dev", **kwargs):
    return load_config_text(text, FILE, stage=stage, **kwargs)


def _issues(text: str, **kwargs):
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, FILE, **kwargs)
    return caught.value.issues


@pytest.mark.parametrize(
    "ref",
    ["ssm:/rebound/prod/meta-token", "ssm:/other/meta-token", "secretsmanager:rebound/prod/x"],
)
def test_a_secret_outside_the_stage_path_is_rejected_naming_the_allowed_prefix(ref):
    text = yaml(
        f"""
        version: 1
        platforms:
          meta: {{pixel_id: "1", access_token: {ref}}}
        """
    )
    (issue,) = _issues(text, stage="dev")
    assert issue.field == "platforms.meta.access_token"
    assert (issue.line, issue.col) == at(text, ref)
    assert "ssm:/rebound/dev/" in issue.message and "secretsmanager:rebound/dev/" in issue.message


def test_secrets_under_the_stage_path_pass():
    text = yaml(
        """
        version: 1
        domains:
          - {name: go.localhost, conversion_secret: ssm:/rebound/dev/go.localhost/conversion-secret}
        platforms:
          meta: {pixel_id: "1", access_token: secretsmanager:rebound/dev/meta-token}
        """
    )
    assert staged(text).platforms.meta.access_token == "secretsmanager:rebound/dev/meta-token"


def test_a_conversion_secret_must_be_one_the_public_function_may_read():
    text = yaml(
        """
        version: 1
        domains:
          - {name: go.localhost, conversion_secret: ssm:/rebound/dev/meta-token}
        """
    )
    (issue,) = _issues(text, stage="dev")
    assert issue.field == "domains[0].conversion_secret"
    assert "conversion-secret" in issue.message


# --- endpoint overrides --------------------------------------------------------------------------

ENDPOINT = yaml(
    """
    version: 1
    platforms:
      meta: {pixel_id: "1", access_token: ssm:/rebound/prod/t, endpoint: "https://collector.example/"}
    """
)


def test_an_endpoint_is_refused_where_the_stage_does_not_permit_it():
    (issue,) = _issues(ENDPOINT, stage="prod", allow_endpoints=False)
    assert issue.field == "platforms.meta.endpoint"
    assert (issue.line, issue.col) == at(ENDPOINT, '"https://collector')
    assert "REBOUND_ALLOW_ENDPOINTS" in issue.message and "prod" in issue.message


def test_an_endpoint_is_accepted_where_the_stage_permits_it():
    config = staged(ENDPOINT, stage="prod", allow_endpoints=True)
    assert config.platforms.meta.endpoint == "https://collector.example/"


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({"REBOUND_STAGE": "local"}, True),
        ({"REBOUND_STAGE": "prod"}, False),
        ({"REBOUND_STAGE": "dev"}, False),
        ({"REBOUND_STAGE": "prod", "REBOUND_ALLOW_ENDPOINTS": "true"}, True),
        ({"REBOUND_STAGE": "local", "REBOUND_ALLOW_ENDPOINTS": "false"}, False),
    ],
)
def test_the_run_time_check_follows_the_stage(env, allowed):
    assert endpoints_allowed(env) is allowed
    assert endpoint_permitted("https://collector.example/", env) is allowed
    assert endpoint_permitted(None, env) is True
