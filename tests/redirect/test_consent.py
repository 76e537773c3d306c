"""Consent: privacy signals deny; a first-party choice (the cookie /_/consent sets) grants or denies;
a query parameter may only deny; require_in denies, an unknown country inside it too; else not
required."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.redirect.consent import needs_choice, read_consent
from tests.redirect.factories import facts

HONOUR_ALL = {"honor_gpc": True, "honor_dnt": True, "require_in": ["DE", "AT"]}
HONOUR_NONE = {"honor_gpc": False, "honor_dnt": False, "require_in": []}
UNKNOWN_ALLOWED = {**HONOUR_ALL, "unknown_country": "allow"}


def consent(settings=HONOUR_ALL, country="US", query=None, **headers):
    return read_consent(facts(query=query, **headers), settings, country)


def test_no_signal_outside_required_countries_is_not_required():
    assert consent(country="US") == ("not_required", "default", ())
    assert consent(HONOUR_NONE, country=None).state == "not_required"


def test_a_visitor_from_a_require_in_country_without_a_choice_is_denied():
    assert consent(country="DE")[:2] == ("denied", "region")


# --- Finding 1: only the visitor's own first-party choice grants -------------------------------


def test_query_parameter_never_grants_consent():
    assert consent(country="DE", query="rb_consent=1")[:2] == ("denied", "region")
    assert consent(country="US", query="rb_consent=1")[:2] == ("not_required", "default")
    assert consent(country=None, query="rb_consent=1")[:2] == ("denied", "region_unknown")


def test_query_parameter_grant_sets_no_cookie_and_keeps_a_remembered_refusal():
    assert consent(country="DE", query="rb_consent=1").set_cookies == ()
    assert consent(country="US", query="rb_consent=1").set_cookies == ()
    refused = consent(country="DE", query="rb_consent=1", cookie="rb_consent=0")
    assert refused == ("denied", "cookie", ())


def test_a_referrer_carrying_a_grant_never_grants():
    assert (
        consent(country="DE", referer="https://go.example/_/consent?rb_consent=1").state == "denied"
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["rb_consent", "RB_CONSENT", "consent", "x"]),
            st.one_of(st.sampled_from(["1", " 1", "0"]), st.text()),
        ),
        max_size=6,
    ),
    st.sampled_from(["DE", "US", None]),
)
def test_no_query_string_ever_grants_or_sets_a_grant_cookie(pairs, country):
    result = consent(country=country, query=pairs)
    assert result.state != "granted"
    assert not any(c.startswith("rb_consent=1") for c in result.set_cookies)


def test_the_first_party_choice_cookie_grants_even_in_a_require_in_country():
    assert consent(country="DE", cookie="rb_consent=1")[:2] == ("granted", "cookie")
    assert consent(country=None, cookie="rb_consent=1")[:2] == ("granted", "cookie")


def test_a_query_parameter_may_deny_and_the_denial_is_remembered():
    result = consent(query="rb_consent=0", x_forwarded_proto="https")
    assert result[:2] == ("denied", "param")
    assert result.set_cookies == (
        "rb_consent=0; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure",
    )
    assert consent(query="rb_consent=0", cookie="rb_consent=0").set_cookies == ()


def test_a_refusal_by_parameter_replaces_a_remembered_grant():
    result = consent(query="rb_consent=0", cookie="rb_consent=1")
    assert result.state == "denied"
    assert result.set_cookies == ("rb_consent=0; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax",)


def test_an_explicit_refusal_denies_everywhere():
    assert consent(country="US", cookie="rb_consent=0")[:2] == ("denied", "cookie")


@pytest.mark.parametrize("value", ["yes", "", "2", "true", "%00", "1 1"])
def test_invalid_consent_values_are_ignored(value):
    assert consent(country="US", query=f"rb_consent={value}").state == "not_required"
    assert consent(country="DE", cookie=f"rb_consent={value}").state == "denied"


# --- Privacy signals ------------------------------------------------------------------------------


def test_gpc_denies_when_honoured_and_wins_over_a_grant():
    assert consent(sec_gpc="1")[:2] == ("denied", "gpc")
    assert consent(sec_gpc="1", cookie="rb_consent=1").state == "denied"
    assert consent(HONOUR_NONE, sec_gpc="1").state == "not_required"


def test_dnt_denies_when_honoured():
    assert consent(dnt="1")[:2] == ("denied", "dnt")
    assert consent(dnt="1", cookie="rb_consent=1").state == "denied"
    assert consent(HONOUR_NONE, dnt="1").state == "not_required"
    assert consent(dnt="0").state == "not_required"


@pytest.mark.parametrize("value", ["1, 1", "1,1", " 1 ,1", "0, 1", ["1", "1"]])
def test_a_repeated_gpc_header_still_denies(value):
    request = facts(sec_gpc=value) if isinstance(value, str) else facts(**{"sec-gpc": value})
    assert read_consent(request, HONOUR_ALL, "US")[:2] == ("denied", "gpc")


@pytest.mark.parametrize("value", ["1, 1", "1,1", ["1", "1"]])
def test_a_repeated_dnt_header_still_denies(value):
    request = facts(dnt=value) if isinstance(value, str) else facts(**{"dnt": value})
    assert read_consent(request, HONOUR_ALL, "US")[:2] == ("denied", "dnt")


@pytest.mark.parametrize("value", ["0", "0, 0", "", "11", "yes", "1x"])
def test_a_signal_that_is_not_on_does_not_deny(value):
    assert consent(sec_gpc=value, dnt=value).state == "not_required"


def test_a_privacy_signal_removes_a_remembered_grant_and_sets_nothing_else():
    assert consent(sec_gpc="1", cookie="rb_consent=1").set_cookies == (
        "rb_consent=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
    )
    assert consent(sec_gpc="1").set_cookies == ()
    assert consent(country="DE").set_cookies == ()


# --- Finding 2: require_in fails closed -----------------------------------------------------------


def test_an_unknown_country_counts_as_inside_require_in():
    assert consent(country=None)[:2] == ("denied", "region_unknown")
    assert consent({**HONOUR_ALL, "unknown_country": "deny"}, country=None).state == "denied"


def test_an_unknown_country_is_allowed_only_when_the_domain_opts_out():
    assert consent(UNKNOWN_ALLOWED, country=None)[:2] == ("not_required", "default")
    assert consent(UNKNOWN_ALLOWED, country="DE")[:2] == ("denied", "region")
    # Anything but the explicit opt-out keeps the safe default.
    for value in ("ALLOW", "yes", True, None, ""):
        assert consent({**HONOUR_ALL, "unknown_country": value}, country=None).state == "denied"


def test_an_unknown_country_without_require_in_is_not_required():
    assert consent(HONOUR_NONE, country=None).state == "not_required"
    assert consent(None, country=None).state == "not_required"


# --- Who is asked ---------------------------------------------------------------------------------


def test_only_a_visitor_who_has_not_chosen_in_a_require_in_region_is_asked():
    assert needs_choice(consent(country="DE"))
    assert needs_choice(consent(country=None))
    assert not needs_choice(consent(country="US"))
    assert not needs_choice(consent(country="DE", cookie="rb_consent=0"))
    assert not needs_choice(consent(country="DE", cookie="rb_consent=1"))
    assert not needs_choice(consent(country="DE", query="rb_consent=0"))
    assert not needs_choice(consent(country="DE", sec_gpc="1"))
