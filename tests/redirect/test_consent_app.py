"""Consent through the HTTP layer on moto: the first-party choice at /_/consent, a pixel link that
asks before any pixel, and what each click records."""

from __future__ import annotations

import json

import pytest

from chalicelib.links.plan import Specs
from tests.redirect.test_interstitial_app import CHROME, clicks, serve

HOST = "go.localhost"
SPECS = Specs(
    domains=[{"name": HOST, "consent": {"honor_gpc": True, "require_in": ["EU"]}}],
    platforms={
        "meta": {"pixel_id": "1234567890", "access_token": "ssm:/rebound/local/meta-token"},
        "tiktok": {"pixel_code": "C0DE1234", "access_token": "ssm:/rebound/local/tiktok-token"},
    },
    audiences=[{"id": "all", "match": {"tags": ["summer"]}, "send_to": ["meta", "tiktok"]}],
    links=[
        {
            "domain": HOST,
            "slug": "summer",
            "url": "https://shop.example/summer",
            "mode": "pixel",
            "tags": ["summer"],
            "track_conversions": True,
        },
        {"domain": HOST, "slug": "plain", "url": "https://shop.example/plain", "tags": ["summer"]},
    ],
)


@pytest.fixture
def http(aws):
    yield from serve(SPECS)


def get(http, path: str, **headers):
    return http.get(path, headers={"Host": HOST, "User-Agent": CHROME, **headers})


def choose(http, choice: str, back: str, **headers):
    return http.post(
        "/_/consent",
        headers={
            "Host": HOST,
            "User-Agent": CHROME,
            "Origin": f"http://{HOST}",
            "Content-Type": "application/x-www-form-urlencoded",
            **headers,
        },
        body=f"choice={choice}&return={back}".encode(),
    )


def cookies_of(response) -> list[str]:
    value = response.headers.get("Set-Cookie") or []
    return [value] if isinstance(value, str) else list(value)


def test_query_parameter_never_grants_consent_to_a_require_in_visitor(http):
    r = get(http, "/plain?rb_consent=1", **{"CloudFront-Viewer-Country": "DE"})
    assert r.status_code == 302
    assert not [c for c in cookies_of(r) if c.startswith("rb_consent=1")]
    (click,) = clicks()
    assert (click["consent"], click["platforms"]) == ("denied", [])


def test_a_visitor_whose_country_is_unknown_counts_as_inside_require_in(http):
    assert get(http, "/plain").status_code == 302  # no CloudFront-Viewer-Country
    (click,) = clicks()
    assert (click["consent"], click["platforms"]) == ("denied", [])


def test_the_consent_page_is_served_on_the_short_domain(http):
    r = get(http, "/_/consent?return=/summer")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["X-Robots-Tag"] == "noindex" and r.headers["Cache-Control"] == "no-store"
    body = r.body.decode()
    assert '<form method="post" action="/_/consent"' in body
    assert 'name="return" value="/summer"' in body
    assert clicks() == []  # the page is not a click


def test_accepting_on_the_consent_page_grants_and_returns_to_the_link(http):
    r = choose(http, "accept", "%2Fplain")
    assert r.status_code == 303 and r.headers["Location"] == "/plain"
    (cookie,) = cookies_of(r)
    assert cookie.startswith("rb_consent=1;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    back = get(http, "/plain", Cookie="rb_consent=1", **{"CloudFront-Viewer-Country": "DE"})
    assert back.status_code == 302
    (click,) = clicks()
    assert (click["consent"], click["platforms"]) == ("granted", ["meta", "tiktok"])


def test_a_cross_site_post_cannot_grant(http):
    r = choose(http, "accept", "%2Fplain", Origin="https://evil.example")
    assert r.status_code == 403 and cookies_of(r) == []
    r = choose(http, "accept", "%2Fplain", **{"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and cookies_of(r) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"choice=maybe", "application/x-www-form-urlencoded", 400),
        (b'{"choice": "accept"}', "application/json", 415),
        (b"\xff\xfe", "application/x-www-form-urlencoded", 400),
    ],
)
def test_bad_input_to_the_consent_page_is_a_4xx(http, body, content_type, status):
    r = http.post(
        "/_/consent",
        headers={"Host": HOST, "Origin": f"http://{HOST}", "Content-Type": content_type},
        body=body,
    )
    assert r.status_code == status


def test_a_pixel_link_asks_a_require_in_visitor_before_any_pixel_and_records_the_denial(http):
    r = get(http, "/summer?fbclid=IwAR-1", **{"CloudFront-Viewer-Country": "FR"})
    assert r.status_code == 200
    body = r.body.decode()
    assert (
        "<script" not in body and "connect.facebook.net" not in r.headers["Content-Security-Policy"]
    )
    assert 'name="return" value="/summer?fbclid=IwAR-1"' in body
    assert 'href="https://shop.example/summer?fbclid=IwAR-1&amp;rb_cid=' in body
    (click,) = clicks()
    assert (click["status"], click["consent"], click["platforms"]) == (200, "denied", [])


def test_after_accepting_the_pixel_link_loads_the_pixels_with_the_click_id(http):
    r = get(http, "/summer", Cookie="rb_consent=1", **{"CloudFront-Viewer-Country": "FR"})
    assert r.status_code == 200
    assert "https://connect.facebook.net" in r.headers["Content-Security-Policy"]
    (click,) = clicks()
    assert click["consent"] == "granted" and click["platforms"] == ["meta", "tiktok"]
    assert f'"id":"{click["click_id"]}"' in r.body.decode()


def test_after_declining_the_pixel_link_is_a_plain_redirect(http):
    r = get(http, "/summer", Cookie="rb_consent=0", **{"CloudFront-Viewer-Country": "FR"})
    assert r.status_code == 302
    assert r.headers["Location"].startswith("https://shop.example/summer?rb_cid=")
    assert json.dumps(clicks()[0]["platforms"]) == "[]"
