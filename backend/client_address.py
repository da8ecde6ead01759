"""The client's IP address and scheme: the socket's, or behind trusted proxies what they forward.

`X-Forwarded-For` is believed only when the peer is a trusted proxy (`TRUSTED_PROXIES`), and
then read from the right: each trusted proxy appends the address it saw, so the rightmost
address that is not itself a trusted proxy is the client. Anything left of it could be forged.
`X-Forwarded-Proto` too is believed only from a trusted peer: its last value, the one the
proxy next to the API set, and only `http` or `https`.
"""

import ipaddress

from starlette.types import Scope

from backend.config import IPNetwork

FORWARDED_FOR = b"x-forwarded-for"
FORWARDED_PROTO = b"x-forwarded-proto"
_SCHEMES = {"http": "http", "https": "https"}
UNKNOWN = "unknown"


class ClientAddress:
    def __init__(self, trusted_proxies: list[IPNetwork]) -> None:
        self._trusted = tuple(trusted_proxies)

    def __call__(self, scope: Scope) -> str:
        peer = scope.get("client")
        host = peer[0] if peer else UNKNOWN
        if not self._trusted or not self._is_trusted(host):
            return host
        hops = [
            hop.strip()
            for name, value in scope["headers"]
            if name == FORWARDED_FOR
            for hop in value.decode("latin-1").split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop if _is_ip(hop) else host
        return hops[0] if hops else host

    def scheme(self, scope: Scope) -> str | None:
        """`http` or `https` as a trusted proxy forwards it; None when the peer is not trusted
        or forwards nothing usable (the connection's own scheme then stands)."""
        if not self._trusted:
            return None
        values = [value for name, value in scope["headers"] if name == FORWARDED_PROTO]
        if not values:
            return None
        peer = scope.get("client")
        if not peer or not self._is_trusted(peer[0]):
            return None
        last = values[-1].decode("latin-1").rpartition(",")[2]
        return _SCHEMES.get(last.strip().lower())

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
