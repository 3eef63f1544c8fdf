"""Forwarded headers from trusted reverse proxies only: X-Forwarded-Proto, -For and -Host.

uvicorn's ProxyHeadersMiddleware takes the scheme and the client address from a trusted proxy;
it ignores X-Forwarded-Host, which a proxy that rewrites Host sends instead. This wraps it and
also takes the Host from X-Forwarded-Host, from the same trusted peers, so URLs the site builds
(the HIT frame's turkSubmitTo, redirects) name the address the worker used. Headers from any
other peer are left alone: anyone can send them.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class ForwardedHeaders:
    def __init__(self, app: ASGIApp, trusted: list[str]) -> None:
        self.trust_all = "*" in trusted
        self.networks = [ipaddress.ip_network(entry, strict=False) for entry in trusted if entry != "*"]
        self.app = ProxyHeadersMiddleware(app, trusted_hosts=["*"] if self.trust_all else list(trusted))  # type: ignore[arg-type]

    def trusts(self, peer: str | None) -> bool:
        if self.trust_all:
            return True
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if self.trusts(client[0] if client else None):
                forwarded = [value for name, value in scope["headers"] if name == b"x-forwarded-host"]
                host = forwarded[-1].split(b",")[-1].strip() if forwarded else b""
                if host:
                    headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
                    scope = {**scope, "headers": [*headers, (b"host", host)]}
        await self.app(scope, receive, send)
