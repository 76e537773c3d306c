"""May this click be tracked and sent to ad platforms? ``granted | denied | not_required``.

In order: an honoured privacy signal (GPC, DNT) denies, whatever else the request says; then an
explicit choice (``rb_consent=1|0``, the query parameter over the cookie); then, without an explicit
grant, a visitor from a ``require_in`` country is denied; everyone else is ``not_required``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from chalicelib.redirect.cookies import expire_cookie, set_cookie
from chalicelib.redirect.request import RequestFacts

GRANTED, DENIED, NOT_REQUIRED = "granted", "denied", "not_required"
CONSENT_PARAM = CONSENT_COOKIE = "rb_consent"
# How long an explicit choice made through the parameter is remembered (CNIL suggests 6 months).
CONSENT_MAX_AGE = 180 * 24 * 3600


class Consent(NamedTuple):
    state: str  # granted | denied | not_required
    reason: str  # gpc | dnt | param | cookie | region | default
    set_cookies: tuple[str, ...] = ()


def read_consent(
    facts: RequestFacts, settings: Mapping[str, Any] | None, country: str | None
) -> Consent:
    """The visitor's consent state under the domain's consent ``settings``."""
    settings = settings or {}
    param = _choice(facts.param(CONSENT_PARAM))
    cookie = _choice(facts.cookies.get(CONSENT_COOKIE))
    if settings.get("honor_gpc") and facts.headers.get("sec-gpc", "").strip() == "1":
        return Consent(DENIED, "gpc", _remember(facts, param, cookie, DENIED))
    if settings.get("honor_dnt") and facts.headers.get("dnt", "").strip() == "1":
        return Consent(DENIED, "dnt", _remember(facts, param, cookie, DENIED))
    explicit, reason = (param, "param") if param is not None else (cookie, "cookie")
    if explicit is not None:
        state = GRANTED if explicit else DENIED
        return Consent(state, reason, _remember(facts, param, cookie, state))
    required_in = {str(code).upper() for code in settings.get("require_in") or ()}
    if country and country in required_in:
        return Consent(DENIED, "region")
    return Consent(NOT_REQUIRED, "default")


def _choice(value: str | None) -> bool | None:
    return {"1": True, "0": False}.get((value or "").strip())


def _remember(
    facts: RequestFacts, param: bool | None, cookie: bool | None, state: str
) -> tuple[str, ...]:
    """Persist a choice made through the parameter; never leave a grant behind a denial."""
    secure = facts.is_https
    if state == DENIED:
        if param is False and cookie is not False:
            return (set_cookie(CONSENT_COOKIE, "0", max_age=CONSENT_MAX_AGE, secure=secure),)
        if cookie is True:
            return (expire_cookie(CONSENT_COOKIE, secure=secure),)
        return ()
    if state == GRANTED and param is True and cookie is not True:
        return (set_cookie(CONSENT_COOKIE, "1", max_age=CONSENT_MAX_AGE, secure=secure),)
    return ()
