"""One call to the upstream: the request a route and a context make, under a time budget.

The route's ``context`` is the JSON body (after the endpoint's ``defaults``,
checked against its input schema before anything is sent); the upstream's
JSON answer is the result (checked against the output schema after). Every
failure leaves as a ``caio_integration.errors`` class (``upstream_errors``
says which), and every log line names the capability and the outcome,
never a header or a body.

The client is one ``aiohttp.ClientSession`` per bridge instance (``service``
opens it): at 64 calls in flight it costs about a hundredth of the CPU per
call that one pooled ``httpx.AsyncClient`` does (bench/client_cost.py,
docs/http-bridge.md "Connections").

The time budget is the tighter of two bounds:

- the contract's promise: ``LATENCY_FACTOR`` times its p95 latency bound.
  The router gives an attempt 2 x p95 before trying the next service
  (``caio_broker.forwarding``); the bridge gives up a little sooner, so its
  own ``timeout`` reply reaches the router while the router still listens;
- the request's deadline (``deadline_ms``), less a margin to send the reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from yarl import URL

from caio_http_bridge.credentials import Credential
from caio_http_bridge.routes import BridgePlan, Route
from caio_http_bridge.streams import StreamReader, lines
from caio_http_bridge.upstream_errors import error_for_status
from caio_integration._json import JSONDecodeError, dumps, loads
from caio_integration._log import Logger
from caio_integration.errors import CAIOError, InvalidRequest, ServiceError, Timeout
from caio_integration.service import WorkResult

__all__ = ["DEFAULT_BUDGET_S", "LATENCY_FACTOR", "Budget", "Upstream"]

LATENCY_FACTOR = 1.8
MIN_BUDGET_S = 0.2  # a tiny p95 bound must not make every call impossible
DEFAULT_BUDGET_S = 60.0  # no promise and no deadline: a direct request, say
REPLY_MARGIN_S = 0.05  # to send the reply before the deadline passes
MAX_ANSWER_BYTES = 16 << 20  # far above what NATS carries; guards the bridge's memory
MAX_ERROR_BYTES = 64 << 10  # an error page is read this far for its message
# A connection that dropped or was cut mid-answer, or an answer head that is not
# HTTP (aiohttp says ClientResponseError for that: raise_for_status is never used).
_BROKEN = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)


@dataclass(frozen=True, slots=True)
class Budget:
    """How long one upstream call may take, and which bound set it."""

    seconds: float
    bound: Literal["latency", "deadline", "default"]

    @classmethod
    def for_request(
        cls, p95_ms: float | None, deadline_ms: int | None, now_ms: float | None = None
    ) -> Budget:
        # The tighter bound, the latency one on a tie; no bound at all: the default.
        # Written out rather than min() over a list: this runs on every request.
        latency = None if p95_ms is None else max(MIN_BUDGET_S, p95_ms * LATENCY_FACTOR / 1000)
        if deadline_ms is None:
            return cls(DEFAULT_BUDGET_S, "default") if latency is None else cls(latency, "latency")
        left = (deadline_ms - (time.time() * 1000 if now_ms is None else now_ms)) / 1000
        deadline = max(left - REPLY_MARGIN_S, left / 2, 0.001)
        if latency is not None and latency <= deadline:
            return cls(latency, "latency")
        return cls(deadline, "deadline")


class Upstream:
    """The session, the URLs and the credentials a bridge instance calls its upstream with."""

    __slots__ = ("_headers", "_log", "_proxy", "_session", "_urls", "secrets")

    def __init__(
        self,
        session: aiohttp.ClientSession,
        plan: BridgePlan,
        credentials: Mapping[str, Credential],
        log: Logger,
        *,
        proxy: str | None = None,
    ) -> None:
        self._session = session
        # base_url + path, joined once: "http://h/v1" and "/chat/completions"
        # make "http://h/v1/chat/completions", with or without the slash after v1.
        # Parsed once too: aiohttp parses a str URL on every request.
        base = plan.base_url.rstrip("/")
        self._urls = {
            capability: _parsed(base + route.path) for capability, route in plan.routes.items()
        }
        # Each route's headers, for a plain call and a streamed one, built once.
        self._headers = {
            capability: (
                _headers(route, credentials.get(capability), streaming=False),
                _headers(route, credentials.get(capability), streaming=True),
            )
            for capability, route in plan.routes.items()
        }
        self._proxy = proxy
        self._log = log
        #: What must never appear in a reply or a log line.
        self.secrets = tuple({c.secret for c in credentials.values()})

    async def call(self, route: Route, context: Mapping[str, Any], budget: Budget) -> WorkResult:
        """Send one request and return the upstream's JSON answer (and its ``usage``)."""
        request = self._request(route, context, streaming=False)
        started = time.perf_counter()
        try:
            # One bound over everything: the wait for a pooled connection, the
            # connect, sending, and reading the whole answer.
            async with asyncio.timeout(budget.seconds):
                response = await self._session.request(**request)
                try:
                    ok = 200 <= response.status < 300
                    raw = await _read(response, MAX_ANSWER_BYTES if ok else MAX_ERROR_BYTES)
                finally:
                    # Back to the pool when read to the end; closed when not.
                    response.release()
        except TimeoutError:  # the budget, or aiohttp's own (a TimeoutError too)
            raise self._failed(route, _timeout(budget), started) from None
        except aiohttp.ClientError as exc:
            raise self._failed(route, _transport_error(exc), started) from None
        except CAIOError as exc:
            raise self._failed(route, exc, started) from None
        if not ok:
            error = error_for_status(response.status, response.headers, raw, secrets=self.secrets)
            raise self._failed(route, error, started)
        try:
            answer = _json_object(raw)
            route.check_output(answer, self.secrets)
        except CAIOError as exc:
            raise self._failed(route, exc, started) from None
        self._log.debug(
            "upstream_answered",
            capability=route.capability,
            status=response.status,
            ms=_ms(started),
        )
        usage = answer.get("usage")
        return WorkResult(answer, dict(usage) if isinstance(usage, dict) else {})

    async def stream(
        self, route: Route, context: Mapping[str, Any], budget: Budget
    ) -> AsyncGenerator[dict[str, Any] | WorkResult, None]:
        """Yield the upstream's chunks as they come, then the final ``WorkResult``.

        An endpoint that does not stream answers as any service that does not
        stream: no chunks, and its whole answer as the final result.
        """
        if route.stream is None:
            yield await self.call(route, context, budget)
            return
        request = self._request(route, context, streaming=True)
        # The budget bounds the wait for the answer's head (below) and each
        # wait for more of the body (sock_read), not the whole stream.
        request["timeout"] = aiohttp.ClientTimeout(total=None, sock_read=budget.seconds)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(budget.seconds):
                response = await self._session.request(**request)
        except TimeoutError:
            raise self._failed(route, _timeout(budget), started) from None
        except aiohttp.ClientError as exc:
            raise self._failed(route, _transport_error(exc), started) from None
        reader = StreamReader(route.stream, self.secrets)
        try:
            if not 200 <= response.status < 300:
                raw = await _read(response, MAX_ERROR_BYTES)
                raise error_for_status(response.status, response.headers, raw, secrets=self.secrets)
            async for chunk in reader.chunks(lines(response.content.iter_any())):
                yield chunk
        except TimeoutError:
            raise self._failed(route, _timeout(budget, reader.count), started) from None
        except aiohttp.ClientError as exc:
            raise self._failed(route, _transport_error(exc, reader.count), started) from None
        except CAIOError as exc:
            raise self._failed(route, exc, started) from None
        finally:
            # A caller that stopped reading leaves the body unread: release()
            # then closes the connection instead of pooling it.
            response.release()
        self._log.debug(
            "upstream_streamed", capability=route.capability, chunks=reader.count, ms=_ms(started)
        )
        yield reader.final()

    # -- the request ------------------------------------------------------------

    def _request(
        self, route: Route, context: Mapping[str, Any], *, streaming: bool
    ) -> dict[str, Any]:
        """``ClientSession.request``'s arguments for one call."""
        body = {**route.defaults, **context}
        route.check_input(body)
        if route.stream is not None:
            # Said either way: some servers stream unless told not to (Ollama).
            body[route.stream.flag] = streaming
        request: dict[str, Any] = {
            "method": route.method,
            "url": self._urls[route.capability],
            "headers": self._headers[route.capability][streaming],
            "allow_redirects": False,  # a redirect is a contract mistake, reported as one
            "proxy": self._proxy,
        }
        if route.has_body:
            request["data"] = dumps(body)
        else:
            request["params"] = _query(body)
        return request

    def _failed(self, route: Route, error: CAIOError, started: float) -> CAIOError:
        """Log a failed call (codes and numbers only) and hand back its error."""
        self._log.warning(
            "upstream_call_failed",
            capability=route.capability,
            code=error.code,
            reason=error.details.get("reason"),
            status=error.details.get("status"),
            ms=_ms(started),
        )
        return error


def _parsed(url: str) -> URL | str:
    """``url`` as aiohttp would parse it; left a string when that fails, so each call
    fails as it always did (aiohttp's ``InvalidUrlClientError``), not the bridge's start."""
    try:
        return URL(url)
    except ValueError:
        return url


def _headers(route: Route, credential: Credential | None, *, streaming: bool) -> dict[str, str]:
    """What every call along ``route`` sends: names in lower case, so the contract's
    ``Accept`` replaces the default instead of going out beside it."""
    headers = {"accept": "text/event-stream" if streaming else "application/json"}
    if route.has_body:
        headers["content-type"] = "application/json"
    headers.update((name.lower(), value) for name, value in route.headers.items())
    if credential is not None:
        headers[credential.header.lower()] = credential.value
    return headers


def _query(body: Mapping[str, Any]) -> dict[str, str]:
    """A GET/DELETE request's query: the context's scalar values (null: left out)."""
    query: dict[str, str] = {}
    for key, value in body.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            query[key] = str(value)
        else:
            raise InvalidRequest(
                f"context.{key}: this endpoint sends the context as a query string, "
                f"which holds text and numbers, not a {type(value).__name__}",
                details={"reason": "not_a_query_value", "field": key},
            )
    return query


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The answer's body, at most ``limit`` bytes (an error page is cut; an answer refused)."""
    parts: list[bytes] = []
    size = 0
    async for part in response.content.iter_any():
        parts.append(part)
        size += len(part)
        if size > limit:
            if not 200 <= response.status < 300:
                break
            raise ServiceError(
                f"the upstream's answer is over {limit} bytes",
                details={"reason": "upstream_answer_too_large", "limit": limit},
            )
    return b"".join(parts)[:limit]


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        answer = loads(raw)
    except JSONDecodeError:
        raise ServiceError(
            "the upstream's answer is not JSON",
            details={"reason": "invalid_upstream_response"},
        ) from None
    if not isinstance(answer, dict):
        raise ServiceError(
            f"the upstream answered a JSON {type(answer).__name__}; a result is an object",
            details={"reason": "invalid_upstream_response"},
        )
    return answer


def _timeout(budget: Budget, chunks: int | None = None) -> Timeout:
    details: dict[str, Any] = {
        "reason": "upstream_timeout",
        "timeout_s": round(budget.seconds, 3),
        "bound": budget.bound,
    }
    if chunks is not None:
        details["chunks"] = chunks
    return Timeout(
        f"the upstream did not answer within {budget.seconds:.3g} s (the {budget.bound} bound)",
        details=details,
    )


def _transport_error(exc: aiohttp.ClientError, chunks: int | None = None) -> ServiceError:
    """A failure below HTTP: the class name says what, never the exception's text."""
    kind = type(exc).__name__
    details: dict[str, Any] = {"error": kind}
    if chunks is not None:
        details["chunks"] = chunks
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, no such host, TLS handshake
        details["reason"] = "upstream_unreachable"
        return ServiceError(
            f"the upstream could not be reached ({kind})", details=details, retryable=True
        )
    if isinstance(exc, _BROKEN):
        details["reason"] = "upstream_connection_failed"
        what = "stream broke" if chunks else "connection failed"
        return ServiceError(f"the upstream's {what} ({kind})", details=details, retryable=True)
    details["reason"] = "upstream_error"
    return ServiceError(f"the call to the upstream failed ({kind})", details=details)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
