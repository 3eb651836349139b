import ipaddress

import pytest

from hookhub.outbound.ssrf import (
    UnsafeURLError,
    UrlGuard,
    check_addresses,
    parse_cidrs,
    resolve_and_check,
    split_url,
)

INTERNAL_TARGETS = [
    "http://127.0.0.1/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/",
    "http://192.168.1.5/",
    "http://localhost:9/hook",  # a name that resolves to loopback
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://[2002:7f00:1::1]/",  # 6to4 around 127.0.0.1
    "http://[2002:a00:1::1]/",  # 6to4 around 10.0.0.1
    "http://168.63.129.16/",  # a cloud's metadata and DNS address
]


@pytest.mark.parametrize("url", INTERNAL_TARGETS)
async def test_internal_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="forbidden address"):
        await resolve_and_check(url, allow_private=False)


@pytest.mark.parametrize("url", INTERNAL_TARGETS)
async def test_the_guard_judges_an_ip_address_without_a_lookup(url: str) -> None:
    guard = UrlGuard.from_cidrs(allow_private=False, cidrs=[])
    # No time at all for a lookup: only a name needs one.
    expected = TimeoutError if "localhost" in url else UnsafeURLError
    with pytest.raises(expected):
        await guard.check(url, timeout_s=0)


async def test_the_guard_passes_an_allowed_ip_address_without_a_lookup() -> None:
    allowed = UrlGuard.from_cidrs(allow_private=False, cidrs=["127.0.0.0/8"])
    loopback = await allowed.check("http://127.0.0.1:9/hook", timeout_s=0)
    assert loopback == [ipaddress.ip_address("127.0.0.1")]
    private = UrlGuard(allow_private=True)
    assert await private.check("http://[::1]/", timeout_s=0) == [ipaddress.ip_address("::1")]
    with pytest.raises(UnsafeURLError, match="http or https"):
        await allowed.check("ftp://127.0.0.1/", timeout_s=0)
    with pytest.raises(UnsafeURLError, match="forbidden address"):
        await allowed.check("http://10.0.0.1/", timeout_s=0)
    assert await private.check("http://localhost:9/", timeout_s=5)  # a name gets its lookup


async def test_private_targets_pass_when_allowed() -> None:
    assert await resolve_and_check("http://127.0.0.1:1/", allow_private=True)
    allowed = parse_cidrs(["127.0.0.0/8"])
    assert await resolve_and_check(
        "http://127.0.0.1:1/", allow_private=False, allowed_networks=allowed
    )
    with pytest.raises(UnsafeURLError):
        await resolve_and_check("http://10.0.0.1/", allow_private=False, allowed_networks=allowed)


def test_public_addresses_pass() -> None:
    check_addresses("example.com", [ipaddress.ip_address("93.184.216.34")], allow_private=False)


def test_a_name_with_one_bad_address_among_good_ones_is_refused() -> None:
    addresses = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.1.2.3")]
    with pytest.raises(UnsafeURLError):
        check_addresses("mixed.example", addresses, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "gopher://x",
        "http:///nohost",
        "http://x:99999/",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        split_url(url)


async def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(UnsafeURLError, match="does not resolve"):
        await resolve_and_check("http://no-such-host.invalid/", allow_private=False)
