"""The scheme the client used, behind a trusted TLS proxy: a step of the edge (`edge.py`).

A proxy that ends TLS talks plain HTTP to the API, so without this the URLs the API writes
(`Link`) would say `http://`. The proxy's `X-Forwarded-Proto` is believed only when the peer
is one of `TRUSTED_PROXIES` (`client_address.py`); the step is left out when none is set.
"""

from starlette.responses import Response
from starlette.types import Scope

from backend.client_address import ClientAddress
from backend.config import IPNetwork
from backend.middleware.exchange import Exchange


class ForwardedScheme:
    """Sets the request's scheme to the one a trusted proxy forwards."""

    def __init__(self, trusted_proxies: list[IPNetwork]) -> None:
        self.client_address = ClientAddress(trusted_proxies)

    async def __call__(self, scope: Scope, exchange: Exchange) -> Response | None:
        scheme = self.client_address.scheme(scope)
        if scheme is not None:
            scope["scheme"] = scheme
        return None
