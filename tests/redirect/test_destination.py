"""Building the Location: own query and fragment kept, UTM, forwarded query, click ids, rb_cid."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from chalicelib.redirect.destination import build_destination
from tests.redirect.factories import facts

UTM = {"source": "newsletter", "medium": "email", "campaign": "spring"}


def build(url, query=None, **options):
    return build_destination(url, facts(query=query), **options)


def test_a_plain_url_is_left_alone():
    assert build("https://shop.example/sale").location == "https://shop.example/sale"


def test_the_destination_keeps_its_own_query_and_fragment_last():
    result = build("https://shop.example/sale?x=1&y=%2F#top", "q=2", forward_query=True, utm=UTM)
    assert result.location == (
        "https://shop.example/sale?x=1&y=%2F&utm_source=newsletter&utm_medium=email"
        "&utm_campaign=spring&q=2#top"
    )


def test_link_utm_is_added_only_where_the_destination_has_none():
    result = build("https://shop.example/?utm_source=site&utm_term=x", utm=UTM)
    assert result.location == (
        "https://shop.example/?utm_source=site&utm_term=x&utm_medium=email&utm_campaign=spring"
    )
    assert result.utm == {
        "utm_source": "site",
        "utm_medium": "email",
        "utm_campaign": "spring",
        "utm_term": "x",
        "utm_content": None,
    }


def test_the_visitors_utm_never_overrides_the_links_and_only_fills_the_rest():
    result = build(
        "https://shop.example/",
        "utm_source=facebook&utm_content=ad-7",
        forward_query=True,
        utm=UTM,
    )
    pairs = parse_qsl(urlsplit(result.location).query)
    assert ("utm_source", "newsletter") in pairs and ("utm_source", "facebook") not in pairs
    assert ("utm_content", "ad-7") in pairs
    assert result.utm["utm_source"] == "newsletter" and result.utm["utm_content"] == "ad-7"


def test_the_visitors_utm_is_recorded_even_when_not_forwarded():
    result = build("https://shop.example/", "utm_source=facebook")
    assert result.location == "https://shop.example/"
    assert result.utm["utm_source"] == "facebook"


def test_visitor_params_never_override_the_destinations_own():
    result = build("https://shop.example/?coupon=SPRING", "coupon=FREE&ref=x", forward_query=True)
    assert result.location == "https://shop.example/?coupon=SPRING&ref=x"


def test_without_forward_query_the_visitors_params_stay_behind():
    assert build("https://shop.example/", "ref=x&q=1").location == "https://shop.example/"


def test_repeated_visitor_params_are_all_forwarded_in_order():
    result = build("https://shop.example/", "a=1&b=2&a=3", forward_query=True)
    assert result.location == "https://shop.example/?a=1&b=2&a=3"


@pytest.mark.parametrize("forward_query", [True, False])
def test_platform_click_ids_are_always_forwarded_byte_for_byte(forward_query):
    query = [
        ("fbclid", "IwAR2xYz_-AbC"),
        ("gclid", "Cj0KCQiA-_aBhD_ARIsAF0a"),
        ("ScCid", "a1b2-C3D4"),
        ("ttclid", "E.C.P.CscBdkHp"),
        ("rdt_cid", "1234567890123456789_abc"),
    ]
    location = build_destination(
        "https://shop.example/", facts(query=query), forward_query=forward_query
    ).location
    assert location == (
        "https://shop.example/?fbclid=IwAR2xYz_-AbC&gclid=Cj0KCQiA-_aBhD_ARIsAF0a&ScCid=a1b2-C3D4"
        "&ttclid=E.C.P.CscBdkHp&rdt_cid=1234567890123456789_abc"
    )


def test_click_ids_are_not_decoded_twice_or_truncated():
    long_id = "IwAR" + "x" * 500
    query = [("fbclid", "Iw%41R+/="), ("gclid", long_id)]
    pairs = parse_qsl(
        urlsplit(build_destination("https://s.example/", facts(query=query)).location).query
    )
    assert pairs == [("fbclid", "Iw%41R+/="), ("gclid", long_id)]


def test_the_visitors_click_id_replaces_a_stale_one_in_the_destination():
    result = build("https://shop.example/?fbclid=STALE&x=1", "fbclid=FRESH")
    assert result.location == "https://shop.example/?x=1&fbclid=FRESH"
    assert (
        build("https://shop.example/?fbclid=KEEP").location == "https://shop.example/?fbclid=KEEP"
    )


def test_rb_cid_is_appended_when_tracking_and_never_forged():
    result = build(
        "https://shop.example/?rb_cid=configured",
        "rb_cid=forged&rb_consent=1&rb_x=1&ok=1",
        forward_query=True,
        click_id="01JD0000000000000000000000",
    )
    assert result.location == "https://shop.example/?ok=1&rb_cid=01JD0000000000000000000000"


def test_rb_consent_is_never_forwarded():
    assert (
        build("https://s.example/", "rb_consent=1", forward_query=True).location
        == "https://s.example/"
    )


def test_every_appended_name_and_value_is_percent_encoded():
    result = build(
        "https://shop.example/p",
        [
            ("a b", "c&d=e#f"),
            ("x", "\r\nSet-Cookie: evil"),
            ("u", "https://evil.example/"),
            ("é", "ü"),
        ],
        forward_query=True,
    )
    assert result.location == (
        "https://shop.example/p?a%20b=c%26d%3De%23f&x=%0D%0ASet-Cookie%3A%20evil"
        "&u=https%3A%2F%2Fevil.example%2F&%C3%A9=%C3%BC"
    )


def test_a_configured_url_with_non_ascii_or_spaces_becomes_header_safe():
    result = build("https://shop.example/söhne page?q=ä ö#frag ment")
    assert result.location == "https://shop.example/s%C3%B6hne%20page?q=%C3%A4%20%C3%B6#frag%20ment"


def test_an_empty_query_and_bare_question_mark_add_nothing():
    assert build("https://shop.example/?").location == "https://shop.example/"
    assert build("https://shop.example/#x").location == "https://shop.example/#x"


def test_the_record_keeps_the_links_url_utm_click_ids_and_rb_cid_but_not_the_visitors_values():
    result = build(
        "https://shop.example/sale?coupon=SPRING#top",
        "email=jane%40example.com&utm_term=brought&gclid=Cj0K&coupon=MINE",
        utm=UTM,
        forward_query=True,
        click_id="01JD0000000000000000000000",
    )
    assert "email=jane%40example.com" in result.location
    assert result.record == (
        "https://shop.example/sale?coupon=SPRING&utm_source=newsletter&utm_medium=email"
        "&utm_campaign=spring&gclid=Cj0K&rb_cid=01JD0000000000000000000000#top"
    )


def test_without_forwarded_values_the_record_is_the_location():
    result = build("https://shop.example/sale", "fbclid=Iw&x=1", utm=UTM)
    assert result.record == result.location


# --- Confusable hosts in a configured URL: the Location names the host a browser would visit ----


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://shop\uff0eexample/sale", "shop.example"),  # fullwidth full stop
        ("https://sh\u200bop.example/sale", "shop.example"),  # zero-width space
        ("https://bücher.example:8443/", "xn--bcher-kva.example:8443"),
    ],
)
def test_a_non_ascii_host_is_written_as_the_ascii_host_a_browser_would_visit(url, host):
    assert urlsplit(build(url, "a=1", forward_query=True).location).netloc == host


def test_a_host_that_cannot_be_a_host_name_is_never_turned_into_another_one():
    # A fullwidth @ maps to "@": as ASCII it would make "shop.example" a user name and send the
    # visitor to evil.example. It stays percent-encoded, which no browser resolves.
    location = build("https://shop.example\uff20evil.example/", "a=1", forward_query=True).location
    assert urlsplit(location).hostname != "evil.example"
    assert "@" not in location
