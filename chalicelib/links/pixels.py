"""The platforms' browser pixels, in one table: what a `mode: pixel` link's record carries for
each (the public ids from the platform's settings, computed at apply time by ``pixels_for``) and
what the interstitial page needs to fire it (its name for the consent page, the published snippet
that loads and fires it, the hosts its Content-Security-Policy opens).

A plain module of plain values: the redirect (``chalicelib.redirect.interstitial``) renders from
it and may import nothing of the platforms; apply (``chalicelib.links.plan``) writes with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Ids = dict[str, Any]


@dataclass(frozen=True)
class Sources:
    """Hosts one pixel loads scripts from, sends images and requests to, and frames."""

    script: tuple[str, ...]
    img: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    frame: tuple[str, ...] = ()


@dataclass(frozen=True)
class BrowserPixel:
    """One platform's browser pixel.

    ``ids`` reads the record's ids from the platform's settings (None: no pixel configured).
    ``snippet`` is the platform's own snippet, as published, with its script insertion replaced
    by ``load`` (which tracks when each has loaded): it defines the queueing stub its library
    expects and queues the page event with the click id (``id``) as the event id; it runs when
    the page's ``p.<name>`` is set. ``page`` adds what the snippet needs beyond the ids.
    ``sources`` are the hosts its CSP opens, ``tag_sources`` those opened by the kind of tag id
    (its prefix) the record lists (Google's GA4 and Ads tags).
    """

    label: str
    ids: Callable[[Mapping[str, Any]], Ids | None]
    snippet: str
    sources: Sources | None = None
    tag_sources: Mapping[str, Sources] = field(default_factory=dict)
    page: Callable[[Ids], Ids] = dict

    def csp_sources(self, ids: Mapping[str, Any]) -> list[Sources]:
        """The hosts this pixel's CSP opens for the record's ``ids``."""
        tags = [str(t) for t in ids.get("tag_ids") or []]
        tagged = [
            s for prefix, s in self.tag_sources.items() if any(t.startswith(prefix) for t in tags)
        ]
        return ([self.sources] if self.sources else []) + tagged


def _text(spec: Mapping[str, Any], key: str) -> str | None:
    value = spec.get(key)
    return str(value) if value not in (None, "") else None


def _setting(record_key: str, setting: str) -> Callable[[Mapping[str, Any]], Ids | None]:
    """Ids of a pixel named by one setting: ``{record_key: <setting>}`` when it is set."""

    def ids(spec: Mapping[str, Any]) -> Ids | None:
        value = _text(spec, setting)
        return {record_key: value} if value else None

    return ids


def _meta_ids(spec: Mapping[str, Any]) -> Ids | None:
    """The pixel id, and the click event's name, to match the server event's."""
    pixel_id = _text(spec, "pixel_id")
    if not pixel_id:
        return None
    return {"pixel_id": pixel_id, "event": _text(spec, "page_view_event") or "PageView"}


def _x_ids(spec: Mapping[str, Any]) -> Ids | None:
    """The pixel id, and the click's X event as the tag names it (``tw-<pixel>-<event>``), so the
    browser's event and the server's share event and ``conversion_id``."""
    pixel_id = _text(spec, "pixel_id")
    if not pixel_id:
        return None
    event = _text(spec.get("events") or {}, "click")
    if event and not event.startswith("tw-"):
        event = f"tw-{pixel_id}-{event}"
    return {"pixel_id": pixel_id, **({"event": event} if event else {})}


def _google_ids(spec: Mapping[str, Any]) -> Ids | None:
    """The Google tag ids: GA4 ``G-…`` and Ads ``AW-…``."""
    tags = [t for t in (_text(spec, "ga4_measurement_id"), _text(spec, "ads_tag_id")) if t]
    return {"tag_ids": tags} if tags else None


# Meta's standard events go through fbq('track'); any other name through fbq('trackCustom').
META_STANDARD_EVENTS = frozenset(
    {
        "AddPaymentInfo",
        "AddToCart",
        "AddToWishlist",
        "CompleteRegistration",
        "Contact",
        "CustomizeProduct",
        "Donate",
        "FindLocation",
        "InitiateCheckout",
        "Lead",
        "PageView",
        "Purchase",
        "Schedule",
        "Search",
        "StartTrial",
        "SubmitApplication",
        "Subscribe",
        "ViewContent",
    }
)


def _meta_page(ids: Ids) -> Ids:
    return {**ids, "custom": ids.get("event") not in META_STANDARD_EVENTS}


# In the order the page fires them. Hosts from each platform's documented CSP requirements.
PIXELS: dict[str, BrowserPixel] = {
    "meta": BrowserPixel(
        label="Meta",
        ids=_meta_ids,
        page=_meta_page,
        sources=Sources(
            script=("https://connect.facebook.net",),
            img=("https://www.facebook.com",),
            connect=("https://www.facebook.com", "https://connect.facebook.net"),
        ),
        snippet=(
            "if(p.meta){\n"
            "var n=w.fbq=function(){n.callMethod?n.callMethod.apply(n,arguments):n.queue.push(arguments);};\n"
            "if(!w._fbq)w._fbq=n;n.push=n;n.loaded=true;n.version='2.0';n.queue=[];\n"
            "w.fbq('init',p.meta.pixel_id);\n"
            "w.fbq(p.meta.custom?'trackCustom':'track',p.meta.event,{},{eventID:id});\n"
            "load('https://connect.facebook.net/en_US/fbevents.js');}\n"
        ),
    ),
    "google": BrowserPixel(
        label="Google",
        ids=_google_ids,
        tag_sources={
            "G-": Sources(
                script=("https://*.googletagmanager.com",),
                img=("https://*.google-analytics.com", "https://*.googletagmanager.com"),
                connect=(
                    "https://*.google-analytics.com",
                    "https://*.analytics.google.com",
                    "https://*.googletagmanager.com",
                ),
            ),
            "AW-": Sources(
                script=(
                    "https://*.googletagmanager.com",
                    "https://www.googleadservices.com",
                    "https://googleads.g.doubleclick.net",
                    "https://www.google.com",
                ),
                img=("https://googleads.g.doubleclick.net", "https://www.google.com"),
                connect=(
                    "https://*.googletagmanager.com",
                    "https://*.g.doubleclick.net",
                    "https://www.google.com",
                ),
                frame=("https://td.doubleclick.net", "https://www.googletagmanager.com"),
            ),
        },
        snippet=(
            "if(p.google&&p.google.tag_ids.length){\n"
            "w.dataLayer=w.dataLayer||[];w.gtag=function(){w.dataLayer.push(arguments);};\n"
            "w.gtag('js',new Date());\n"
            "for(var g=0;g<p.google.tag_ids.length;g++)w.gtag('config',p.google.tag_ids[g],{rb_click_id:id});\n"
            "load('https://www.googletagmanager.com/gtag/js?id='+encodeURIComponent(p.google.tag_ids[0]));}\n"
        ),
    ),
    "tiktok": BrowserPixel(
        label="TikTok",
        ids=_setting("pixel_code", "pixel_code"),
        sources=Sources(
            script=("https://analytics.tiktok.com",),
            img=("https://analytics.tiktok.com",),
            connect=("https://analytics.tiktok.com", "https://analytics-ipv6.tiktokw.us"),
        ),
        snippet=(
            "if(p.tiktok){\n"
            "w.TiktokAnalyticsObject='ttq';var ttq=w.ttq=w.ttq||[];\n"
            "ttq.methods=['page','track','identify','instances','debug','on','off','once','ready','alias','group','enableCookie','disableCookie','holdConsent','revokeConsent','grantConsent'];\n"
            "ttq.setAndDefer=function(t,e){t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)));};};\n"
            "for(var i=0;i<ttq.methods.length;i++)ttq.setAndDefer(ttq,ttq.methods[i]);\n"
            "ttq.instance=function(t){for(var e=ttq._i[t]||[],k=0;k<ttq.methods.length;k++)ttq.setAndDefer(e,ttq.methods[k]);return e;};\n"
            "ttq.load=function(e,n){var u='https://analytics.tiktok.com/i18n/pixel/events.js';\n"
            "ttq._i=ttq._i||{};ttq._i[e]=[];ttq._i[e]._u=u;ttq._t=ttq._t||{};ttq._t[e]=+new Date();\n"
            "ttq._o=ttq._o||{};ttq._o[e]=n||{};load(u+'?sdkid='+encodeURIComponent(e)+'&lib=ttq');};\n"
            "ttq.load(p.tiktok.pixel_code);ttq.page();ttq.track('ViewContent',{},{event_id:id});}\n"
        ),
    ),
    "linkedin": BrowserPixel(
        label="LinkedIn",
        ids=_setting("partner_id", "insight_partner_id"),
        sources=Sources(
            script=("https://snap.licdn.com",),
            img=("https://px.ads.linkedin.com",),
            connect=("https://px.ads.linkedin.com", "https://px4.ads.linkedin.com"),
        ),
        snippet=(
            "if(p.linkedin){\n"
            "w._linkedin_partner_id=p.linkedin.partner_id;\n"
            "w._linkedin_data_partner_ids=w._linkedin_data_partner_ids||[];\n"
            "w._linkedin_data_partner_ids.push(p.linkedin.partner_id);\n"
            "if(!w.lintrk){w.lintrk=function(a,b){w.lintrk.q.push([a,b]);};w.lintrk.q=[];}\n"
            "load('https://snap.licdn.com/li.lms-analytics/insight.min.js');}\n"
        ),
    ),
    "pinterest": BrowserPixel(
        label="Pinterest",
        ids=_setting("tag_id", "tag_id"),
        sources=Sources(
            script=("https://s.pinimg.com",),
            img=("https://ct.pinterest.com",),
            connect=("https://ct.pinterest.com",),
        ),
        snippet=(
            "if(p.pinterest){\n"
            "if(!w.pintrk){w.pintrk=function(){w.pintrk.queue.push(Array.prototype.slice.call(arguments));};\n"
            "w.pintrk.queue=[];w.pintrk.version='3.0';}\n"
            "w.pintrk('load',p.pinterest.tag_id);w.pintrk('page');\n"
            "w.pintrk('track','pagevisit',{event_id:id});\n"
            "load('https://s.pinimg.com/ct/core.js');}\n"
        ),
    ),
    "snapchat": BrowserPixel(
        label="Snapchat",
        ids=_setting("pixel_id", "pixel_id"),
        sources=Sources(
            script=("https://sc-static.net",),
            img=("https://tr.snapchat.com",),
            connect=("https://tr.snapchat.com", "https://tr-shadow.snapchat.com"),
        ),
        snippet=(
            "if(p.snapchat){\n"
            "var a=w.snaptr=function(){a.handleRequest?a.handleRequest.apply(a,arguments):a.queue.push(arguments);};\n"
            "a.queue=[];w.snaptr('init',p.snapchat.pixel_id,{});\n"
            "w.snaptr('track','PAGE_VIEW',{client_dedup_id:id});\n"
            "load('https://sc-static.net/scevent.min.js');}\n"
        ),
    ),
    "reddit": BrowserPixel(
        label="Reddit",
        ids=_setting("pixel_id", "pixel_id"),
        sources=Sources(
            script=("https://www.redditstatic.com",),
            img=("https://alb.reddit.com",),
            connect=("https://alb.reddit.com", "https://pixel-config.reddit.com"),
        ),
        snippet=(
            "if(p.reddit){\n"
            "var r=w.rdt=function(){r.sendEvent?r.sendEvent.apply(r,arguments):r.callQueue.push(arguments);};\n"
            "r.callQueue=[];w.rdt('init',p.reddit.pixel_id);\n"
            "w.rdt('track','PageVisit',{conversionId:id});\n"
            "load('https://www.redditstatic.com/ads/pixel.js');}\n"
        ),
    ),
    "x": BrowserPixel(
        label="X",
        ids=_x_ids,
        # The script host is in X's base code; uwt.js reports to analytics.twitter.com and t.co
        # (docs/conversions.md, "X").
        sources=Sources(
            script=("https://static.ads-twitter.com",),
            img=("https://analytics.twitter.com", "https://t.co"),
            connect=("https://analytics.twitter.com", "https://t.co"),
        ),
        snippet=(
            "if(p.x){\n"
            "if(!w.twq){var xq=w.twq=function(){xq.exe?xq.exe.apply(xq,arguments):xq.queue.push(arguments);};\n"
            "xq.version='1.1';xq.queue=[];}\n"
            "w.twq('config',p.x.pixel_id);\n"
            "if(p.x.event)w.twq('event',p.x.event,{conversion_id:id});\n"
            "load('https://static.ads-twitter.com/uwt.js');}\n"
        ),
    ),
}


def pixels_for(
    platform_specs: Mapping[str, Mapping[str, Any]], send_to: Iterable[str]
) -> dict[str, Ids]:
    """What a `mode: pixel` link's record carries as ``pixels``: the non-secret browser-pixel ids
    of the platforms in ``send_to`` that have one configured (``platform_specs`` is the config's
    ``platforms``, name -> settings)."""
    out: dict[str, Ids] = {}
    for name in sorted(set(send_to)):
        pixel = PIXELS.get(name)
        ids = pixel.ids(platform_specs.get(name) or {}) if pixel else None
        if ids:
            out[name] = ids
    return out
