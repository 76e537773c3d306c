"""Weighted splits: weights respected over many visitors, and sticky per visitor."""

from __future__ import annotations

import random

from chalicelib.redirect.rules import split_arm

SPLIT = [{"url": "https://a.example/", "weight": 70}, {"url": "https://b.example/", "weight": 30}]


def visitor_ids(n: int, seed: int = 20261115) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(128):032x}" for _ in range(n)]


def test_split_weights_are_respected_over_many_visitors():
    ids = visitor_ids(20_000)
    arms = [split_arm(SPLIT, vid, "go.example/pricing") for vid in ids]
    share_a = arms.count(0) / len(arms)
    # 20,000 draws: one standard deviation is 0.32 points; allow about four.
    assert abs(share_a - 0.70) < 0.013
    assert arms.count(0) + arms.count(1) == len(arms)


def test_three_arm_split_with_uneven_weights():
    split = [
        {"url": f"https://{n}.example/", "weight": w} for n, w in (("a", 1), ("b", 2), ("c", 7))
    ]
    arms = [split_arm(split, vid, "go.example/x") for vid in visitor_ids(20_000)]
    for arm, expected in ((0, 0.1), (1, 0.2), (2, 0.7)):
        assert abs(arms.count(arm) / len(arms) - expected) < 0.013


def test_the_same_visitor_always_gets_the_same_arm():
    for vid in visitor_ids(200):
        first = split_arm(SPLIT, vid, "go.example/pricing")
        assert all(split_arm(SPLIT, vid, "go.example/pricing") == first for _ in range(5))


def test_arms_are_independent_across_links():
    ids = visitor_ids(2_000)
    same = sum(
        split_arm(SPLIT, v, "go.example/one") == split_arm(SPLIT, v, "go.example/two") for v in ids
    )
    # Independent 70/30 draws agree 58% of the time; identical assignment would be 100%.
    assert 0.53 < same / len(ids) < 0.63


def test_zero_negative_and_broken_weights_never_win():
    split = [
        {"url": "https://zero.example/", "weight": 0},
        {"url": "https://ok.example/", "weight": 5},
        {"url": "https://neg.example/", "weight": -3},
        {"url": "https://nan.example/", "weight": "nan"},
        {"url": "https://str.example/", "weight": "heavy"},
    ]
    assert {split_arm(split, vid, "k") for vid in visitor_ids(500)} == {1}


def test_a_split_without_weight_has_no_arm():
    assert split_arm([{"url": "https://a.example/", "weight": 0}], "v", "k") is None
    assert split_arm([], "v", "k") is None
