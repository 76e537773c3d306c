"""The postback body: every field error reported at once, nothing echoed back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.conversions.postback import USER_FIELDS, Invalid, parse_postback

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CLICK_ID = "01KAQ3V7R9Y2C8M4T6W0XBZDEF"


def parse(body: dict | bytes):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_postback(raw, NOW)


def errors(body: dict | bytes) -> dict[str | None, str]:
    with pytest.raises(Invalid) as caught:
        parse(body)
    return {e.field: e.message for e in caught.value.errors}


def test_a_full_purchase_is_read_and_normalised():
    p = parse(
        {
            "click_id": CLICK_ID.lower(),
            "event": "Purchase",
            "event_id": " order-1001 ",
            "event_time": "2026-11-23T11:58:00+01:00",
            "value": 49,
            "currency": "eur",
            "client_ip_address": "2001:DB8::1",
            "client_user_agent": "Mozilla/5.0",
            "user": {"email": "Jane@Example.com", "phone": None, "zip": ""},
        }
    )
    assert (p.event, p.event_id, p.value, p.currency) == ("purchase", "order-1001", 49.0, "EUR")
    assert p.click_id == CLICK_ID
    assert p.event_time == datetime(2026, 11, 23, 10, 58, tzinfo=UTC)
    assert p.client_ip_address == "2001:db8::1"
    assert dict(p.user) == {"email": "Jane@Example.com"}  # null and empty values dropped


def test_a_minimal_lead_happens_now():
    p = parse({"event": "lead", "event_id": "L-1"})
    assert p.event_time == NOW and p.click_id is None and p.value is None and dict(p.user) == {}


def test_personal_data_is_not_in_the_repr():
    p = parse({"event": "lead", "event_id": "L-1", "user": {"email": "jane@example.com"}})
    assert "jane" not in repr(p)


@pytest.mark.parametrize(
    ("event_time", "expected"),
    [
        (1795425600, datetime(2026, 11, 23, 9, 20, tzinfo=UTC)),
        ("1795425600", datetime(2026, 11, 23, 9, 20, tzinfo=UTC)),
        (1795425600.5, datetime(2026, 11, 23, 9, 20, 0, 500000, tzinfo=UTC)),
        ("2026-11-23T11:00:00Z", datetime(2026, 11, 23, 11, tzinfo=UTC)),
        ("2026-11-16T12:00:01Z", datetime(2026, 11, 16, 12, 0, 1, tzinfo=UTC)),
        ("2026-11-23T12:05:00Z", datetime(2026, 11, 23, 12, 5, tzinfo=UTC)),
    ],
)
def test_event_time_in_seconds_or_iso_8601(event_time, expected):
    assert (
        parse({"event": "lead", "event_id": "x", "event_time": event_time}).event_time == expected
    )


@pytest.mark.parametrize(
    ("event_time", "message"),
    [
        ("2026-11-16T11:59:59Z", "more than 7 days ago"),
        ("2026-11-23T12:05:01Z", "5 minutes in the future"),
        (1795425600000, "milliseconds"),
        ("2026-11-23T11:00:00", "time zone"),
        ("yesterday", "ISO-8601"),
        (True, "unix seconds"),
        ([], "unix seconds"),
    ],
)
def test_event_time_out_of_bounds_or_unreadable(event_time, message):
    found = errors({"event": "lead", "event_id": "x", "event_time": event_time})
    assert message in found["event_time"]


def test_every_field_error_is_listed_at_once_in_field_order():
    found = errors(
        {
            "click_id": "fbclid-IwAR",
            "event": "page_view",
            "value": -1,
            "currency": "EURO",
            "client_ip_address": "999.1.1.1",
            "client_user_agent": "x" * 1025,
            "user": {"email": 5, "shoe_size": "44"},
            "emial": "jane@example.com",
            "event_ID": "x",
        }
    )
    assert list(found) == [
        "click_id",
        "event",
        "event_id",
        "value",
        "currency",
        "client_ip_address",
        "client_user_agent",
        "user.email",
        "user.shoe_size",
        "emial",
        "event_ID",
    ]
    assert "did you mean event_id" in found["event_ID"]
    assert "required" in found["event_id"]


def test_personal_data_at_the_top_level_is_pointed_inside_user():
    found = errors({"event": "lead", "event_id": "x", "email": "jane@example.com"})
    assert found == {"email": "unknown field: personal data goes inside user (user.email)"}


def test_error_messages_never_echo_the_values():
    secret_value = "jane.doe.private@example.com"
    found = errors(
        {
            "event": secret_value,
            "event_id": 5,
            "user": {"email": ["not", secret_value], "phone": 5},
            "currency": secret_value,
        }
    )
    assert secret_value not in json.dumps(found)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"event": "purchase", "event_id": "o"}, "value", "required for a purchase"),
        ({"event": "purchase", "event_id": "o", "value": 1}, "currency", "required"),
        ({"event": "lead", "event_id": "o", "value": 1}, "currency", "required with value"),
        ({"event": "lead", "event_id": "o", "value": "49.9"}, "value", "number"),
        ({"event": "lead", "event_id": "o", "value": True}, "value", "number"),
        ({"event": "lead", "event_id": "o", "value": 1e13, "currency": "EUR"}, "value", "large"),
        ({"event": "lead", "event_id": "o" * 129}, "event_id", "128"),
        ({"event": "lead", "event_id": "   "}, "event_id", "empty"),
        ({"event": "lead", "event_id": "a\nb"}, "event_id", "letters, digits"),
        ({"event": "lead", "event_id": 12345}, "event_id", "string"),
        ({"event": "1st-visit", "event_id": "o"}, "event", "custom name"),
        ({"event": "x" * 41, "event_id": "o"}, "event", "custom name"),
        ({"event": None, "event_id": "o"}, "event", "required"),
        ({"event": "lead", "event_id": "o", "user": "jane"}, "user", "object"),
        ({"event": "lead", "event_id": "o", "user": {"city": "x" * 257}}, "user.city", "256"),
        ({"event": "lead", "event_id": "o", "click_id": 42}, "click_id", "string"),
    ],
)
def test_single_field_rules(body, field, message):
    assert message in errors(body)[field]


def test_custom_event_names_are_kept_as_written():
    assert parse({"event": "CompleteRegistration", "event_id": "o"}).event == "CompleteRegistration"


def test_a_zero_value_purchase_is_fine():
    assert parse({"event": "purchase", "event_id": "o", "value": 0, "currency": "USD"}).value == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON (line 1, column 2)"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "not valid JSON"),
        (b'{"event": "lead", "event_id": "x", "value": NaN}', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object(raw, message):
    assert message in errors(raw)[None]


def test_a_key_given_twice_is_an_error_not_last_wins():
    assert errors(b'{"event":"lead","event_id":"a","event_id":"b"}') == {
        "event_id": "given more than once"
    }


# --- Odd Unicode and hostile ids ------------------------------------------------------------------

LONE = "x\\ud800"  # a lone surrogate as JSON writes it: valid JSON, not encodable text
VALID = {
    "click_id": CLICK_ID,
    "event": "purchase",
    "event_id": "order-1",
    "event_time": "2026-11-23T11:00:00Z",
    "value": 1,
    "currency": "EUR",
    "client_ip_address": "198.51.100.4",
    "client_user_agent": "Mozilla/5.0",
}
STRING_FIELDS = [*VALID, *(f"user.{name}" for name in USER_FIELDS)]


def _with_raw(field: str, raw_json_string: str) -> bytes:
    """VALID with ``field`` (``user.x`` nested) set to a JSON string literal written by hand."""
    top = {k: v for k, v in VALID.items() if k != field}
    text = json.dumps(top)[:-1]
    if field.startswith("user."):
        return f'{text}, "user": {{"{field[5:]}": "{raw_json_string}"}}}}'.encode()
    return f'{text}, "{field}": "{raw_json_string}"}}'.encode()


@pytest.mark.parametrize("field", STRING_FIELDS)
def test_a_lone_surrogate_in_any_string_field_is_a_400_naming_that_field(field):
    found = errors(_with_raw(field, LONE))
    assert list(found) == [field]
    assert "Unicode" in found[field]


def test_a_lone_surrogate_in_a_key_is_named_readably():
    found = errors(b'{"event": "lead", "event_id": "o", "x\\udc00": 1, "user": {"e\\ud800": "a"}}')
    assert set(found) == {"x\\udc00", "user.e\\ud800"}
    json.dumps(found, ensure_ascii=False).encode("utf-8")  # the reply can be sent


def test_a_surrogate_pair_is_ordinary_text():
    p = parse(_with_raw("user.city", "Z\\ud83d\\ude00rich"))
    assert p.user["city"] == "Z\U0001f600rich"


@pytest.mark.parametrize("field", [f"user.{name}" for name in USER_FIELDS])
def test_control_characters_in_user_data_are_refused(field):
    assert "control" in errors(_with_raw(field, "jane\\u0000doe"))[field]


def test_user_data_is_read_in_nfc_so_both_spellings_hash_alike():
    decomposed = parse(_with_raw("user.city", "Zu\\u0308rich"))
    composed = parse(_with_raw("user.city", "Z\\u00fcrich"))
    assert decomposed.user["city"] == composed.user["city"] == "Z\u00fcrich"


@pytest.mark.parametrize(
    "event_id",
    ["../../etc/passwd", "a/b", "a\\b", "order 1", "é-1", "#1001\u200b", "\u0430bc", "o\x7f"],
)
def test_an_event_id_outside_the_safe_characters_is_a_400(event_id):
    message = errors({"event": "lead", "event_id": event_id})["event_id"]
    assert "letters, digits" in message
    assert event_id not in message


@pytest.mark.parametrize(
    "event_id", ["1001", "#1001", "order-1001", "pi_3Mt.x", "lead:42@shop", "a+b=c~d", "o" * 128]
)
def test_ordinary_order_and_lead_ids_are_accepted(event_id):
    assert parse({"event": "lead", "event_id": event_id}).event_id == event_id
