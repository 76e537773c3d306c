from __future__ import annotations

import hashlib
import re
import unicodedata

import pytest

from chalicelib.platforms.hashing import (
    USER_KEYS,
    digest,
    hash_user,
    normalise_city,
    normalise_country,
    normalise_email,
    normalise_email_google,
    normalise_name,
    normalise_phone_digits,
    normalise_phone_e164,
    normalise_state,
    normalise_zip,
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_email_is_trimmed_and_lowered_then_hashed():
    assert hash_user({"email": "  John.Doe+ads@Gmail.COM "}, None)["em"] == sha(
        "john.doe+ads@gmail.com"
    )


def test_google_gmail_rule_removes_dots_and_plus_suffix():
    assert hash_user({"email": "John.Doe+ads@gmail.com"}, None)["em_google"] == sha(
        "johndoe@gmail.com"
    )
    assert normalise_email_google("j.o.h.n+x+y@googlemail.com") == "john@googlemail.com"


def test_google_rule_keeps_dots_outside_gmail():
    user = hash_user({"email": "John.Doe+ads@example.com"}, None)
    assert user["em_google"] == sha("john.doe+ads@example.com")
    assert user["em_google"] == user["em"]


def test_already_hashed_value_passes_through_lowercased_never_rehashed():
    ready = sha("someone@example.com").upper()
    user = hash_user({"email": ready, "phone": ready, "external_id": f" {ready} "}, None)
    assert user["em"] == user["em_google"] == ready.lower()
    assert user["ph_e164"] == user["ph_digits"] == ready.lower()
    assert user["external_id"] == ready.lower()


@pytest.mark.parametrize("empty", [None, "", "   ", "\t"])
def test_empty_values_are_absent_never_sha256_of_empty(empty):
    user = hash_user(
        {k: empty for k in ("email", "phone", "first_name", "last_name", "city", "zip")}, "US"
    )
    assert user == {}
    assert sha("") not in user.values()


def test_values_that_normalise_to_nothing_are_absent():
    user = hash_user({"first_name": "--", "email": "not-an-email", "zip": "   -"}, None)
    assert user == {}


def test_snap_documented_phone_example():
    assert normalise_phone_digits("+44 844 412 4653") == "448444124653"
    user = hash_user({"phone": "+44 844 412 4653"}, None)
    assert user["ph_digits"] == sha("448444124653")
    assert user["ph_e164"] == sha("+448444124653")


def test_phone_without_country_code_uses_record_country_then_hint():
    assert normalise_phone_e164("030 1234567", "DE") == "+49301234567"
    # The record's country wins over the hint (the visitor's country or the domain default).
    assert hash_user({"phone": "06 12 34 56 78", "country": "FR"}, "DE")["ph_e164"] == sha(
        "+33612345678"
    )
    assert hash_user({"phone": "(650) 253-0000"}, "us")["ph_digits"] == sha("16502530000")


@pytest.mark.parametrize("phone", ["12", "call me", "+999 1234", "0000"])
def test_unparseable_or_invalid_phone_is_dropped_not_guessed(phone):
    assert "ph_e164" not in hash_user({"phone": phone}, "US")


def test_national_phone_without_any_country_is_dropped():
    assert hash_user({"phone": "030 1234567"}, None) == {}


def test_names_lose_punctuation_and_spaces_but_keep_accents_nfc():
    decomposed = unicodedata.normalize("NFD", "José-María")
    assert normalise_name(decomposed) == "josémaría"
    assert normalise_name(" Mary-Jane O'Neil ") == "maryjaneoneil"
    assert normalise_name("Ørsted") == "ørsted"
    assert hash_user({"first_name": "Zoë", "last_name": "van der Berg"}, None) == {
        "fn": sha("zoë"),
        "ln": sha("vanderberg"),
    }


def test_city_lower_no_spaces_or_punctuation():
    assert normalise_city("São Paulo") == "sãopaulo"
    assert normalise_city("Winston-Salem, NC") == "winstonsalemnc"


def test_us_state_names_and_codes_become_two_letters():
    assert normalise_state("California") == "ca"
    assert normalise_state(" new york ") == "ny"
    assert normalise_state("TX", "US") == "tx"
    assert normalise_state("District of Columbia", "us") == "dc"


def test_non_us_state_is_lowercase_without_spaces():
    assert normalise_state("Nordrhein-Westfalen", "DE") == "nordrheinwestfalen"
    assert normalise_state("Georgia", "GE") == "georgia"  # the country's region, not the US state


def test_zip_us_first_five_digits_elsewhere_compact_lowercase():
    assert normalise_zip("94043-1351", "US") == "94043"
    assert normalise_zip("940431351") == "94043"
    assert normalise_zip("SW1A 1AA", "GB") == "sw1a1aa"
    assert normalise_zip("1234", "US") is None  # a broken US ZIP is not padded or guessed


def test_country_iso2_lowercase():
    assert normalise_country(" DE ") == "de"
    assert normalise_country("UK") == "gb"
    assert normalise_country("Narnia") is None
    assert hash_user({"country": "US"}, None) == {"country": sha("us")}


def test_external_id_trimmed_case_kept():
    assert hash_user({"external_id": "  Cust-42 "}, None) == {"external_id": sha("Cust-42")}


def test_hash_user_returns_only_hex_digests_with_known_keys():
    user = hash_user(
        {
            "email": "a@b.co",
            "phone": "+1 650 253 0000",
            "first_name": "Ann",
            "last_name": "Lee",
            "city": "Mountain View",
            "state": "CA",
            "zip": "94043",
            "country": "us",
            "external_id": "42",
            "ip": "203.0.113.7",  # never a user field: ignored, never hashed
        },
        None,
    )
    assert set(user) == set(USER_KEYS)
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in user.values())
    assert sha("203.0.113.7") not in user.values()


def test_digest_contract():
    assert digest(None, str) is None
    assert digest("   ", str) is None
    assert digest("x", lambda v: None) is None
    assert digest("x", str.upper) == sha("X")


def test_email_normalisation_rejects_garbage():
    assert normalise_email("@example.com") is None
    assert normalise_email("a b@example.com") is None
    assert normalise_email("A@Example.com") == "a@example.com"
