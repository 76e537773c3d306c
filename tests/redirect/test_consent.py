"""Consent: privacy signals deny; explicit choice (param over cookie); require_in; else not required."""

from __future__ import annotations

import pytest

from chalicelib.redirect.consent import read_consent
from tests.redirect.factories import facts

HONOUR_ALL = {"honor_gpc": True, "honor_dnt": True, "require_in": ["DE", "AT"]}
HONOUR_NONE = {"honor_gpc": False, "honor_dnt": False, "require_in": []}


def consent(settings=HONOUR_ALL, country=None, query=None, **headers):
    return read_consent(facts(query=query, **headers), settings, country)


def test_no_signal_outside_required_countries_is_not_required():
    assert consent(country="US").state == "not_required"
    assert consent(country=None).state == "not_required"


def test_a_visitor_from_a_require_in_country_without_a_grant_is_denied():
    assert consent(country="DE").state == "denied"


def test_an_explicit_grant_in_a_require_in_country_is_granted():
    assert consent(country="DE", query="rb_consent=1").state == "granted"
    assert consent(country="DE", cookie="rb_consent=1").state == "granted"


def test_gpc_denies_when_honoured_and_wins_over_a_grant():
    assert consent(sec_gpc="1").state == "denied"
    assert consent(sec_gpc="1", query="rb_consent=1", cookie="rb_consent=1").state == "denied"
    assert consent(HONOUR_NONE, sec_gpc="1").state == "not_required"


def test_dnt_denies_when_honoured():
    assert consent(dnt="1").state == "denied"
    assert consent(dnt="1", query="rb_consent=1").state == "denied"
    assert consent(HONOUR_NONE, dnt="1").state == "not_required"
    assert consent(dnt="0").state == "not_required"


def test_the_parameter_wins_over_the_cookie():
    assert consent(query="rb_consent=0", cookie="rb_consent=1").state == "denied"
    assert consent(query="rb_consent=1", cookie="rb_consent=0").state == "granted"


def test_an_explicit_refusal_denies_everywhere():
    assert consent(country="US", cookie="rb_consent=0").state == "denied"


@pytest.mark.parametrize("value", ["yes", "", "2", "true", "%00"])
def test_invalid_consent_values_are_ignored(value):
    assert consent(country="US", query=f"rb_consent={value}").state == "not_required"
    assert consent(country="DE", cookie=f"rb_consent={value}").state == "denied"


def test_a_grant_by_parameter_is_remembered_in_a_cookie():
    result = consent(query="rb_consent=1", x_forwarded_proto="https")
    assert result.set_cookies == (
        "rb_consent=1; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure",
    )
    assert consent(query="rb_consent=1", cookie="rb_consent=1").set_cookies == ()


def test_a_refusal_by_parameter_replaces_a_remembered_grant():
    result = consent(query="rb_consent=0", cookie="rb_consent=1")
    assert result.set_cookies == ("rb_consent=0; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax",)


def test_a_privacy_signal_removes_a_remembered_grant_and_sets_nothing_else():
    assert consent(sec_gpc="1", cookie="rb_consent=1").set_cookies == (
        "rb_consent=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
    )
    assert consent(sec_gpc="1").set_cookies == ()
    assert consent(country="DE").set_cookies == ()
