"""The entities of links.yaml (version 1): one pydantic description that validate, plan, apply,
export and schema all use.

Each entity's `spec()` is what `apply` stores (see `chalicelib.links.record`): the entity as a
plain JSON-able dict in the shape of links.yaml, defaults filled in, None values left out.
What each kind of value accepts is in `values`; checks that span entities (a link's domain exists,
no duplicate slugs, ...) are in `references`, which works on raw data too, so the loader can report
them alongside field errors instead of after them; walking these classes' fields is `introspect`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from chalicelib.config.references import REFERENCES_CHECKED, reference_problems
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
    WebhookUrl,
    invalid,
)
from chalicelib.config.yamldoc import format_loc

VERSION = 1


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


class XEvents(_Model):
    """The X event (its ID in Events Manager: `o87ne`, or `tw-<pixel_id>-o87ne`) that each kind
    of Rebound event is sent as; a kind without one is not sent to X."""

    click: Identifier | None = None
    lead: Identifier | None = None
    purchase: Identifier | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> XEvents:
        if self.click is self.lead is self.purchase is None:
            raise invalid("`events` needs at least one of click, lead, purchase")
        return self


class XPlatform(_Platform):
    pixel_id: Identifier
    """The X Pixel's base (pixel) ID, base 36, e.g. o8z6j; also loaded by `mode: pixel` links."""
    events: XEvents
    consumer_key: SecretRef
    """OAuth 1.0a user context: the app's API key and secret, and the access token and secret of
    a user with access to the ad account."""
    consumer_secret: SecretRef
    access_token: SecretRef
    access_token_secret: SecretRef


# ------------------------------------------------------------------------------ email tools
# The merchant's own remarketing tools (docs/remarketing.md): each gets the plain email of a lead
# or buyer, with the click's context, to start a flow.

KlaviyoRevision = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}(\.pre)?$")]
EventTags = Annotated[
    dict[Annotated[Text, Field(max_length=64)], Annotated[Int, Field(ge=1)]], Field(min_length=1)
]


class KlaviyoPlatform(_Platform):
    api_key: SecretRef
    """A private API key (pk_...) with the events:write and profiles:write scopes."""
    revision: KlaviyoRevision = "2026-10-15"
    """The API revision sent in the `revision` header."""


class OmnisendPlatform(_Platform):
    api_key: SecretRef


class BrevoPlatform(_Platform):
    api_key: SecretRef


class KitPlatform(_Platform):
    api_key: SecretRef
    """A v4 API key (X-Kit-Api-Key)."""
    tags: EventTags
    """Kit has no custom events: the tag id added for each kind of conversion (lead, purchase,
    or a custom event's name); a kind without a tag is not sent. A tag can trigger a sequence."""


class ActiveCampaignPlatform(_Platform):
    account: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    """The account name: https://<account>.api-us1.com."""
    api_key: SecretRef
    tags: EventTags
    """The tag id added for each kind of conversion (lead, purchase, or a custom event's name); a
    kind without a tag is not sent. An automation can start when a tag is added."""
    fields: dict[Annotated[Text, Field(max_length=64)], Annotated[Int, Field(ge=1)]] | None = None
    """Custom field ids for Rebound's properties (campaign, link, utm_source, ...: docs/
    remarketing.md): each mapped field is set to the conversion's value, as text."""


class MailchimpPlatform(_Platform):
    api_key: SecretRef
    """A Marketing API key; its suffix (e.g. -us6) names the data centre."""
    list_id: Identifier
    """The audience (list) id the contacts are upserted into."""
    status_if_new: Literal["pending", "subscribed", "transactional"] = "pending"
    """A new contact's status: pending (double opt-in: Mailchimp asks them to confirm),
    subscribed (only when your form collected marketing consent), or transactional."""
    tags: (
        dict[Annotated[Text, Field(max_length=64)], Annotated[Text, Field(max_length=100)]] | None
    ) = None
    """A tag name added for each kind (lead, purchase, a custom event's name) besides the event:
    a journey can start on "Tag added" or a segment use it where event starts are not in the
    plan."""


class HubSpotPlatform(_Platform):
    access_token: SecretRef
    """A private app's access token (scopes: crm.objects.contacts.write; analytics.behavioral_events.send
    for custom events)."""
    event_names: dict[Annotated[Text, Field(max_length=64)], Identifier] | None = None
    """Custom events (Enterprise hubs only): the event's internal name (pe<portal>_...) for each kind
    of conversion, sent after the contact's rebound_* properties are set (always)."""


class Platforms(_Model):
    """Destinations that receive server-side events (ad platforms and email tools); credentials
    are references, never values."""

    meta: MetaPlatform | None = None
    tiktok: TikTokPlatform | None = None
    linkedin: LinkedInPlatform | None = None
    google: GooglePlatform | None = None
    pinterest: PinterestPlatform | None = None
    snapchat: SnapchatPlatform | None = None
    reddit: RedditPlatform | None = None
    x: XPlatform | None = None
    klaviyo: KlaviyoPlatform | None = None
    omnisend: OmnisendPlatform | None = None
    brevo: BrevoPlatform | None = None
    kit: KitPlatform | None = None
    activecampaign: ActiveCampaignPlatform | None = None
    mailchimp: MailchimpPlatform | None = None
    hubspot: HubSpotPlatform | None = None

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
    min_clicks: Annotated[Int, Field(ge=1)] = 1
    """An engagement tier: a visitor joins at their Nth click within `window_days` (one event,
    once per visitor and window) instead of at every click."""
    exclude_converted: Bool = False
    """An engagement tier: a visitor with a purchase attributed within `window_days` does not join."""

    def spec(self) -> dict[str, Any]:
        """As in links.yaml; the tier fields only when they make the audience a tier, so a plain
        audience's stored record is what it was before tiers existed."""
        out = super().spec()
        if self.min_clicks == 1:
            out.pop("min_clicks")
        if not self.exclude_converted:
            out.pop("exclude_converted")
        return out


# ---------------------------------------------------------------------------------- webhooks

WEBHOOK_EVENTS = ("click", "lead", "purchase", "custom")


class Webhook(_Model):
    """Signed deliveries of clicks and conversions to any other system (docs/webhooks.md)."""

    id: Slug
    url: WebhookUrl
    """Where each delivery is POSTed. Production refuses private, loopback and link-local targets."""
    secret: SecretRef
    """HMAC-SHA256 key of the Rebound-Signature header, as for postbacks."""
    events: Annotated[list[Literal[WEBHOOK_EVENTS]], Field(min_length=1)]  # type: ignore[valid-type]
    """Which events: click (a human click with consent), lead, purchase, custom (any other
    conversion event)."""
    match: AudienceMatch | None = None
    """Which links, like an audience's match; without it, every link."""
    personal_data: Literal["hashed", "plain"] = "hashed"
    """How a conversion's email and phone are sent: SHA-256 of the normalised value, or plain
    (the email then travels in the encrypted stream, as for email tools)."""
    dry_run: Bool = False
    """Record deliveries instead of sending them."""


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
    webhooks: Annotated[list[Webhook], BeforeValidator(_none_is_empty)] = Field(
        default_factory=list
    )

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
