"""visitor_id: the first-party cookie where consent allows, else a daily salted hash."""

from __future__ import annotations

import re

import pytest

from tests.redirect.factories import CHROME, FIREFOX_MAC, facts, site, visitor

VID = "0123456789abcdef0123456789abcdef"
COOKIE_RE = re.compile(r"rb_vid=([0-9a-f]{32}); Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax")


def test_a_valid_cookie_is_the_visitor_id_and_nothing_is_set():
    seen = visitor(facts(cookie=f"other=1; rb_vid={VID}"))
    assert seen.visitor_id == VID
    assert seen.set_cookies == ()


@pytest.mark.parametrize(
    "cookie", [None, "rb_vid=", "rb_vid=short", f"rb_vid={VID.upper()}", "rb_vid=<script>"]
)
def test_a_missing_or_malformed_cookie_mints_a_new_id_and_sets_it(cookie):
    headers = {"cookie": cookie} if cookie else {}
    seen = visitor(facts(**headers))
    assert re.fullmatch(r"[0-9a-f]{32}", seen.visitor_id) and seen.visitor_id != VID
    (set_cookie,) = seen.set_cookies
    assert COOKIE_RE.fullmatch(set_cookie).group(1) == seen.visitor_id


def test_the_cookie_is_secure_over_https():
    (cookie,) = visitor(facts(cloudfront_forwarded_proto="https")).set_cookies
    assert cookie.endswith("; Secure")
    (cookie,) = visitor(facts(x_forwarded_proto="http")).set_cookies
    assert "Secure" not in cookie


def test_minted_ids_are_random():
    assert visitor(facts()).visitor_id != visitor(facts()).visitor_id


def test_denied_consent_sets_no_cookie_and_ignores_an_existing_one():
    seen = visitor(facts(sec_gpc="1"))
    assert seen.consent == "denied"
    assert seen.set_cookies == ()
    with_cookie = visitor(facts(sec_gpc="1", cookie=f"rb_vid={VID}"))
    assert with_cookie.visitor_id != VID
    assert with_cookie.visitor_id == seen.visitor_id  # the same hash: the cookie is not read
    # ... and the leftover identifier cookie is deleted.
    assert with_cookie.set_cookies == ("rb_vid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",)


def test_denied_visitor_id_is_a_salted_hash_of_domain_ip_and_user_agent():
    from chalicelib.redirect import read_visitor

    def vid(salt=b"day-1", ip="203.0.113.7", ua=CHROME, host="go.example"):
        return read_visitor(facts(ua=ua, ip=ip, host=host, dnt="1"), site(), salt=salt).visitor_id

    assert re.fullmatch(r"[0-9a-f]{32}", vid())
    assert vid() == vid()
    assert vid() != vid(salt=b"day-2")
    assert vid() != vid(ip="203.0.113.8")
    assert vid() != vid(ua=FIREFOX_MAC)
    assert vid() != vid(host="other.example")
    assert vid(salt="text-salt") == vid(salt=b"text-salt")


def test_a_salt_callable_is_called_only_when_the_hash_is_needed():
    from chalicelib.redirect import read_visitor

    calls = []

    def salt() -> bytes:
        calls.append(1)
        return b"day-1"

    read_visitor(facts(), site(), salt=salt)
    assert calls == []
    hashed = read_visitor(facts(dnt="1"), site(), salt=salt).visitor_id
    assert calls == [1]
    assert hashed == read_visitor(facts(dnt="1"), site(), salt=b"day-1").visitor_id
