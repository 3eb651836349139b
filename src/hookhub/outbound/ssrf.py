"""SSRF guard: refuse webhook URLs whose hosts are private, loopback, link-local or metadata.

:func:`check_addresses` is pure; :func:`resolve_and_check` resolves the host (at creation and
again at every send, so a name re-pointed at an internal address after creation, DNS rebinding,
is still refused) and returns the addresses that the caller should connect to.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from hookhub.errors import InvalidInputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = ("http", "https")
#: Webhook URLs (and hosts) whose parsed form is kept (a few per webhook at most).
PARSED_URLS_KEPT = 4096
#: Cloud metadata services that sit on ordinary-looking addresses.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)


class UnsafeURLError(InvalidInputError):
    """The URL's scheme or resolved address is not one hookhub will send to."""


def parse_cidrs(values: Iterable[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(value, strict=False) for value in values]


def is_forbidden(address: IPAddress) -> bool:
    """Anything but a public unicast address, including IPv4 hidden inside IPv6.

    ``is_global`` refuses what a deny list forgets (carrier-grade NAT 100.64/10, 6to4 relays,
    benchmarking nets); the IPv4 inside a mapped, 6to4 or Teredo address is checked too.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if any(inner is not None and is_forbidden(inner) for inner in embedded):
            return True
    return address in METADATA_ADDRESSES or address.is_multicast or not address.is_global


def check_addresses(
    host: str,
    addresses: Sequence[IPAddress],
    *,
    allow_private: bool,
    allowed_networks: Sequence[IPNetwork] = (),
) -> None:
    """Raise :class:`UnsafeURLError` if any address is forbidden and not explicitly allowed."""
    if not addresses:
        raise UnsafeURLError(f"host {host!r} does not resolve")
    if allow_private:
        return
    for address in addresses:
        if any(address in network for network in allowed_networks):
            continue
        if is_forbidden(address):
            raise UnsafeURLError(f"host {host!r} resolves to a forbidden address ({address})")


@functools.lru_cache(maxsize=PARSED_URLS_KEPT)
def split_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an http(s) URL, or :class:`UnsafeURLError`.

    Cached: every send checks its webhook's URL again (only the resolution has to be redone).
    """
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES:
        raise UnsafeURLError("URL must be http or https")
    if not parts.hostname:
        raise UnsafeURLError("URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURLError("URL has an invalid port") from None
    return parts.scheme, parts.hostname, port


@functools.lru_cache(maxsize=PARSED_URLS_KEPT)
def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


async def resolve_and_check(
    url: str, *, allow_private: bool, allowed_networks: Sequence[IPNetwork] = ()
) -> list[IPAddress]:
    """Resolve the URL's host and check every address; the checked addresses are returned."""
    _scheme, host, port = split_url(url)
    addresses = await resolve(host, port)
    check_addresses(host, addresses, allow_private=allow_private, allowed_networks=allowed_networks)
    return addresses


@dataclass(frozen=True)
class UrlGuard:
    """The SSRF policy of one deployment: what :func:`resolve_and_check` allows."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_cidrs(cls, *, allow_private: bool, cidrs: Iterable[str]) -> UrlGuard:
        return cls(allow_private, tuple(parse_cidrs(cidrs)))

    async def check(self, url: str, *, timeout_s: float | None = None) -> list[IPAddress]:
        """Resolve and check ``url`` now; raises :class:`UnsafeURLError` when refused.

        ``timeout_s`` bounds the lookup (``TimeoutError`` past it). An IP address has nothing
        to look up: it is checked at once, without setting a timer (every send checks its
        webhook's URL again).
        """
        _scheme, host, _port = split_url(url)
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
            allowed = self.allowed_networks
            check_addresses(
                host, addresses, allow_private=self.allow_private, allowed_networks=allowed
            )
            return addresses
        async with asyncio.timeout(timeout_s):
            return await resolve_and_check(
                url, allow_private=self.allow_private, allowed_networks=self.allowed_networks
            )
