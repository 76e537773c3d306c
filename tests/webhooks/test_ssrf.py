"""SSRF at send time: a guarded (``public_only``) request checks the address it actually
connected to, before sending a byte; a name that resolves to this network is refused as surely as
a literal address, and no resolution done beforehand is trusted. The local stack sends anywhere."""

from __future__ import annotations

import socket

import pytest

from chalicelib.platforms.http import HttpRequest, RefusedTarget, send, send_with_retries
from chalicelib.webhooks.destination import PLATFORM
from chalicelib.webhooks.target import peer_reason

from .receiver import WebhookReceiver


@pytest.fixture
def receiver():
    fake = WebhookReceiver().start()
    yield fake
    fake.stop()


def post(url: str, public_only: bool) -> HttpRequest:
    return HttpRequest(
        "POST",
        url,
        {"Content-Type": "application/json"},
        {"x": 1},
        ("e1",),
        public_only=public_only,
    )


def test_a_guarded_request_to_loopback_is_refused_for_good_and_nothing_arrives(receiver):
    with pytest.raises(RefusedTarget, match=r"a loopback address \(127\.0\.0\.1\)"):
        send(post(receiver.url, public_only=True), timeout=5)
    outcome, attempts = send_with_retries(
        post(receiver.url, public_only=True), PLATFORM.classify, sleep=lambda _: None, timeout=5
    )
    assert (outcome.kind, attempts) == ("permanent", 1)
    assert outcome.reason.startswith("refused: the target is a loopback address (127.0.0.1)")
    assert receiver.received == [] and not receiver.arrived.is_set()


def test_the_local_stack_sends_to_loopback(receiver):
    answer = send(post(receiver.url, public_only=False), timeout=5)
    assert answer.status == 200 and len(receiver.received) == 1


@pytest.mark.parametrize("name", ["localhost", "hooks.rebinding.example"])
def test_a_name_resolving_to_loopback_is_refused(receiver, monkeypatch, name):
    port = receiver.server.server_address[1]
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):  # the DNS answer a rebinding name gives at send time
        if host == "hooks.rebinding.example":
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    request = post(f"http://{name}:{port}/hook", public_only=True)
    outcome, attempts = send_with_retries(request, PLATFORM.classify, sleep=lambda _: None)
    assert outcome.kind == "permanent" and attempts == 1
    assert "a loopback address" in outcome.reason
    assert receiver.received == []


@pytest.mark.parametrize(
    ("peer", "reason"),
    [
        ("127.0.0.1", "a loopback address (127.0.0.1)"),
        ("10.1.2.3", "a private address (10.1.2.3)"),
        ("192.168.0.10", "a private address (192.168.0.10)"),
        ("169.254.169.254", "a link-local address (169.254.169.254)"),
        ("::1", "a loopback address (::1)"),
        ("::ffff:127.0.0.1", "a loopback address (127.0.0.1)"),
        ("fe80::1%eth0", "a link-local address (fe80::1)"),
        ("fd00::5", "a private address (fd00::5)"),
        ("0.0.0.0", "a private address (0.0.0.0)"),  # noqa: S104 - a peer, not a bind
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_which_peers_are_this_networks_own(peer, reason):
    assert peer_reason(peer) == reason
