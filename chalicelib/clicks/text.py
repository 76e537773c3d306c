"""Text as it may be kept: well-formed Unicode, and no email address or phone number.

``well_formed``: a lone surrogate (``"\\ud800"``: a valid JSON escape, invalid Unicode, and what
an API Gateway event can carry) cannot be encoded to UTF-8; it becomes U+FFFD, real characters
(including surrogate pairs) are kept.

``redact_personal``: the click record's free-text fields (``utm_*``, an orphan slug) come from
whoever wrote the URL; an email- or phone-shaped value is replaced by ``REDACTED``.

``mask_emails``: a record shown to people (a dry run, an outcome's reason) keeps the shape of an
address and nothing that identifies it: ``jane.doe@example.com`` -> ``j***@example.com``.

``kept_click_id``: platform click ids are forwarded byte for byte, but one that is an email address
or a phone number is not kept in the record (its ``click_ids`` and recorded ``destination``).
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# An address anywhere in the value: something@host.tld (the query is already percent-decoded).
_EMAIL_RE = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+\.[^\s@<>()\[\],;:\"]{2,}")
# A dialled number: a leading + / 00 / trunk 0, 7 to 15 digits, only phone punctuation between.
_DIALLED_RE = re.compile(r"(?:\+|0)[\d\s().\-/]{6,24}")
_DIGIT_RE = re.compile(r"\d")
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 7, 15


def well_formed(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (a no-op on ordinary text)."""
    if text.isascii() or not _SURROGATE_RE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def redact_personal(value: str | None, region: str | None = None) -> str | None:
    """``REDACTED`` when ``value`` holds an email address or a phone number, else ``value``.

    ``region`` (ISO-2, the visitor's country) lets numbers written without a country code be
    recognised. A bare run of digits not starting with 0 counts as an id, not a phone: ad
    platforms' macros (``{campaignid}``, ``{{ad.id}}``) fill ``utm_*`` with such ids.
    """
    if not value:
        return value
    if "@" in value and _EMAIL_RE.search(value):
        return REDACTED
    if looks_like_phone(value, region):
        return REDACTED
    return value


def mask_emails(value: str) -> str:
    """Every email address in ``value`` as its first character, ``***`` and its domain."""
    if "@" not in value:
        return value
    return _EMAIL_RE.sub(_mask, value)


def _mask(found: re.Match[str]) -> str:
    local, _, domain = found.group(0).rpartition("@")
    return f"{local[:1]}***@{domain}"


def is_contact(value: str) -> bool:
    """Whether ``value`` is an email address or a dialled number (``+``/``0`` and 7 to 15 digits):
    never the shape of a platform click id, so one that has it was typed in, not issued."""
    if "@" in value and _EMAIL_RE.search(value):
        return True
    stripped = value.strip()
    dialled = _DIALLED_RE.fullmatch(stripped) is not None
    return dialled and MIN_PHONE_DIGITS <= len(_DIGIT_RE.findall(stripped)) <= MAX_PHONE_DIGITS


def kept_click_id(value: str) -> str:
    """A platform click id as the click record keeps it: as sent, unless it is a contact."""
    return REDACTED if is_contact(value) else value


def looks_like_phone(value: str, region: str | None = None) -> bool:
    """Whether ``value`` is, or contains, a phone number (``phonenumbers`` decides)."""
    digits = len(_DIGIT_RE.findall(value))
    if digits < MIN_PHONE_DIGITS:
        return False  # the common case, decided without loading phonenumbers
    stripped = value.strip()
    if stripped.isdigit() and not stripped.startswith("0"):
        return False  # an id (see redact_personal)
    if _DIALLED_RE.fullmatch(stripped):
        dialled = len(_DIGIT_RE.findall(stripped))
        if MIN_PHONE_DIGITS <= dialled <= MAX_PHONE_DIGITS:
            return True
    import phonenumbers  # only for digit-heavy values: off the cold start

    matcher = phonenumbers.PhoneNumberMatcher(
        value[:256], (region or "US").upper(), leniency=phonenumbers.Leniency.VALID
    )
    return matcher.has_next()
