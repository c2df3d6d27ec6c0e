"""GET /metrics: this process's figures in Prometheus's text format, for loopback clients and
for whoever sends `Authorization: Bearer <METRICS_TOKEN>`.

Anyone else gets the 404 of an address that does not exist, not a 403: from outside, nothing
says the endpoint is there or that a token would open it. The client is the ASGI peer address
(the one a proxy listed in FORWARDED_ALLOW_IPS named, never a header from anyone else).
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.metrics import CONTENT_TYPE, Metrics


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name (a test client's "testclient"), a Unix socket: not an address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack listener
    return address.is_loopback


def carries_token(request: Request, token: str | None) -> bool:
    if not token:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Constant time: how far a guess matched must not show in how long the refusal took.
    return hmac.compare_digest(given.strip().encode(), token.encode())


def may_read(request: Request) -> bool:
    client = request.client
    if client is not None and is_loopback(client.host):
        return True
    token = request.app.state.config.metrics_token
    return carries_token(request, None if token is None else str(token))


async def metrics_endpoint(request: Request) -> Response:
    if not may_read(request):
        raise HTTPException(404)  # answered as an unknown path is
    metrics: Metrics = request.app.state.metrics
    return Response(await metrics.scrape(), media_type=CONTENT_TYPE)
