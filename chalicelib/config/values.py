"""The value types of links.yaml: what each kind of field accepts, how it is normalised, and what
a person is told when it is wrong.

Every custom error is a `PydanticCustomError` of type ``rebound`` whose message is final (the
loader shows it as is). A model-level check that is about one field names it in the error's
context (``field``), so the loader can point at that field.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlsplit

import idna
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from chalicelib.config.yamldoc import source_text
from chalicelib.links.host import normalize_host
from chalicelib.links.record import REGIONS
from chalicelib.platforms import registry
from chalicelib.webhooks.target import internal_host_reason

MAX_URL_LENGTH = 2048
DEVICES = ("ios", "android", "mobile", "tablet", "desktop")
PLATFORM_NAMES = registry.NAMES  # the one list; each needs its settings class in model.py

SLUG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SSM_RE = re.compile(r"ssm:/[A-Za-z0-9_.\-/]+")
_SECRETS_MANAGER_RE = re.compile(r"secretsmanager:[A-Za-z0-9/_+=.@:-]+")
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_DIGITS_RE = re.compile(r"[0-9]{1,32}")
# Validation context keys (set by the loader for one stage): the stage whose functions will read
# the secrets, and whether that stage lets a platform's `endpoint` replace its API host.
STAGE = "stage"
ALLOW_ENDPOINTS = "allow_endpoints"
# Writing systems that may share one host label (UTS #39 "highly restrictive"): a label is in one
# script, or in one of these sets. Common and Inherited characters (digits, `-`) go with any.
_SCRIPT_SETS = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),
    frozenset({"Latin", "Han", "Bopomofo"}),
    frozenset({"Latin", "Han", "Hangul"}),
)
_SCRIPTS = [
    "Latin",
    "Greek",
    "Cyrillic",
    "Armenian",
    "Hebrew",
    "Arabic",
    "Syriac",
    "Thaana",
    "Devanagari",
    "Bengali",
    "Gurmukhi",
    "Gujarati",
    "Oriya",
    "Tamil",
    "Telugu",
    "Kannada",
    "Malayalam",
    "Sinhala",
    "Thai",
    "Lao",
    "Tibetan",
    "Myanmar",
    "Georgian",
    "Hangul",
    "Ethiopic",
    "Cherokee",
    "Khmer",
    "Mongolian",
    "Hiragana",
    "Katakana",
    "Bopomofo",
    "Han",
]
# Codes people write for a country whose ISO code differs.
_COUNTRY_HINTS = {"UK": "GB", "EL": "GR"}


def invalid(message: str, field: str | None = None) -> PydanticCustomError:
    """A validation error with a final, human message (and, optionally, the field it is about)."""
    context: dict[str, Any] = {"message": message}
    if field:
        context["field"] = field
    # The message goes in through the context so that braces in it are never taken as a template.
    return PydanticCustomError("rebound", "{message}", context)


def _as_text(value: Any) -> Any:
    """Numbers and dates written unquoted count as the text written (`007` -> "007")."""
    source = source_text(value)
    if source is not None:
        return source
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # programmatic callers: a number where an id is expected
    return value


def _printable(value: str) -> str:
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            raise invalid(f"contains a control character (U+{ord(ch):04X})")
    return value


def _digits(value: str) -> str:
    if not _DIGITS_RE.fullmatch(value):
        raise invalid("expected an ID made of digits only")
    return value


def _identifier(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise invalid("expected an ID: letters, digits, `_`, `.`, `:` or `-`, at most 128")
    return value


def _slug(value: str) -> str:
    if not SLUG_RE.fullmatch(value):
        raise invalid(
            "expected 1 to 64 letters, digits, `-` or `_`, starting with a letter or digit"
        )
    return value


def _host_name(value: str) -> str:
    """`Go.Bücher.example` -> `go.xn--bcher-kva.example`, the name requests are looked up by
    (`normalize_host`); anything but a bare host name is an error that says what is wrong."""
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        raise invalid("a host name cannot contain spaces or control characters")
    if "://" in value:
        raise invalid("expected a host name only, such as go.brand.com, not a URL")
    if any(ch in value for ch in "/?#\\"):
        raise invalid("expected a host name only, without a path")
    if "@" in value:
        raise invalid("expected a host name only, without a user name")
    if ":" in value:
        raise invalid("expected a host name only, without a port (the port is ignored)")
    host = normalize_host(value)
    # `idna` says why a name is refused, and checks the punycode labels normalize_host takes as
    # written (the redirect does not decode them: no stored name has a label that is not valid).
    problem = _idna_problem(value) if host is None or "xn--" in host else None
    if host is None or problem:
        raise invalid(f"not a valid host name: {problem}" if problem else "not a valid host name")
    return host


def _idna_problem(value: str) -> str | None:
    try:
        idna.encode(value[:-1] if value.endswith(".") else value, uts46=True)
    except (idna.IDNAError, UnicodeError) as exc:
        return str(exc)
    return None


def check_url(value: str) -> str:
    """An absolute http(s) URL that is safe to redirect to; returned exactly as written."""
    if len(value) > MAX_URL_LENGTH:
        raise invalid(f"URL is {len(value)} characters long; the limit is {MAX_URL_LENGTH}")
    for pos, ch in enumerate(value, 1):
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs"):
            raise invalid(
                f"URL contains whitespace or a control character at position {pos}; "
                "percent-encode it (a space is %20)"
            )
    if "\\" in value:
        # Browsers read `\` as `/` in http(s) URLs: left in, it can change which host is visited.
        raise invalid("URL contains a backslash; percent-encode it as %5C")
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port >= 0
    except ValueError:
        raise invalid("not a valid URL (check the host and port)") from None
    if parts.scheme not in ("http", "https"):
        raise invalid("URL must start with https:// or http://")
    if "@" in parts.netloc:
        raise invalid("URL must not contain a user name or password (user:password@)")
    if not parts.hostname or not port_ok:
        raise invalid("URL needs a host, e.g. https://shop.example/")
    _honest_host(parts.hostname)
    return value


def _codepoint(ch: str) -> str:
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"


def _honest_host(host: str) -> None:
    """A host that reads as what it is: IDNA2008 code points only (no fullwidth dots, no
    invisible or bidi characters: `idna` refuses them), and each label in one writing system
    (no Cyrillic `а` among Latin letters), also when written as punycode."""
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label = idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise invalid(
                    f"the URL's host has an invalid punycode label {label}: {exc}"
                ) from None
        elif label.isascii():
            continue
        try:
            idna.encode(label, strict=True, uts46=False)
        except (idna.IDNAError, UnicodeError):
            bad = next(
                (ch for ch in label if not _idna_ok(ch)),
                None,
            )
            what = f"{_codepoint(bad)}, which" if bad else "a character that"
            raise invalid(
                f"the URL's host contains {what} is not allowed in a host name and can make it "
                "look like another; write the host plainly"
            ) from None
        scripts = _scripts_of(label)
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _SCRIPT_SETS):
            raise invalid(
                f"the URL's host label {label!r} mixes {' and '.join(sorted(scripts))} letters, "
                "a way to imitate another host; write each label in one script"
            )


def _idna_ok(ch: str) -> bool:
    try:
        idna.encode(ch, strict=True, uts46=False)
    except (idna.IDNAError, UnicodeError):
        return ch == "-"
    return True


@cache
def _script_patterns() -> list[tuple[str, Any]]:
    import regex  # Unicode script properties (the standard library has none)

    return [(name, regex.compile(rf"\p{{Script={name}}}")) for name in _SCRIPTS]


def _scripts_of(label: str) -> frozenset[str]:
    found = set()
    for ch in label:
        for name, pattern in _script_patterns():
            if pattern.match(ch):
                found.add(name)
                break
        else:
            if unicodedata.category(ch).startswith("L"):  # a letter of a script not listed
                found.add(unicodedata.name(ch, "?").split(" ")[0])
    return frozenset(found)


def check_secret_ref(value: str, info: ValidationInfo) -> str:
    """A reference to where a credential is kept. The value itself is never echoed back.

    For a stage (validation context), it must be under the stage's path: the functions' IAM
    policies let them read ssm:/rebound/<stage>/* and secretsmanager:rebound/<stage>/* only."""
    if _SSM_RE.fullmatch(value) or _SECRETS_MANAGER_RE.fullmatch(value):
        stage = (info.context or {}).get(STAGE)
        if stage and not value.startswith(stage_secret_prefixes(stage)):
            ssm, sm = stage_secret_prefixes(stage)
            raise invalid(
                f"outside the secrets of stage {stage}: its functions may read only {ssm}... and "
                f"{sm}... (IAM), so this reference would fail at run time"
            )
        return value
    if value.startswith("ssm:"):
        raise invalid(
            "an SSM reference is `ssm:/` followed by the parameter's path, "
            "e.g. ssm:/rebound/prod/meta-token"
        )
    if value.startswith("secretsmanager:"):
        raise invalid("a Secrets Manager reference is `secretsmanager:` and the secret's name")
    raise invalid(
        "credentials are not written in this file: store the value in SSM Parameter Store or "
        "Secrets Manager and use a reference here (ssm:/path or secretsmanager:name)"
    )


def stage_secret_prefixes(stage: str) -> tuple[str, str]:
    """The reference prefixes a stage's functions may read (infra: .chalice/policy-*.json)."""
    return f"ssm:/rebound/{stage}/", f"secretsmanager:rebound/{stage}/"


CONVERSION_SECRET_SUFFIX = "conversion-secret"  # noqa: S105 - a name, not a secret


def check_conversion_secret(value: str) -> str:
    """The public API function may read only secrets named ...conversion-secret (its IAM
    policy), not the platform tokens beside them."""
    if not value.endswith(CONVERSION_SECRET_SUFFIX):
        raise invalid(
            f"the postback function may read only secrets whose name ends in "
            f"`{CONVERSION_SECRET_SUFFIX}`, e.g. ssm:/rebound/prod/go.brand.com/conversion-secret"
        )
    return value


def check_endpoint_allowed(value: str, info: ValidationInfo) -> str:
    """An `endpoint` receives the platform's credentials: only where the stage permits it."""
    context = info.context or {}
    if context.get(ALLOW_ENDPOINTS) is False:
        stage = context.get(STAGE) or "this stage"
        raise invalid(
            f"stage {stage} does not permit a platform endpoint override: the platform's access "
            "token would be sent to this URL. Remove it, or set REBOUND_ALLOW_ENDPOINTS to "
            '"true" in the stage\'s environment_variables (.chalice/config.json) for a stage '
            "whose credentials are test ones"
        )
    return value


def check_webhook_target(value: str, info: ValidationInfo) -> str:
    """Where the stage forbids endpoint overrides (production), a webhook may not target this
    network's own addresses (SSRF): a literal private, loopback or link-local IP, or localhost.
    Names that resolve to one are refused when connecting (``webhooks.target``)."""
    if (info.context or {}).get(ALLOW_ENDPOINTS) is not False:
        return value
    host = (urlsplit(value).hostname or "").rstrip(".").lower()
    reason = internal_host_reason(host)
    if reason:
        stage = (info.context or {}).get(STAGE) or "this stage"
        raise invalid(f"stage {stage} refuses a webhook to {reason}: use a public URL")
    return value


@cache
def iso_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (loaded on first use: only validation needs them)."""
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)


def _country(value: str) -> str:
    code = value.upper()
    if code in iso_countries():
        return code
    if code in REGIONS:
        raise invalid(f"{code} is a region; regions are allowed only in consent.require_in")
    hint = f"; did you mean {_COUNTRY_HINTS[code]}?" if code in _COUNTRY_HINTS else ""
    raise invalid(f"{value} is not an ISO 3166-1 alpha-2 country code{hint}")


def _country_or_region(value: str) -> str:
    code = value.upper()
    return code if code in REGIONS else _country(value)


def _language(value: str) -> str:
    """BCP 47 casing: `DE_at` -> `de-AT`, `zh-hant` -> `zh-Hant`."""
    if not _LANGUAGE_RE.fullmatch(value):
        raise invalid("expected a language tag such as de or de-AT")
    first, *rest = re.split(r"[-_]", value)
    out = [first.lower()]
    for part in rest:
        if len(part) == 2 and part.isalpha():
            out.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        else:
            out.append(part.lower())
    return "-".join(out)


def _device(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in DEVICES:
        return value.lower()
    raise invalid(f"expected one of {', '.join(DEVICES)}")


def _link_ref(value: str) -> str:
    host, sep, slug = value.partition("/")
    if not sep:
        raise invalid("expected domain/slug, e.g. go.brand.com/spring-sale")
    return f"{_host_name(host)}/{_slug(slug)}"


def _query_value(value: Any) -> str | bool:
    if isinstance(value, bool):
        return value
    value = _as_text(value)
    if isinstance(value, str):
        return _printable(value)
    raise invalid("expected a string (equals), true (present) or false (absent)")


def _to_datetime(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        # pydantic would read a number as a Unix time; in a config that is almost surely a slip.
        raise invalid("expected a date and time such as 2026-11-01T00:00:00Z")
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _utc(value: datetime) -> datetime:
    """Naive times are UTC; aware ones are converted. Always a plain `datetime`."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def format_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`; fractions of a second only when there are some."""
    value = _utc(value)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def _pattern(pattern: str, **extra: Any) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern, **extra})


def _id_pattern(pattern: str) -> WithJsonSchema:
    # Unquoted numbers are accepted (`pixel_id: 1234`): editors should not flag them.
    return WithJsonSchema({"type": ["string", "number"], "pattern": pattern})


Text = Annotated[
    str,
    BeforeValidator(_as_text),
    Field(min_length=1),
    AfterValidator(_printable),
    WithJsonSchema({"type": ["string", "number"], "minLength": 1}),
]
Int = StrictInt
Bool = StrictBool
Slug = Annotated[
    str, BeforeValidator(_as_text), AfterValidator(_slug), _id_pattern(f"^{SLUG_RE.pattern}$")
]
Identifier = Annotated[
    str,
    BeforeValidator(_as_text),
    AfterValidator(_identifier),
    _id_pattern(f"^{_ID_RE.pattern}$"),
]
Digits = Annotated[str, BeforeValidator(_as_text), AfterValidator(_digits), _id_pattern("^[0-9]+$")]
Host = Annotated[
    str,
    BeforeValidator(_as_text),
    AfterValidator(_host_name),
    WithJsonSchema({"type": "string", "format": "idn-hostname"}),
]
Url = Annotated[
    str,
    AfterValidator(check_url),
    WithJsonSchema(
        {"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": MAX_URL_LENGTH}
    ),
]
EndpointUrl = Annotated[Url, AfterValidator(check_endpoint_allowed)]
WebhookUrl = Annotated[Url, AfterValidator(check_webhook_target)]
SecretRef = Annotated[
    str,
    BeforeValidator(_as_text),
    AfterValidator(check_secret_ref),
    _pattern(r"^(ssm:/|secretsmanager:)\S+$", description="ssm:/path or secretsmanager:name"),
]
ConversionSecretRef = Annotated[SecretRef, AfterValidator(check_conversion_secret)]
Country = Annotated[
    str, BeforeValidator(_as_text), AfterValidator(_country), _pattern("^[A-Za-z]{2}$")
]
CountryOrRegion = Annotated[
    str,
    BeforeValidator(_as_text),
    AfterValidator(_country_or_region),
    _pattern("^([A-Za-z]{2}|EU|EEA)$"),
]
Language = Annotated[str, AfterValidator(_language), _pattern(f"^{_LANGUAGE_RE.pattern}$")]
Device = Annotated[str, PlainValidator(_device), WithJsonSchema({"enum": list(DEVICES)})]
LinkRef = Annotated[
    str,
    AfterValidator(_link_ref),
    WithJsonSchema({"type": "string", "pattern": "^[^/]+/[A-Za-z0-9][A-Za-z0-9_-]*$"}),
]
QueryValue = Annotated[
    str | bool,
    PlainValidator(_query_value),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]
UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_to_datetime),
    AfterValidator(_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]
