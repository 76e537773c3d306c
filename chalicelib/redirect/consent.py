"""May this click be tracked and sent to ad platforms? ``granted | denied | not_required``.

In order (docs/consent.md tells the same to marketers and DPOs):

1. an honoured privacy signal (GPC, DNT) denies, whatever else the request says;
2. a denial in the query (``rb_consent=0``) denies, and is remembered;
3. the visitor's own choice, the ``rb_consent`` cookie that only the first-party choice page
   (``/_/consent``, see ``consent_page``) sets to ``1``, grants (``1``) or denies (``0``);
4. with ``require_in`` set, a visitor from one of those countries is denied, and so is a visitor
   whose country is unknown unless the domain says ``unknown_country: allow``;
5. everyone else is ``not_required``.

Nothing a third party can put in a URL grants: ``rb_consent=1`` in the query is ignored, and so is
the referrer. A denial from anywhere is welcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from chalicelib.clicks.envelope import DENIED, GRANTED, NOT_REQUIRED
from chalicelib.redirect.cookies import expire_cookie, set_cookie
from chalicelib.redirect.request import RequestFacts

CONSENT_PARAM = CONSENT_COOKIE = "rb_consent"
# How long a choice is remembered (CNIL suggests 6 months).
CONSENT_MAX_AGE = 180 * 24 * 3600
# Reasons of a denial that is only the default of the visitor's region: they have not chosen yet,
# so a page may ask them (a pixel link's interstitial does).
REGION, REGION_UNKNOWN = "region", "region_unknown"
UNCHOSEN = frozenset({REGION, REGION_UNKNOWN})
ALLOW = "allow"  # `unknown_country: allow`: the domain's explicit opt-out of failing closed


class Consent(NamedTuple):
    state: str  # granted | denied | not_required
    reason: str  # gpc | dnt | param | cookie | region | region_unknown | default
    set_cookies: tuple[str, ...] = ()


def read_consent(
    facts: RequestFacts, settings: Mapping[str, Any] | None, country: str | None
) -> Consent:
    """The visitor's consent state under the domain's consent ``settings``.

    ``country`` is the visitor's ISO-2 country, None when unknown.
    """
    settings = settings or {}
    denial = _choice(facts.param(CONSENT_PARAM)) is False  # a parameter can only ever deny
    cookie = _choice(facts.cookies.get(CONSENT_COOKIE))
    if settings.get("honor_gpc") and facts.signal("sec-gpc"):
        return Consent(DENIED, "gpc", _remember(facts, denial, cookie))
    if settings.get("honor_dnt") and facts.signal("dnt"):
        return Consent(DENIED, "dnt", _remember(facts, denial, cookie))
    if denial:
        return Consent(DENIED, "param", _remember(facts, denial, cookie))
    if cookie is not None:
        return Consent(GRANTED if cookie else DENIED, "cookie")
    required_in = _codes(settings.get("require_in"))
    if required_in:
        if country is None and settings.get("unknown_country") != ALLOW:
            return Consent(DENIED, REGION_UNKNOWN)
        if country in required_in:
            return Consent(DENIED, REGION)
    return Consent(NOT_REQUIRED, "default")


def needs_choice(consent: Consent) -> bool:
    """Denied only because of the visitor's region: they have made no choice yet."""
    return consent.state == DENIED and consent.reason in UNCHOSEN


def choice_cookie(accept: bool, *, secure: bool) -> str:
    """The ``Set-Cookie`` that remembers the visitor's own choice."""
    return set_cookie(
        CONSENT_COOKIE, "1" if accept else "0", max_age=CONSENT_MAX_AGE, secure=secure
    )


def _codes(require_in: Any) -> frozenset[str]:
    """The upper-cased country codes of ``require_in`` (once per list: the domain's settings
    are the same object request after request while the link is cached)."""
    if not require_in:
        return frozenset()
    try:
        return _upper_codes(tuple(require_in))
    except TypeError:  # not hashable: not from the config model, but never an error
        return frozenset(str(code).upper() for code in require_in)


@lru_cache(maxsize=64)
def _upper_codes(codes: tuple[Any, ...]) -> frozenset[str]:
    return frozenset(str(code).upper() for code in codes)


def _choice(value: str | None) -> bool | None:
    return {"1": True, "0": False}.get((value or "").strip())


def _remember(facts: RequestFacts, denial: bool, cookie: bool | None) -> tuple[str, ...]:
    """On a denial: remember one made through the parameter; never leave a grant behind."""
    secure = facts.is_https
    if denial and cookie is not False:
        return (choice_cookie(False, secure=secure),)
    if cookie is True:
        return (expire_cookie(CONSENT_COOKIE, secure=secure),)
    return ()
