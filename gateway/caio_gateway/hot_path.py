"""``POST /v1/chat/completions`` served without FastAPI's per-request machinery.

Chat completions are most of what the gateway serves, and for one FastAPI's
routing, dependency solving and middleware cost about 270 µs of CPU: a
request sent alone costs the gateway ~730 µs through FastAPI, ~460 here
(``gateway/bench/hot_path.py``), and in the gateways benchmark the
gateway's CPU per request fell from 525-613 µs to 230-244. So
``ChatHotPath``, in front of the FastAPI application, serves the common
request itself: a JSON body the route's model accepts, a ``Bearer`` key
(or none), a declared length within the limit. It calls the route's own
code (``openai_routes.chat_completion``) and answers its errors as the
application's handlers do. Every other request goes to the application,
with the body already read, so its errors and edge cases are FastAPI's
own, unchanged. The route stays declared there, which keeps it in the
OpenAPI document and serves those requests.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caio_gateway.bus import Bus, Caller, plain_bearer_key
from caio_gateway.errors import error_response
from caio_gateway.openai_models import ChatCompletionRequest
from caio_gateway.openai_routes import CHAT_PATH, chat_completion
from caio_integration.errors import CAIOError

__all__ = ["ChatHotPath"]

# The Content-Type values the hot path reads as JSON. FastAPI parses any
# application/json or +json type; the others are rare enough to leave to it.
_JSON_TYPES = frozenset(
    {b"application/json", b"application/json; charset=utf-8", b"application/json;charset=utf-8"}
)


class ChatHotPath:
    """ASGI: the common chat completion answered here, every other request by ``app``.

    ``server_error`` is the application's handler for unexpected exceptions;
    ``traced()`` says whether FastAPI would trace the request (then it goes there).
    """

    __slots__ = ("app", "bus", "max_bytes", "server_error", "traced")

    def __init__(
        self,
        app: ASGIApp,
        bus: Bus,
        max_bytes: int,
        *,
        server_error: Callable[[Request, Exception], Awaitable[Response]],
        traced: Callable[[], bool],
    ) -> None:
        self.app = app
        self.bus = bus
        self.max_bytes = max_bytes
        self.server_error = server_error
        self.traced = traced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != CHAT_PATH
            or scope["method"] != "POST"
            or scope.get("root_path")  # mounted under a prefix: FastAPI resolves the path
            or self.traced()
        ):
            await self.app(scope, receive, send)
            return
        headers = self._headers(scope["headers"])
        if headers is None:
            await self.app(scope, receive, send)
            return
        api_key, constraints = headers
        received: list[Message] = []
        body = await _read(receive, received)
        request = None
        # Longer than declared can only be a chunked body: BodyLimit counts it.
        if body is not None and len(body) <= self.max_bytes:
            request = _chat_request(body)
        if request is None:
            await self.app(scope, _replay(received, receive), send)
            return
        await self._answer(scope, receive, send, request, Caller(self.bus, api_key), constraints)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: ChatCompletionRequest,
        caller: Caller,
        constraints: str | None,
    ) -> None:
        """The route's answer, and its errors as the application's two middlewares answer them.

        As Starlette's exception middleware: a ``CAIOError`` gets the handler's
        answer, unless the response has started (a server error then). As its
        server error middleware: any other exception gets ``server_error``'s
        answer if nothing was sent yet, and is raised on for the server to log.
        """
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            try:
                response = await chat_completion(request, caller, constraints)
                await response(scope, receive, sender)
            except CAIOError as exc:
                if started:
                    raise RuntimeError(
                        "Caught handled exception, but response already started."
                    ) from exc
                await error_response(scope["path"], exc)(scope, receive, sender)
                exc.__traceback__ = None  # as Starlette: a reused exception piles up tracebacks
        except Exception as exc:
            answer = await self.server_error(Request(scope), exc)
            if not started:
                await answer(scope, receive, send)
            raise

    def _headers(self, raw: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None] | None:
        """The key and the constraints header, or None for a request left to the application.

        Left to it: a header this path reads given twice, a body of undeclared
        or too large a length (``BodyLimit``'s errors), another content type,
        an ``Authorization`` that is not a plain ``Bearer <key>``.
        """
        length = content_type = authorization = constraints = None
        for name, value in raw:
            if name == b"content-length":
                if length is not None:
                    return None
                length = value
            elif name == b"content-type":
                if content_type is not None:
                    return None
                content_type = value
            elif name == b"authorization":
                if authorization is not None:
                    return None
                authorization = value
            elif name == b"x-caio-constraints":
                if constraints is not None:
                    return None
                constraints = value
        if length is None or not length.isdigit() or int(length) > self.max_bytes:
            return None
        if content_type is None or content_type.lower() not in _JSON_TYPES:
            return None
        api_key = None
        if authorization is not None:
            api_key = plain_bearer_key(authorization)
            if api_key is None:
                return None
        # Starlette's Headers decode as latin-1; the route sees the same string.
        return api_key, constraints.decode("latin-1") if constraints is not None else None


async def _read(receive: Receive, received: list[Message]) -> bytes | None:
    """The whole body, or None when the caller went away first; ``received`` keeps it all."""
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        if not message.get("more_body", False):
            break
    if len(received) == 1:
        body: bytes = received[0].get("body", b"")
        return body
    return b"".join(message.get("body", b"") for message in received)


def _chat_request(body: bytes) -> ChatCompletionRequest | None:
    """The body as the route's model, parsed as FastAPI parses it; None if it does not fit.

    The standard library's ``json``, as Starlette's ``Request.json``: orjson
    would turn an integer past 64 bits into a float the route never sees.
    """
    try:
        data: Any = json.loads(body)
        return ChatCompletionRequest.model_validate(data)
    except Exception:  # noqa: BLE001 (not JSON, too deep, not the model: FastAPI says which)
        return None


def _replay(received: list[Message], receive: Receive) -> Receive:
    """``receive`` for the application: the messages already read, then the rest."""
    pending = list(received)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
