"""``create_app(GatewayConfig)``: the ASGI application, with its NATS connection.

The connection opens in the application's lifespan (startup fails, and the
server exits, when NATS cannot be reached) and drains at shutdown. Every
error leaves the gateway in one of two shapes, picked by path: OpenAI's
under ``/v1``, CAIO's everywhere else (``errors``), including the errors
FastAPI and Starlette raise themselves (a malformed body, an unknown path).
The common chat completion is answered in front of FastAPI (``hot_path``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caio_gateway import console, openai_routes, rest_routes
from caio_gateway.bus import Bus
from caio_gateway.config import GatewayConfig
from caio_gateway.errors import error_response, json_response, validation_error
from caio_gateway.hot_path import ChatHotPath
from caio_integration.errors import (
    CAIOError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)

__all__ = ["create_app"]

log = structlog.get_logger("caio.gateway")

try:
    _VERSION = version("caio-gateway")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    _VERSION = "0.0.0"


class BodyLimit:
    """Refuses bodies over ``max_bytes`` with ``payload_too_large`` before they are read whole.

    Pure ASGI, not a ``BaseHTTPMiddleware``: that one costs a task per
    request and buffers streamed responses.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            error: CAIOError = (
                self._too_large()
                if declared.isdigit()
                else InvalidRequest("Content-Length is not a number")
            )
            await error_response(scope["path"], error)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            # A chunked body declares no length: count what actually arrives.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is larger than {self.max_bytes} bytes",
            details={"max_bytes": self.max_bytes},
        )


def create_app(config: GatewayConfig | None = None) -> FastAPI:
    """The gateway as an ASGI application (``uvicorn.run(create_app(config))``)."""
    config = config or GatewayConfig.from_env()
    bus = Bus(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await bus.connect()
        except Exception as exc:
            log.error("nats_unreachable", nats_url=config.nats_url, error=str(exc))
            raise
        log.info("gateway_started", nats_url=config.nats_url, prefix=config.prefix)
        try:
            yield
        finally:
            await bus.close()

    app = _Gateway(
        title="CAIO gateway",
        version=_VERSION,
        description="HTTP to CAIO's router: seed 002's integration API, routing, jobs, audit,"
        " and an OpenAI-compatible API. Every request is sent to the router with the"
        " caller's `Authorization: Bearer <CAIO API key>`.",
        lifespan=lifespan,
    )
    app.state.bus = bus
    app.include_router(rest_routes.router)
    app.include_router(openai_routes.router)
    app.include_router(console.router)
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.serve_hot_path(bus, config.max_body_bytes)

    @app.get("/healthz", tags=["Gateway"], summary="Whether the gateway reaches NATS")
    async def healthz() -> Response:
        if not bus.connected:
            raise ServiceUnavailable("the gateway is not connected to NATS right now")
        return json_response({"status": "ok", "nats": "connected"})

    return app


class _Gateway(FastAPI):
    """FastAPI with ``ChatHotPath`` in front: the common chat completion never enters it.

    In front of ``FastAPI.__call__`` rather than as a middleware inside it:
    its telemetry check and outer middlewares cost another ~30 µs of CPU per
    request (``gateway/bench/hot_path.py``). The hot path answers as those
    middlewares would (``_server_error``), and leaves a traced request to them.
    """

    _front: ChatHotPath | None = None

    def serve_hot_path(self, bus: Bus, max_bytes: int) -> None:
        # FastAPI's native OpenTelemetry (recent versions) traces a request when a
        # provider is configured; while one is, requests go through FastAPI for their spans.
        telemetry = getattr(self, "_native_telemetry", None)
        enabled = getattr(telemetry, "enabled", None)
        self._front = ChatHotPath(
            self._framework,
            bus,
            max_bytes,
            server_error=_server_error,
            traced=_sticky(enabled) if enabled is not None else _untraced,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._front is None:
            await super().__call__(scope, receive, send)
        else:
            await self._front(scope, receive, send)

    async def _framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def _untraced() -> bool:
    return False


def _sticky(check: Callable[[], bool], every_s: float = 1.0) -> Callable[[], bool]:
    """``check()``, asked at most every ``every_s`` while False, and never again once True.

    For FastAPI's telemetry check: three environment lookups in OpenTelemetry's
    API per call, a tenth of the hot path's own CPU. A global provider is set
    once and for good, so True stands; one set while serving is seen within
    ``every_s`` (the first request asks, so one set at start-up is seen at once).
    """
    enabled = False
    next_check = 0.0

    def traced() -> bool:
        nonlocal enabled, next_check
        if not enabled and (now := time.monotonic()) >= next_check:
            enabled = check()
            next_check = now + every_s
        return enabled

    return traced


async def _server_error(request: Request, exc: Exception) -> Response:
    """The handler of unexpected exceptions: logged with the traceback, answered 500."""
    log.exception("gateway_error", path=request.url.path, method=request.method)
    error = CAIOError(f"the gateway failed ({type(exc).__name__}); see its log")
    return error_response(request.url.path, error)


def _install_error_handlers(app: FastAPI) -> None:
    async def caio_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CAIOError)
        return error_response(request.url.path, exc)

    async def invalid_body(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(request.url.path, validation_error(list(exc.errors())))

    async def http_error(request: Request, exc: Exception) -> Response:
        # Starlette's own: no route for the path (404), a method it does not take (405).
        assert isinstance(exc, HTTPException)
        path = request.url.path
        if exc.status_code == 404:
            error: CAIOError = NotFound(f"no endpoint {request.method} {path}")
        else:
            error = InvalidRequest(str(exc.detail))
        response = error_response(path, error, exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    app.add_exception_handler(CAIOError, caio_error)
    app.add_exception_handler(RequestValidationError, invalid_body)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, _server_error)
