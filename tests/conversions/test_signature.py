"""The Rebound-Signature header: what verifies, what does not, and why."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.conversions.signature import SignatureError, parse_header, sign, verify
from rebound.sign import sign as cli_sign

SECRET = "whsec-test-7f3a"
BODY = b'{"event":"lead","event_id":"L-1"}'
T = 1_795_000_000


def test_the_header_is_t_and_the_hmac_of_t_dot_body():
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET, T) == f"t={T},v1={expected}"


def test_the_cli_signs_exactly_like_the_server_verifies():
    assert cli_sign is sign  # one implementation, not a copy that could drift
    assert cli_sign(BODY, SECRET, T) == sign(BODY, SECRET, T)
    assert verify(cli_sign(BODY, SECRET, T), BODY, SECRET, now=T) == T


@given(st.binary(max_size=2048), st.text(min_size=1, max_size=64), st.integers(0, 2**33))
def test_any_body_signed_now_verifies(body, secret, t):
    assert verify(sign(body, secret, t), body, secret, now=t) == t


def test_one_changed_byte_fails():
    header = sign(BODY, SECRET, T)
    with pytest.raises(SignatureError, match="does not match"):
        verify(header, BODY.replace(b"L-1", b"L-2"), SECRET, now=T)


def test_another_secret_fails():
    with pytest.raises(SignatureError, match="does not match"):
        verify(sign(BODY, "another-secret", T), BODY, SECRET, now=T)


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_a_timestamp_more_than_five_minutes_away_fails_either_way(skew):
    with pytest.raises(SignatureError, match="300 seconds"):
        verify(sign(BODY, SECRET, T), BODY, SECRET, now=T + skew)


@pytest.mark.parametrize("skew", [300, -300, 0])
def test_a_timestamp_within_five_minutes_passes(skew):
    assert verify(sign(BODY, SECRET, T), BODY, SECRET, now=T + skew) == T


def test_the_timestamp_is_signed_too():
    mac = sign(BODY, SECRET, T).split("v1=")[1]
    with pytest.raises(SignatureError, match="does not match"):
        verify(f"t={T + 1},v1={mac}", BODY, SECRET, now=T)


def test_several_v1_values_one_matching_is_enough_for_secret_rotation():
    old = sign(BODY, "old-secret", T).split("v1=")[1]
    new = sign(BODY, SECRET, T).split("v1=")[1]
    assert verify(f"t={T},v1={old},v1={new}", BODY, SECRET, now=T) == T
    assert verify(f"t={T}, v1={new.upper()} , v0=whatever", BODY, SECRET, now=T) == T


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=" + "a" * 64, "no t="),
        (f"t={T}", "no v1="),
        (f"t={T},v1=abc", "64 hex"),
        (f"t=soon,v1={'a' * 64}", "unix seconds"),
        (f"t={T},t={T},v1={'a' * 64}", "once"),
        (f"t={T};v1={'a' * 64}", "t must be unix seconds"),
        ("garbage", "malformed"),
        (f"t={T}," + ",".join(["v1=" + "a" * 64] * 9), "more than 8"),
        ("t=1," + "x" * 3000, "too long"),
    ],
)
def test_malformed_headers_are_refused_with_a_reason(header, reason):
    with pytest.raises(SignatureError, match=reason):
        parse_header(header)
