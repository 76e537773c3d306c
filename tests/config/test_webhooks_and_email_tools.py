"""The `webhooks:` section and the email tools' entries in links.yaml."""

from __future__ import annotations

import pytest

from chalicelib.config.loader import ConfigError, load_config_text
from chalicelib.links.plan import Specs, desired_docs
from chalicelib.links.record import link_key, webhook_key
from tests.config.helpers import FILE, at, yaml

CONFIG = yaml(
    """
    version: 1
    domains:
      - name: go.localhost
    platforms:
      klaviyo: {api_key: ssm:/rebound/prod/klaviyo-key}
      kit: {api_key: ssm:/rebound/prod/kit-key, tags: {lead: 4100001, purchase: 4100002}}
    audiences:
      - id: leads
        match: {campaigns: [spring]}
        send_to: [klaviyo, kit]
    links:
      - {domain: go.localhost, slug: spring-sale, url: "https://shop.example/sale", campaign: spring}
      - {domain: go.localhost, slug: other, url: "https://shop.example/other"}
    webhooks:
      - id: crm
        url: {url}
        secret: ssm:/rebound/prod/webhook-crm
        events: [click, lead, purchase]
        match: {campaigns: [spring]}
      - id: everything
        url: "https://hooks.example.com/all"
        secret: ssm:/rebound/prod/webhook-all
        events: [custom]
        personal_data: plain
    """
)


def load(url: str = '"https://hooks.example.com/rebound"', **kwargs):
    return load_config_text(CONFIG.replace("{url}", url), FILE, **kwargs)


def issues(text: str, **kwargs):
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, FILE, **kwargs)
    return caught.value.issues


def test_email_tools_are_audience_destinations_and_webhooks_a_section():
    config = load()
    assert config.audiences[0].send_to == ["klaviyo", "kit"]
    assert [w.id for w in config.webhooks] == ["crm", "everything"]
    assert (
        config.webhooks[1].personal_data == "plain" and config.webhooks[0].personal_data == "hashed"
    )


def test_apply_stores_each_webhook_and_the_webhooks_that_match_each_link():
    docs = desired_docs(Specs.from_config(load()))
    assert docs[webhook_key("crm")][2]["spec"]["url"] == "https://hooks.example.com/rebound"
    spring = docs[link_key("go.localhost", "spring-sale")][2]
    other = docs[link_key("go.localhost", "other")][2]
    assert [w["id"] for w in spring["webhooks"]] == ["crm", "everything"]
    assert [w["id"] for w in other["webhooks"]] == ["everything"]  # no match: every link
    assert {w["id"]: w["events"] for w in spring["webhooks"]}["crm"] == [
        "click",
        "lead",
        "purchase",
    ]


def test_a_config_without_webhooks_stores_link_docs_without_the_key():
    text = (
        CONFIG.split("    webhooks:")[0]
        if "    webhooks:" in CONFIG
        else CONFIG.split("webhooks:")[0]
    )
    config = load_config_text(text, FILE)
    docs = desired_docs(Specs.from_config(config))
    assert "webhooks" not in docs[link_key("go.localhost", "spring-sale")][2]


@pytest.mark.parametrize(
    "url",
    [
        '"http://127.0.0.1:9000/hook"',
        '"https://10.0.0.5/hook"',
        '"http://169.254.169.254/latest/meta-data"',
        '"http://[::1]/hook"',
        '"http://localhost:8080/hook"',
        '"https://192.168.1.20/hook"',
    ],
)
def test_production_refuses_a_webhook_to_this_networks_own_addresses(url):
    (issue,) = issues(CONFIG.replace("{url}", url), stage="prod", allow_endpoints=False)
    assert issue.field == "webhooks[0].url"
    assert (issue.line, issue.col) == at(CONFIG.replace("{url}", url), url)
    assert "stage prod refuses a webhook to" in issue.message


def test_the_local_stack_allows_a_loopback_webhook():
    text = CONFIG.replace("{url}", '"http://127.0.0.1:9000/hook"').replace("/prod/", "/local/")
    config = load_config_text(text, FILE, stage="local", allow_endpoints=True)
    assert config.webhooks[0].url == "http://127.0.0.1:9000/hook"


def test_duplicate_webhook_ids_and_literal_secrets_are_refused():
    text = CONFIG.replace("{url}", '"https://h.example/x"').replace("id: everything", "id: crm")
    (issue,) = issues(text)
    assert issue.field == "webhooks[1].id" and "duplicate webhook crm" in issue.message
    text = CONFIG.replace("{url}", '"https://h.example/x"').replace(
        "secret: ssm:/rebound/prod/webhook-crm", "secret: hunter2-literal"
    )
    (issue,) = issues(text)
    assert issue.field == "webhooks[0].secret" and "hunter2" not in issue.message


def test_a_webhook_needs_at_least_one_known_event():
    text = CONFIG.replace("{url}", '"https://h.example/x"').replace(
        "events: [custom]", "events: [pageview]"
    )
    (issue,) = issues(text)
    assert issue.field.startswith("webhooks[1].events")


def test_kit_needs_its_tag_ids():
    text = CONFIG.replace("{url}", '"https://h.example/x"').replace(
        ", tags: {lead: 4100001, purchase: 4100002}", ""
    )
    (issue,) = issues(text)
    assert issue.field == "platforms.kit.tags"
