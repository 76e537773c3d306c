"""The model of links.yaml (version 1): one pydantic description that validate, plan, apply,
export and schema all use.

Each entity's `spec()` is what `apply` stores (see `chalicelib.links.record`): the entity as a
plain JSON-able dict in the shape of links.yaml, defaults filled in, None values left out.
Checks that span entities (a link's domain exists, no duplicate slugs, ...) are in
`reference_problems`, which works on raw data too, so the loader can report them alongside field
errors instead of after them.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from chalicelib.config.values import (
    PLATFORM_NAMES,
    Bool,
    ConversionSecretRef,
    Country,
    CountryOrRegion,
    Device,
    Digits,
    EndpointUrl,
    Host,
    Identifier,
    Int,
    Language,
    LinkRef,
    QueryValue,
    SecretRef,
    Slug,
    Text,
    Url,
    UtcDateTime,
    invalid,
)
from chalicelib.config.yamldoc import Loc

VERSION = 1
# Validation context flag: the caller (the loader) reports cross-references itself, with positions.
REFERENCES_CHECKED = "references_checked"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,  # an input may be a pasted token: never print it back
        use_attribute_docstrings=True,  # field docstrings become descriptions in the JSON Schema
    )

    def spec(self) -> dict[str, Any]:
        """This entity as in links.yaml: plain JSON-able values, defaults in, None left out."""
        return self.model_dump(mode="json", exclude_none=True)


def _none_is_empty(value: Any) -> Any:
    # `links:` with every entry commented out is an empty list, not an error.
    return [] if value is None else value


def _at_least_two_arms(arms: list[SplitArm]) -> list[SplitArm]:
    if len(arms) < 2:
        raise invalid("a split needs at least 2 arms (for a single destination use `url`)")
    return arms


# ---------------------------------------------------------------------------------- domains


class Consent(_Model):
    honor_gpc: Bool = True
    """No events and no cookie when the browser sends Global Privacy Control (Sec-GPC: 1)."""
    honor_dnt: Bool = False
    """No events and no cookie when the browser sends Do Not Track (DNT: 1)."""
    require_in: list[CountryOrRegion] = Field(default_factory=list)
    """Countries (ISO 3166-1 alpha-2) or regions (EU, EEA: the EEA and the UK) where consent is
    required before anything is sent."""
    unknown_country: Literal["deny", "allow"] = "deny"
    """With require_in set, a visitor whose country is unknown (no CloudFront-Viewer-Country: a
    regional endpoint, another CDN, the local stack) counts as inside it (deny), unless this says
    allow (docs/consent.md)."""
    limited_data_use: Bool = False
    """Ask platforms to restrict processing (Meta LDU, TikTok limited_data_use, Pinterest
    opt_out, Google ad_personalization denied), e.g. for US state privacy laws."""


class Domain(_Model):
    name: Host
    """The short domain (Host header): lower-cased, IDNA (punycode), no port."""
    root_url: Url | None = None
    """Where `GET /` goes (else a 404 page)."""
    not_found_url: Url | None = None
    """Where an unknown slug goes (else a 404 page)."""
    expired_url: Url | None = None
    """Default destination of this domain's expired links (else a 410 page)."""
    consent: Consent = Field(default_factory=Consent)
    conversion_secret: ConversionSecretRef | None = None
    """HMAC secret of conversion postbacks: ssm:/path or secretsmanager:name."""
    default_country: Country | None = None
    """ISO 3166-1 alpha-2 country used to read phone numbers that have no country code."""


# -------------------------------------------------------------------------------- platforms


class _Platform(_Model):
    endpoint: EndpointUrl | None = None
    """Base URL that replaces the platform's API host (tests, proxies, the local sink)."""
    dry_run: Bool = False
    """Record events instead of sending them."""


class MetaPlatform(_Platform):
    pixel_id: Digits
    access_token: SecretRef
    test_event_code: Identifier | None = None
    page_view_event: Annotated[Text, Field(max_length=50)] = "PageView"
    """Event sent for a click: PageView or a custom event name."""
    api_version: Annotated[str, Field(pattern=r"^v\d{1,3}\.\d$")] = "v26.0"
    """Graph API version of the Conversions API endpoint."""


class TikTokPlatform(_Platform):
    pixel_code: Identifier
    access_token: SecretRef
    test_event_code: Identifier | None = None


def _linkedin_version(value: str) -> str:
    if len(value) != 6 or not value.isdigit() or not 1 <= int(value[4:]) <= 12:
        raise invalid("expected a LinkedIn API version as YYYYMM, e.g. 202601")
    return value


def _linkedin_rule(value: str) -> str:
    prefix = "urn:lla:llaPartnerConversion:"
    if not (value.startswith(prefix) and value[len(prefix) :].isdigit()):
        raise invalid(f"expected {prefix}<digits>")
    return value


def _ga4_id(value: str) -> str:
    if not (value.startswith("G-") and value[2:].isalnum() and value[2:].isascii()):
        raise invalid("expected a GA4 measurement ID such as G-ABC123XYZ")
    return value


def _ads_tag_id(value: str) -> str:
    if not (value.startswith("AW-") and value[3:].isdigit() and value[3:].isascii()):
        raise invalid("expected a Google Ads tag ID such as AW-123456789")
    return value


class LinkedInPlatform(_Platform):
    conversion_rule: Annotated[
        str,
        AfterValidator(_linkedin_rule),
        WithJsonSchema({"type": "string", "pattern": "^urn:lla:llaPartnerConversion:[0-9]+$"}),
    ]
    access_token: SecretRef
    version: (
        Annotated[
            Text,
            AfterValidator(_linkedin_version),
            WithJsonSchema({"type": "string", "pattern": "^[0-9]{6}$"}),
        ]
        | None
    ) = None
    """LinkedIn-Version header (YYYYMM); versions are retired after about a year."""
    insight_partner_id: Digits | None = None
    """Partner ID of the LinkedIn Insight Tag, loaded by `mode: pixel` links (not secret)."""


class GooglePlatform(_Platform):
    ga4_measurement_id: (
        Annotated[
            str, AfterValidator(_ga4_id), WithJsonSchema({"type": "string", "pattern": "^G-"})
        ]
        | None
    ) = None
    ga4_api_secret: SecretRef | None = None
    ads_account_id: Digits | None = None
    """Google Ads customer ID, digits only (no dashes)."""
    ads_conversion_action: Identifier | None = None
    ads_login_account_id: Digits | None = None
    """Manager account through which the Ads account is reached, if any."""
    oauth_token: SecretRef | None = None
    ads_tag_id: (
        Annotated[
            str,
            AfterValidator(_ads_tag_id),
            WithJsonSchema({"type": "string", "pattern": "^AW-[0-9]+$"}),
        ]
        | None
    ) = None
    """Google tag ID of the Ads account (AW-...), loaded with gtag.js by `mode: pixel` links."""
    validate_only: Bool = False
    """Ask Google to validate without recording (GA4 debug endpoint, Data Manager validateOnly)."""

    @model_validator(mode="after")
    def _pairs(self) -> GooglePlatform:
        for a, b in (
            ("ga4_measurement_id", "ga4_api_secret"),
            ("ads_account_id", "ads_conversion_action"),
        ):
            for have, lack in ((a, b), (b, a)):
                if getattr(self, have) is not None and getattr(self, lack) is None:
                    raise invalid(f"{lack} is required with {have}", field=lack)
        ads = self.ads_account_id is not None
        if self.oauth_token is not None and not ads:
            raise invalid(
                "oauth_token is used only for Google Ads conversions: "
                "set ads_account_id and ads_conversion_action too",
                field="oauth_token",
            )
        if self.ga4_measurement_id is None and not ads:
            raise invalid(
                "configure GA4 (ga4_measurement_id, ga4_api_secret), "
                "Google Ads (ads_account_id, ads_conversion_action), or both"
            )
        return self


class PinterestPlatform(_Platform):
    ad_account_id: Digits
    access_token: SecretRef
    test: Bool = False
    """Send events with ?test=true."""
    tag_id: Digits | None = None
    """Pinterest Tag ID, loaded by `mode: pixel` links (not secret)."""


class SnapchatPlatform(_Platform):
    pixel_id: Identifier
    access_token: SecretRef


class RedditPlatform(_Platform):
    pixel_id: Identifier
    access_token: SecretRef
    test_id: Identifier | None = None


class Platforms(_Model):
    """Ad platforms that receive server-side events; credentials are references, never values."""

    meta: MetaPlatform | None = None
    tiktok: TikTokPlatform | None = None
    linkedin: LinkedInPlatform | None = None
    google: GooglePlatform | None = None
    pinterest: PinterestPlatform | None = None
    snapchat: SnapchatPlatform | None = None
    reddit: RedditPlatform | None = None

    def configured(self) -> dict[str, _Platform]:
        return {name: cfg for name in PLATFORM_NAMES if (cfg := getattr(self, name)) is not None}


# -------------------------------------------------------------------------------- audiences


class AudienceMatch(_Model):
    """Every criterion given must hold; within one, any listed value will do."""

    tags: Annotated[list[Text], Field(min_length=1)] | None = None
    links: Annotated[list[LinkRef], Field(min_length=1)] | None = None
    """Links as domain/slug."""
    campaigns: Annotated[list[Text], Field(min_length=1)] | None = None
    domains: Annotated[list[Host], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> AudienceMatch:
        if self.tags is self.links is self.campaigns is self.domains is None:
            raise invalid("`match` needs at least one of tags, links, campaigns, domains")
        return self


class Audience(_Model):
    id: Slug
    match: AudienceMatch
    window_days: Annotated[Int, Field(ge=1, le=540)] = 30
    """How long a click keeps a visitor in the audience."""
    send_to: list[Literal[PLATFORM_NAMES]] = Field(default_factory=list)  # type: ignore[valid-type]
    """Platforms that get a server-side event for each click in the audience."""


# ------------------------------------------------------------------------------------ links


class When(_Model):
    """Conditions of a rule; all that are given must hold."""

    device: Annotated[list[Device], Field(min_length=1)] | None = None
    os: Annotated[list[Text], Field(min_length=1)] | None = None
    browser: Annotated[list[Text], Field(min_length=1)] | None = None
    country: Annotated[list[Country], Field(min_length=1)] | None = None
    """ISO 3166-1 alpha-2 codes (from CloudFront-Viewer-Country)."""
    language: Annotated[list[Language], Field(min_length=1)] | None = None
    """Language tags matched against Accept-Language, e.g. de or de-AT."""
    query: Annotated[dict[Text, QueryValue], Field(min_length=1)] | None = None
    """Query parameter -> value it must equal, true (present) or false (absent)."""
    before: UtcDateTime | None = None
    after: UtcDateTime | None = None

    @model_validator(mode="after")
    def _sensible(self) -> When:
        if all(value is None for _, value in self):
            raise invalid(
                "`when` needs at least one condition: device, os, browser, country, language, "
                "query, before or after"
            )
        if self.before is not None and self.after is not None and self.after >= self.before:
            raise invalid(
                "`before` must be later than `after`, or the rule never matches", "before"
            )
        return self


class Rule(_Model):
    when: When
    url: Url


class SplitArm(_Model):
    url: Url
    weight: Annotated[Int, Field(ge=1)]


class Utm(_Model):
    """UTM parameters added to the destination (never overriding the destination's own)."""

    source: Text | None = None
    medium: Text | None = None
    campaign: Text | None = None
    term: Text | None = None
    content: Text | None = None


class Link(_Model):
    domain: Host
    slug: Slug
    """Matched case-insensitively; kept as written."""
    url: Url
    redirect: Literal[301, 302, 307, 308] = 302
    mode: Literal["redirect", "pixel"] = "redirect"
    """pixel: an interstitial page that loads the browser pixels, then redirects."""
    campaign: Text | None = None
    tags: list[Text] = Field(default_factory=list)
    utm: Utm = Field(default_factory=Utm)
    forward_query: Bool = True
    """Pass the visitor's query string on to the destination."""
    track_conversions: Bool = False
    """Append rb_cid=<click id> to the destination, for conversion postbacks."""
    rules: list[Rule] = Field(default_factory=list)
    """First match wins."""
    split: Annotated[list[SplitArm], AfterValidator(_at_least_two_arms)] | None = None
    """Weighted destinations, sticky per visitor."""
    starts_at: UtcDateTime | None = None
    expires_at: UtcDateTime | None = None
    expired_url: Url | None = None
    """Where the link goes once expired (else the domain's expired_url, else a 410 page)."""
    max_clicks: Annotated[Int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _window(self) -> Link:
        if self.starts_at and self.expires_at and self.starts_at >= self.expires_at:
            raise invalid("expires_at must be later than starts_at", "expires_at")
        return self


# ----------------------------------------------------------------------------------- config


def unsupported_version(value: int) -> str:
    return f"unsupported version {value}: this Rebound reads version {VERSION}"


def _version(value: int) -> int:
    if value != VERSION:
        raise invalid(unsupported_version(value))
    return value


class Config(_Model):
    """A whole links.yaml."""

    model_config = ConfigDict(title="Rebound links.yaml")

    version: Annotated[
        Int, AfterValidator(_version), WithJsonSchema({"const": VERSION, "type": "integer"})
    ]
    """Format version of this file: 1."""
    domains: Annotated[list[Domain], BeforeValidator(_none_is_empty)] = Field(default_factory=list)
    platforms: Annotated[Platforms, BeforeValidator(lambda v: {} if v is None else v)] = Field(
        default_factory=Platforms
    )
    audiences: Annotated[list[Audience], BeforeValidator(_none_is_empty)] = Field(
        default_factory=list
    )
    links: Annotated[list[Link], BeforeValidator(_none_is_empty)] = Field(default_factory=list)

    def platform_specs(self) -> dict[str, dict[str, Any]]:
        """name -> spec of each configured platform."""
        return {name: cfg.spec() for name, cfg in self.platforms.configured().items()}

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Config:
        if info.context and info.context.get(REFERENCES_CHECKED):
            return self
        problems = reference_problems(self.model_dump())
        if problems:
            raise invalid(
                "; ".join(f"{format_loc(p.loc)}: {p.render(format_loc)}" for p in problems)
            )
        return self


# ---------------------------------------------------------------------------- cross-checks


def format_loc(loc: Loc) -> str:
    """`("links", 3, "rules", 0)` -> `links[3].rules[0]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "a").replace("-", "a").isalnum() and part.isascii():
            out += f".{part}" if out else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


@dataclass(frozen=True)
class Problem:
    """A cross-reference problem at `loc`; `{where}` in the message stands for `see`."""

    loc: Loc
    message: str
    see: Loc | None = None

    def render(self, where: Callable[[Loc], str]) -> str:
        if self.see is None:
            return self.message
        return self.message.replace("{where}", where(self.see))


_HOST = TypeAdapter(Host)
_SLUG = TypeAdapter(Slug)
_LINK_REF = TypeAdapter(LinkRef)


def _valid(adapter: TypeAdapter[Any], value: Any) -> Any:
    """The validated value, or None: field errors are reported by the model, not here."""
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _entries(data: Mapping[str, Any], section: str) -> list[tuple[int, Mapping[str, Any]]]:
    items = data.get(section)
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, Mapping)]


def _strings(value: Any) -> list[tuple[int, Any]]:
    return list(enumerate(value)) if isinstance(value, list) else []


def _first_seen(
    problems: list[Problem], seen: dict[Any, int], key: Any, loc: Loc, message: str
) -> None:
    """Remember where ``key`` was first defined (``loc`` is (section, index, field)); a second
    definition is a problem whose ``{where}`` points at the first."""
    section, index, name = loc
    if key in seen:
        problems.append(Problem(loc, message, (section, seen[key], name)))
    else:
        seen[key] = index


def reference_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Problems between entities: unknown or duplicate domains, links, audiences, platforms.

    Works on raw (possibly invalid) data, looking only at the values that are valid, so that these
    problems are found in the same pass as field errors.
    """
    problems: list[Problem] = []

    hosts: dict[str, int] = {}
    for i, domain in _entries(data, "domains"):
        host = _valid(_HOST, domain.get("name"))
        if host is None:
            continue
        _first_seen(
            problems, hosts, host, ("domains", i, "name"),
            f"duplicate domain {host}: already defined at {{where}}",
        )  # fmt: skip

    platforms = data.get("platforms")
    configured = (
        {n for n, cfg in platforms.items() if cfg is not None}
        if isinstance(platforms, Mapping)
        else set()
    )

    links: dict[tuple[str, str], int] = {}
    for i, link in _entries(data, "links"):
        host = _valid(_HOST, link.get("domain"))
        if host is not None and host not in hosts:
            known = ", ".join(sorted(hosts)) or "none"
            problems.append(
                Problem(
                    ("links", i, "domain"),
                    f"unknown domain {host}: add it under `domains:` (defined: {known})",
                )
            )
        slug = _valid(_SLUG, link.get("slug"))
        if host is None or slug is None:
            continue
        _first_seen(
            problems, links, (host, slug.lower()), ("links", i, "slug"),
            f"duplicate link {host}/{slug}: {{where}} has the same domain and slug "
            "(slugs are matched case-insensitively)",
        )  # fmt: skip

    ids: dict[str, int] = {}
    for i, audience in _entries(data, "audiences"):
        audience_id = _valid(_SLUG, audience.get("id"))
        if audience_id is not None:
            _first_seen(
                problems, ids, audience_id, ("audiences", i, "id"),
                f"duplicate audience {audience_id}: already defined at {{where}}",
            )  # fmt: skip
        for j, name in _strings(audience.get("send_to")):
            if name in PLATFORM_NAMES and name not in configured:
                problems.append(
                    Problem(
                        ("audiences", i, "send_to", j),
                        f"platform {name} is not configured under `platforms:`",
                    )
                )
        match = audience.get("match")
        if not isinstance(match, Mapping):
            continue
        for j, ref in _strings(match.get("links")):
            ref = _valid(_LINK_REF, ref)
            if ref is not None:
                host, _, slug = ref.partition("/")
                if (host, slug.lower()) not in links:
                    problems.append(
                        Problem(
                            ("audiences", i, "match", "links", j),
                            f"no link {ref} in this file",
                        )
                    )
        for j, host in _strings(match.get("domains")):
            host = _valid(_HOST, host)
            if host is not None and host not in hosts:
                problems.append(
                    Problem(
                        ("audiences", i, "match", "domains", j),
                        f"unknown domain {host}: add it under `domains:`",
                    )
                )
    return problems


# -------------------------------------------------------------------------- introspection


def unwrap(tp: Any) -> Any:
    """Strip `Annotated[...]` and `X | None` down to X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def field_order(model: type[BaseModel]) -> list[str]:
    """Field names as a person reads them: the model's own first, then inherited ones (a
    platform's `endpoint` and `dry_run`)."""
    inherited = {
        name
        for base in model.__mro__[1:]
        if isinstance(base, type) and issubclass(base, BaseModel)
        for name in base.model_fields
    }
    own = [n for n in model.model_fields if n not in inherited]
    return own + [n for n in model.model_fields if n in inherited]


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` under `root`, or None."""
    tp: Any = root
    for part in loc:
        tp = unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.rebuild_annotation()
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
