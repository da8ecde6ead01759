"""Which address a request comes from, with and without trusted proxies in front."""

import ipaddress

import pytest

from backend.client_address import ClientAddress


def scope(peer: str, *forwarded_for: str) -> dict[str, object]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    return {"type": "http", "client": (peer, 50000), "headers": headers}


PROXIES = ClientAddress([ipaddress.ip_network("10.0.0.0/8")])


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert ClientAddress([])(scope("198.51.100.9", "203.0.113.5")) == "198.51.100.9"


def test_an_untrusted_peer_cannot_claim_another_address() -> None:
    assert PROXIES(scope("198.51.100.9", "203.0.113.5")) == "198.51.100.9"


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        (["203.0.113.5"], "203.0.113.5"),
        (["203.0.113.5, 10.1.1.1"], "203.0.113.5"),
        # A client can put anything left of its own address; only the right end is believed.
        (["6.6.6.6, 203.0.113.5, 10.1.1.1"], "203.0.113.5"),
        (["6.6.6.6", "203.0.113.5"], "203.0.113.5"),
        (["10.2.2.2, 10.1.1.1"], "10.2.2.2"),
        ([], "10.0.0.1"),
        (["not-an-ip"], "10.0.0.1"),
    ],
)
def test_behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client(
    forwarded_for: list[str], client: str
) -> None:
    assert PROXIES(scope("10.0.0.1", *forwarded_for)) == client


def proto_scope(peer: str, *forwarded_proto: str) -> dict[str, object]:
    headers = [(b"x-forwarded-proto", value.encode()) for value in forwarded_proto]
    return {"type": "http", "client": (peer, 50000), "headers": headers}


@pytest.mark.parametrize(
    ("forwarded_proto", "scheme"),
    [
        (["https"], "https"),
        (["HTTPS "], "https"),
        (["http"], "http"),
        # The proxy next to the API appends or sets the last value; only that one is believed.
        (["https, http"], "http"),
        (["http", "https"], "https"),
        (["wss"], None),
        ([""], None),
        ([], None),
    ],
)
def test_a_trusted_proxy_forwards_the_scheme(
    forwarded_proto: list[str], scheme: str | None
) -> None:
    assert PROXIES.scheme(proto_scope("10.0.0.1", *forwarded_proto)) == scheme


def test_an_untrusted_peer_cannot_claim_https() -> None:
    assert PROXIES.scheme(proto_scope("198.51.100.9", "https")) is None
    assert ClientAddress([]).scheme(proto_scope("10.0.0.1", "https")) is None
