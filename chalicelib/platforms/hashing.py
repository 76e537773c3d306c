"""Normalise, then SHA-256 (lowercase hex): the user data that ad platforms match on.

Runs when a conversion arrives, so the clear values are never stored: ``hash_user`` turns the
merchant's ``user`` object into hashes only, in every variant some platform needs (Google's gmail
rule for e-mail; phone with and without ``+``). Platform modules pick the variant they need.

Rules (PLATFORMS.md): a value that already is 64 hex characters is passed through lower-cased,
never hashed twice; an empty value (after normalising) is dropped, never ``sha256("")``; a phone
that cannot be parsed and validated is dropped, not guessed. IP addresses, user agents, click ids
and browser ids are never hashed here (Reddit's hashed IP is done by its platform module).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})

# The keys hash_user may return; each value is a 64-char lowercase hex digest.
USER_KEYS = (
    "em",
    "em_google",
    "ph_e164",
    "ph_digits",
    "fn",
    "ln",
    "ct",
    "st",
    "zp",
    "country",
    "external_id",
)

US_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi", "minnesota": "mn",
    "mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
    "newhampshire": "nh", "newjersey": "nj", "newmexico": "nm", "newyork": "ny",
    "northcarolina": "nc", "northdakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or",
    "pennsylvania": "pa", "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd",
    "tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va",
    "washington": "wa", "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
    "puertorico": "pr", "guam": "gu", "usvirginislands": "vi", "virginislands": "vi",
    "americansamoa": "as", "northernmarianaislands": "mp",
}  # fmt: skip
_US_STATE_CODES = frozenset(US_STATES.values())

# ISO 3166-1 alpha-2, officially assigned (plus XK, Kosovo, which platforms accept).
_ISO2_CODES = """
ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo
bq br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj
dk dm do dz ec ee eg eh er es et fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp
gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg
kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml
mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe
pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl
sm sn so sr ss st sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug um
us uy uz va vc ve vg vi vn vu wf ws xk ye yt za zm zw
"""
_ISO2 = frozenset(_ISO2_CODES.split())

# Common spellings merchants send instead of the code.
_COUNTRY_ALIASES = {
    "uk": "gb",
    "usa": "us",
    "unitedstates": "us",
    "unitedstatesofamerica": "us",
    "unitedkingdom": "gb",
    "greatbritain": "gb",
}


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes, lowercase hex."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_hashed(value: Any) -> bool:
    """True when ``value`` already is a SHA-256 hex digest (64 hex characters)."""
    return isinstance(value, str) and _HEX64.fullmatch(value.strip()) is not None


def digest(value: Any, normalise: Callable[[str], str | None]) -> str | None:
    """``value`` normalised and hashed; a ready digest passes through; empty → None."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if _HEX64.fullmatch(text):
        return text.lower()
    clear = normalise(text)
    return sha256_hex(clear) if clear else None


# ------------------------------------------------------------------------------- normalisers
# Each returns the clear, normalised value, or None when nothing usable is left.


def normalise_email(value: str) -> str | None:
    """Trim and lower-case; None unless it looks like local@domain."""
    email = value.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in email):
        return None
    return email


def normalise_email_google(value: str) -> str | None:
    """Google's rule: for gmail.com/googlemail.com only, drop dots and +suffix of the local part."""
    email = normalise_email(value)
    if email is None:
        return None
    local, _, domain = email.rpartition("@")
    if domain in GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            return None
    return f"{local}@{domain}"


def parse_phone(value: str, country: str | None) -> phonenumbers.PhoneNumber | None:
    """A valid number, read with ``country`` when it has no country code; else None."""
    region = normalise_country(country) if country else None
    try:
        number = phonenumbers.parse(value, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def normalise_phone_e164(value: str, country: str | None = None) -> str | None:
    """E.164 with ``+`` (Google, TikTok, Reddit): ``+448444124653``."""
    number = parse_phone(value, country)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone_digits(value: str, country: str | None = None) -> str | None:
    """Digits with the country code, no ``+`` (Meta, Snap, Pinterest): ``448444124653``."""
    e164 = normalise_phone_e164(value, country)
    return e164[1:] if e164 else None


def _letters(value: str) -> str:
    """NFC, lower case, letters (any script) and digits only: no spaces, no punctuation."""
    text = unicodedata.normalize("NFC", value).lower()
    return "".join(c for c in text if unicodedata.category(c)[0] in "LMN")


def normalise_name(value: str) -> str | None:
    """First or last name: ``"Mary-Jane O'Neil"`` → ``maryjaneoneil``; accents kept."""
    return _letters(value) or None


def normalise_city(value: str) -> str | None:
    """``"São Paulo"`` → ``sãopaulo``."""
    return _letters(value) or None


def normalise_country(value: str) -> str | None:
    """ISO 3166-1 alpha-2, lower case; a few common spellings accepted; else None."""
    key = _letters(value)
    key = _COUNTRY_ALIASES.get(key, key)
    return key if key in _ISO2 else None


def normalise_state(value: str, country: str | None = None) -> str | None:
    """US states (name or code) → 2-letter code; elsewhere lower case, letters only."""
    key = _letters(value)
    if not key:
        return None
    if country is None or normalise_country(country) == "us":
        if key in _US_STATE_CODES:
            return key
        if key in US_STATES:
            return US_STATES[key]
    return key


_US_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")


def normalise_zip(value: str, country: str | None = None) -> str | None:
    """Lower case, no spaces or dashes; US: the first 5 digits (a broken US ZIP is dropped)."""
    compact = re.sub(r"[\s\-]", "", value.strip().lower())
    iso = normalise_country(country) if country else None
    us = _US_ZIP.fullmatch(value.strip())
    if iso == "us":
        return us.group(1) if us else None
    if iso is None and us:
        return us.group(1)
    return compact or None


def normalise_external_id(value: str) -> str | None:
    """Trimmed, case kept: it is the merchant's own identifier."""
    return value.strip() or None


# ------------------------------------------------------------------------------------- user


def hash_user(user: Mapping[str, Any] | None, country_hint: str | None) -> dict[str, str]:
    """The merchant's postback ``user`` as hashes only (keys in ``USER_KEYS``, absent if unknown).

    ``user`` holds any of email, phone, first_name, last_name, city, state, zip, country,
    external_id. Phones without a country code are read with the record's ``country``, else
    ``country_hint`` (the visitor's country, else the domain default).
    """
    if not user:
        return {}
    record_country = _clear(user.get("country"))
    country = record_country or country_hint
    out: dict[str, str | None] = {
        "em": digest(user.get("email"), normalise_email),
        "em_google": digest(user.get("email"), normalise_email_google),
        "ph_e164": digest(user.get("phone"), lambda v: normalise_phone_e164(v, country)),
        "ph_digits": digest(user.get("phone"), lambda v: normalise_phone_digits(v, country)),
        "fn": digest(user.get("first_name"), normalise_name),
        "ln": digest(user.get("last_name"), normalise_name),
        "ct": digest(user.get("city"), normalise_city),
        "st": digest(user.get("state"), lambda v: normalise_state(v, country)),
        "zp": digest(user.get("zip"), lambda v: normalise_zip(v, country)),
        "country": digest(user.get("country"), normalise_country),
        "external_id": digest(user.get("external_id"), normalise_external_id),
    }
    return {key: value for key, value in out.items() if value}


def _clear(value: Any) -> str | None:
    """A clear (not pre-hashed) country code usable to read phones and zips."""
    if value is None or is_hashed(value):
        return None
    return normalise_country(str(value))
