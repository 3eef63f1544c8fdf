"""The ASGI app: the requester API (POST / with X-Amz-Target; MTurk's operations and the workforce
API's teams and invites) and the worker site, one server."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from broker.marketplace import auth, protocol, workforce_api
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.errors import MarketplaceError, ServiceFault, WireError
from broker.marketplace.faults import FaultInjector
from broker.marketplace.state import Marketplace

log = logging.getLogger(__name__)
WORKER_SITE_MODULE = "broker.marketplace.worker_site.routes"
MAX_BODY_BYTES = 1024 * 1024  # a 64 KB Question plus room; larger bodies are refused before parsing


def _json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    all_headers = {"x-amzn-RequestId": protocol.new_request_id()}
    all_headers.update(headers or {})
    return Response(body, status_code=status, media_type=protocol.CONTENT_TYPE, headers=all_headers)


def wire_error_response(error: WireError) -> Response:
    return _json_response(
        error.http_status,
        protocol.error_body(error.error_type, error.message),
        protocol.error_headers(error.error_type),
    )


def marketplace_error_response(error: MarketplaceError, now: datetime) -> Response:
    """An error MTurk itself answers: TurkErrorCode, and the message stamped with the server's time."""
    return _json_response(
        error.http_status,
        protocol.error_body(error.error_type, protocol.stamped(error.message, now), error.code),
        protocol.error_headers(error.error_type),
    )


class RequesterApi:
    """POST / : authenticate, inject faults, parse against botocore's model, run, serialise."""

    def __init__(
        self, marketplace: Marketplace, config: MarketplaceConfig, faults: FaultInjector | None = None
    ) -> None:
        self.marketplace = marketplace
        self.config = config
        self.faults = faults or FaultInjector(config.faults)
        self.keys = {config.access_key_id: config.secret_access_key}

    def handle(self, signed: auth.SignedRequest, target: str | None) -> Response:
        """Synchronous part of a call (runs in the threadpool)."""
        try:
            access_key = auth.verify(signed, self.keys, self.config.region, self.config.max_clock_skew_seconds)
            self.faults.take_call(access_key)
            self.faults.maybe_fail()
            if workforce_api.is_workforce_target(target):
                assert target is not None
                result = workforce_api.dispatch(self.marketplace, target, signed.body)
            else:
                parsed = protocol.parse_request(target, signed.body)
                result = self.marketplace.dispatch(parsed.operation, parsed.params)
        except WireError as error:
            return wire_error_response(error)
        except MarketplaceError as error:
            return marketplace_error_response(error, self.marketplace.clock.now())
        except Exception:  # noqa: BLE001 - the server keeps serving; the client sees ServiceFault
            log.exception("requester API call %s failed", target)
            fault = ServiceFault("AWS.ServiceUnavailable", "An internal error occurred; please retry.")
            return marketplace_error_response(fault, self.marketplace.clock.now())
        return _json_response(200, protocol.response_body(result))

    async def endpoint(self, request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                return wire_error_response(
                    WireError(
                        "RequestEntityTooLargeException", f"The request body exceeds {MAX_BODY_BYTES} bytes.", 413
                    )
                )
        if self.faults.latency_seconds > 0:
            await asyncio.sleep(self.faults.latency_seconds)
        signed = auth.SignedRequest(
            method=request.method,
            host=request.headers.get("host", ""),
            raw_path=request.scope.get("raw_path", b"/").decode("latin-1") or "/",
            query_string=request.scope.get("query_string", b"").decode("latin-1"),
            headers={key.lower(): value for key, value in request.headers.items()},
            body=bytes(body),
        )
        return await run_in_threadpool(self.handle, signed, request.headers.get("x-amz-target"))


def worker_site_routes(marketplace: Marketplace, config: MarketplaceConfig) -> list[BaseRoute]:
    """The worker site's routes, when that package is installed in this tree."""
    if (
        importlib.util.find_spec("broker.marketplace.worker_site") is None
        or importlib.util.find_spec(WORKER_SITE_MODULE) is None
    ):
        log.warning("worker site not available: %s is missing", WORKER_SITE_MODULE)
        return []
    module: Any = importlib.import_module(WORKER_SITE_MODULE)
    return list(module.build_routes(marketplace, config))


def create_app(marketplace: Marketplace, config: MarketplaceConfig, faults: FaultInjector | None = None) -> Starlette:
    api = RequesterApi(marketplace, config, faults)
    routes: list[BaseRoute] = [Route("/", api.endpoint, methods=["POST"], name="requester_api")]
    routes += worker_site_routes(marketplace, config)
    app = Starlette(routes=routes)
    app.state.marketplace = marketplace
    app.state.requester_api = api
    return app
