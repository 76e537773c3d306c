"""`consent.unknown_country`: with require_in set, a visitor whose country is unknown counts as
inside the region unless the domain opts out; the setting goes from links.yaml to what the
redirect reads and into the schema."""

from __future__ import annotations

import pytest

from chalicelib.config.loader import config_schema, load_config_text
from chalicelib.links.record import site_of
from tests.config.helpers import at, one_issue


def domain(consent: str) -> str:
    return f"version: 1\ndomains:\n  - name: go.localhost\n    consent: {consent}\n"


def test_an_unknown_country_is_denied_by_default():
    (spec,) = [d.spec() for d in load_config_text(domain("{require_in: [EU]}"), "f").domains]
    assert spec["consent"]["unknown_country"] == "deny"
    assert site_of(spec)["consent"]["unknown_country"] == "deny"


def test_a_domain_can_opt_out_explicitly():
    text = domain("{require_in: [EU], unknown_country: allow}")
    (spec,) = [d.spec() for d in load_config_text(text, "f").domains]
    assert spec["consent"]["unknown_country"] == "allow"
    assert site_of(spec)["consent"]["unknown_country"] == "allow"


@pytest.mark.parametrize("value", ["maybe", "yes", "true", "ALLOW", "2"])
def test_anything_but_allow_or_deny_is_an_error_naming_the_field(value):
    text = domain(f"{{require_in: [EU], unknown_country: {value}}}")
    issue = one_issue(text)
    assert issue.field == "domains[0].consent.unknown_country"
    assert "'deny'" in issue.message and "'allow'" in issue.message
    assert (issue.line, issue.col) == at(text, value)


@pytest.mark.parametrize("stored", [{}, {"unknown_country": None}, {"unknown_country": "nope"}])
def test_a_stored_domain_without_a_valid_setting_fails_closed(stored):
    site = site_of({"name": "go.localhost", "consent": {"require_in": ["EU"], **stored}})
    assert site["consent"]["unknown_country"] == "deny"


def test_the_schema_offers_the_setting_to_editors():
    consent = config_schema()["$defs"]["Consent"]["properties"]["unknown_country"]
    assert consent["enum"] == ["deny", "allow"]
    assert consent["default"] == "deny"
    assert "require_in" in consent["description"]
