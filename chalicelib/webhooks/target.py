"""Which webhook targets are this network's own (SSRF): a literal check for validation, and a
check of the address actually connected to, for sending (a name can resolve anywhere, and resolve
again differently: only the connected peer's address is the truth)."""

from __future__ import annotations

import ipaddress


def internal_host_reason(host: str) -> str | None:
    """Why ``host`` (a URL's host name) is this network's own, or None."""
    if host == "localhost" or host.endswith(".localhost"):
        return "localhost"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return internal_address_reason(address)


def internal_address_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not a public one (private, loopback, link-local, ...), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for what, flag in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a private address", address.is_private),
        (
            "a reserved address",
            address.is_reserved or address.is_multicast or address.is_unspecified,
        ),
    ):
        if flag:
            return f"{what} ({address})"
    return None


def peer_reason(peer: str) -> str | None:
    """Why a connected socket's peer address (``getpeername()[0]``, an IPv6 one possibly with a
    ``%zone``) is not a public one, or None."""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return f"an unreadable address ({peer!r})"
    return internal_address_reason(address)
