import ipaddress

import pytest

from hookhub.outbound.ssrf import (
    UnsafeURLError,
    check_addresses,
    parse_cidrs,
    resolve_and_check,
    split_url,
)


@pytest.mark.parametrize(
    "url",
    [
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
    ],
)
async def test_internal_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="forbidden address"):
        await resolve_and_check(url, allow_private=False)


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
