"""A `mode: pixel` link's doc carries the public browser-pixel ids of the platforms it feeds."""

from __future__ import annotations

from chalicelib.links.pixels import PIXELS
from chalicelib.links.plan import Specs, desired_docs, make_plan
from chalicelib.links.record import link_key
from chalicelib.links.store import LiveItem
from chalicelib.platforms.registry import NAMES

DOMAIN = {"name": "go.localhost"}
PLATFORMS = {
    "meta": {"pixel_id": "1234", "access_token": "ssm:/m", "page_view_event": "LinkClick"},
    "tiktok": {"pixel_code": "C0DE", "access_token": "ssm:/t"},
    "google": {"ga4_measurement_id": "G-AB12", "ga4_api_secret": "ssm:/g"},
    "linkedin": {"conversion_rule": "urn:lla:llaPartnerConversion:1", "access_token": "ssm:/l"},
    "pinterest": {"ad_account_id": "99", "access_token": "ssm:/p", "tag_id": "2612"},
}
AUDIENCES = [
    {"id": "a", "match": {"tags": ["x"]}, "send_to": ["meta", "tiktok"]},
    {"id": "b", "match": {"tags": ["x"]}, "send_to": ["google", "linkedin", "pinterest"]},
    {"id": "c", "match": {"tags": ["other"]}, "send_to": ["reddit"]},
]


def link(slug: str, mode: str) -> dict:
    return {"domain": "go.localhost", "slug": slug, "url": "https://shop.example/", "tags": ["x"],
            "mode": mode}  # fmt: skip


def docs(*links: dict) -> dict:
    specs = Specs(domains=[DOMAIN], platforms=PLATFORMS, audiences=AUDIENCES, links=list(links))
    return {pk: doc for pk, (_, _, doc) in desired_docs(specs).items()}


def test_a_pixel_link_carries_the_pixel_ids_of_its_audiences_platforms():
    doc = docs(link("p", "pixel"))[link_key("go.localhost", "p")]
    assert doc["pixels"] == {
        "google": {"tag_ids": ["G-AB12"]},
        "meta": {"pixel_id": "1234", "event": "LinkClick"},  # the server event's name too
        "pinterest": {"tag_id": "2612"},
        "tiktok": {"pixel_code": "C0DE"},
    }  # linkedin: no insight_partner_id configured; reddit: not in this link's audiences


def test_a_redirect_link_doc_does_not_change():
    doc = docs(link("r", "redirect"))[link_key("go.localhost", "r")]
    assert "pixels" not in doc


def test_a_new_pixel_id_shows_up_in_the_plan_as_an_update():
    before = docs(link("p", "pixel"))
    live = {pk: LiveItem(pk, pk.split("#")[0], doc, 1) for pk, doc in before.items()}
    platforms = {**PLATFORMS, "linkedin": {**PLATFORMS["linkedin"], "insight_partner_id": "77"}}
    specs = Specs(
        domains=[DOMAIN], platforms=platforms, audiences=AUDIENCES, links=[link("p", "pixel")]
    )
    plan = make_plan(specs, live)
    paths = {d.path for c in plan.changes for d in c.diffs}
    assert "pixels.linkedin" in paths


def test_every_browser_pixel_belongs_to_a_registered_platform():
    assert set(PIXELS) <= set(NAMES)


def test_a_pixel_link_loads_no_browser_pixel_for_an_engagement_tier():
    """A pixel fires at every visit; a tier (min_clicks, exclude_converted) sends its one event
    from the server when a visitor qualifies (dispatch/tiers.py)."""
    tier = {"id": "t", "match": {"tags": ["x"]}, "min_clicks": 3, "send_to": ["reddit", "meta"]}
    specs = Specs(
        domains=[DOMAIN], platforms=PLATFORMS, audiences=[*AUDIENCES[:1], tier],
        links=[link("p", "pixel")],
    )  # fmt: skip
    doc = desired_docs(specs)[link_key("go.localhost", "p")][2]
    assert set(doc["pixels"]) == {"meta", "tiktok"}  # meta: from the plain audience "a"
    assert [a["id"] for a in doc["audiences"]] == ["a", "t"]
