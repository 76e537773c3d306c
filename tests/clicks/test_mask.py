"""Addresses in what people are shown (dry runs, outcome reasons): the shape, not the person."""

from __future__ import annotations

from chalicelib.clicks.text import mask_emails


def test_an_address_keeps_its_first_letter_and_domain():
    assert mask_emails("jane.doe@example.com") == "j***@example.com"


def test_every_address_in_a_text_is_masked_and_the_rest_kept():
    text = "HTTP 400: jane@example.com is invalid (also bob+x@shop.co.uk)"
    assert mask_emails(text) == "HTTP 400: j***@example.com is invalid (also b***@shop.co.uk)"


def test_text_without_an_address_is_unchanged():
    assert mask_emails("HTTP 202") == "HTTP 202"
    assert mask_emails("@handle and a@b") == "@handle and a@b"
