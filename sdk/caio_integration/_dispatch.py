"""One request to a hosted service, from the bytes NATS delivered to the reply.

decode -> check (capability, deadline, implemented, healthy) -> execute under
the deadline and the concurrency limit -> verify_guarantees -> encode ->
reply. Every path ends in a reply: a CAIO error for what went wrong, an
unexpected exception as ``service_error`` without its text.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.micro.request import Request

from caio_integration._json import decode_object
from caio_integration._log import Logger
from caio_integration._service_replies import (
    encode_error,
    encode_ok,
    error_headers,
    json_problem,
)
from caio_integration.errors import (
    CAIOError,
    InvalidRequest,
    ServiceError,
    ServiceUnavailable,
    Timeout,
)
from caio_integration.service import _CURRENT, AIUCPService, WorkResult
from caio_integration.tracing import span, trace_id, traceparent_of
from caio_integration.wire import ServiceRequest, StreamChunk, now_ms, parse

__all__ = ["NATS_FAILURES", "Counters", "Dispatcher"]

# What a publish/flush/unsubscribe/drain raises when the connection is gone,
# slow or closed; the host logs these and carries on.
NATS_FAILURES: tuple[type[BaseException], ...] = (nats.errors.Error, OSError, TimeoutError)


@dataclass(slots=True)
class Counters:
    """Per-capability outcomes, shown in ``$SRV.STATS`` as the endpoint's ``data``.

    nats.micro counts requests itself but only sees errors a handler raises;
    ours reply with CAIO error bodies instead, so we count them here.
    """

    ok: int = 0
    errors: int = 0
    in_flight: int = 0

    def as_data(self) -> dict[str, int]:
        return {"ok": self.ok, "errors": self.errors, "in_flight": self.in_flight}


class Dispatcher:
    """Serves requests for one service instance; the host owns the connection and tasks."""

    __slots__ = (
        "_healthy",
        "_limit",
        "_log",
        "_max_bytes",
        "_max_reply",
        "_service",
        "counters",
    )

    def __init__(
        self,
        service: AIUCPService,
        *,
        concurrency: int,
        max_payload_bytes: int,
        max_reply_bytes: Callable[[], int | None],
        healthy: Callable[[], bool],
        log: Logger,
    ) -> None:
        self._service = service
        self._limit = asyncio.Semaphore(concurrency)
        self._max_bytes = max_payload_bytes
        self._max_reply = max_reply_bytes
        self._healthy = healthy
        self._log = log
        self.counters = {cap: Counters() for cap in service.contract.capability_names}

    async def serve(self, capability: str, message: Request) -> None:
        counters = self.counters[capability]
        counters.in_flight += 1
        try:
            try:
                request = self._decode(message.data)
            except CAIOError as exc:
                counters.errors += 1
                await self._respond_error(message, exc, exc.request_id)
                return
            try:
                payload, error = await self._dispatch(capability, request, message)
            except asyncio.CancelledError:
                # The host ran out of drain time: answer rather than go silent.
                counters.errors += 1
                stopping = ServiceUnavailable(
                    "the worker stopped before the request finished",
                    details={"reason": "worker_stopping"},
                )
                await self._respond_error(message, stopping, request.request_id)
                raise
            if error is None:
                counters.ok += 1
                await _respond(message, payload, None, self._log)
            else:
                counters.errors += 1
                await self._respond_error(message, error, request.request_id)
        finally:
            counters.in_flight -= 1

    def _decode(self, payload: bytes) -> ServiceRequest:
        body = decode_object(payload, max_bytes=self._max_bytes)
        try:
            return parse(ServiceRequest, body)
        except CAIOError as exc:
            request_id = body.get("request_id")
            if isinstance(request_id, str):
                exc.request_id = request_id
            raise

    async def _dispatch(
        self, capability: str, request: ServiceRequest, message: Request
    ) -> tuple[bytes, CAIOError | None]:
        """The encoded ok reply, or the error to answer with (chunks already sent)."""
        try:
            work = await self._checked_work(capability, request, message)
            return self._encode_result(request.request_id, work), None
        except CAIOError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - any bug becomes service_error, never a crash
            self._log.exception(
                "execute_failed_unexpectedly", capability=capability, request_id=request.request_id
            )
            error = ServiceError(
                f"{self._service.contract.id} failed unexpectedly ({type(exc).__name__})",
                details={"reason": "unexpected_error"},
            )
        self._log.debug(
            "request_failed", capability=capability, request_id=request.request_id, code=error.code
        )
        return b"", error

    async def _checked_work(
        self, capability: str, request: ServiceRequest, message: Request
    ) -> WorkResult:
        if request.capability != capability:
            raise InvalidRequest(
                f"capability {request.capability!r} in the body does not match "
                f"the subject's {capability!r}",
                details={"capability": request.capability, "subject_capability": capability},
            )
        deadline = request.deadline_ms
        if deadline is not None and now_ms() >= deadline:
            raise Timeout(
                "the request's deadline passed before the work started",
                details={"reason": "deadline_passed", "deadline_ms": deadline},
            )
        service_id = self._service.contract.id
        if not self._service.implements(capability):
            raise ServiceError(
                f"{service_id} lists {capability!r} in its contract "
                "but this worker does not implement it",
                details={"reason": "capability_not_implemented", "capability": capability},
                retryable=False,
            )
        if not self._healthy():
            raise ServiceUnavailable(
                f"this instance of {service_id} reports itself unhealthy",
                details={"reason": "unhealthy"},
            )
        return await self._run(capability, request, deadline, message)

    async def _run(
        self,
        capability: str,
        request: ServiceRequest,
        deadline_ms: int | None,
        message: Request,
    ) -> WorkResult:
        started = time.perf_counter()
        when = None
        if deadline_ms is not None:
            # The deadline is wall-clock; the loop's clock is monotonic.
            when = asyncio.get_running_loop().time() + (deadline_ms - now_ms()) / 1000
        traceparent = traceparent_of(message.headers)
        context = {
            "capability": capability,
            "request_id": request.request_id,
            "caller": request.caller,
            "deadline_ms": deadline_ms,
            "trace_id": trace_id(traceparent),
        }
        token = _CURRENT.set(types.MappingProxyType(dict(context)))
        scope = asyncio.timeout_at(when)
        try:
            attributes = {"caio.capability": capability, "caio.request_id": request.request_id}
            async with scope, self._limit:
                with span("caio.execute", traceparent, attributes):
                    work = await self._work(request, context, message)
                # A streamed answer's final result only sums it up: the guarantees (an
                # output schema) describe whole answers, so the router skips them too.
                streamed = request.stream and self._service.streams()
                proof = (
                    {"guarantees_met": True}
                    if streamed
                    else await self._service.verify_guarantees(work.result, self._service.contract)
                )
        except TimeoutError:
            if not scope.expired():
                raise
            raise Timeout(
                "the request's deadline passed while the worker was working",
                details={"reason": "deadline_exceeded", "deadline_ms": deadline_ms},
            ) from None
        finally:
            _CURRENT.reset(token)
        self._check_proof(capability, proof)
        self._log.debug(
            "request_served",
            capability=capability,
            request_id=request.request_id,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return work

    async def _work(
        self, request: ServiceRequest, context: dict[str, Any], message: Request
    ) -> WorkResult:
        if request.stream and self._service.streams():
            return await self._stream(request, context, message)
        return self._work_result(await self._service.execute(request.context, context))

    async def _stream(
        self, request: ServiceRequest, context: dict[str, Any], message: Request
    ) -> WorkResult:
        """Send each chunk ``execute_stream`` yields as it comes; return the final result."""
        final = WorkResult({})
        seq = 0
        items = self._service.execute_stream(request.context, context)
        try:
            async for item in items:
                if isinstance(item, WorkResult):
                    final = self._work_result(item)
                    continue
                await self._send_chunk(message, self._chunk(request, seq, item))
                seq += 1
        finally:
            # Stopped early (an error, the deadline): let the service close its upstream now.
            close = getattr(items, "aclose", None)
            if close is not None:
                await close()
        return final

    def _chunk(self, request: ServiceRequest, seq: int, item: object) -> bytes:
        if not isinstance(item, dict):
            raise ServiceError(
                f"{self._service.contract.id} streamed a {type(item).__name__}; "
                "execute_stream() yields dicts (chunks) and at most one WorkResult",
                details={"reason": "invalid_chunk", "seq": seq},
            )
        try:
            chunk = StreamChunk(
                status="chunk", request_id=request.request_id, seq=seq, data=item
            ).to_json()
        except ValueError as exc:  # pydantic's validation and serialization errors
            raise ServiceError(
                f"chunk {seq} is not JSON: {json_problem(exc)}",
                details={"reason": "unserializable_chunk", "seq": seq},
            ) from None
        limit = self._max_reply()
        if limit is not None and len(chunk) > limit:
            raise ServiceError(
                f"chunk {seq} is {len(chunk)} bytes; NATS carries at most {limit}",
                details={"reason": "chunk_too_large", "seq": seq, "size": len(chunk)},
            )
        return chunk

    async def _send_chunk(self, message: Request, chunk: bytes) -> None:
        try:
            await message.respond(chunk)
        except ValueError:  # published without a reply subject: nobody reads the stream
            raise ServiceError(
                "a stream was asked for without a reply subject",
                details={"reason": "no_reply_subject"},
            ) from None
        except NATS_FAILURES as exc:
            self._log.warning("chunk_not_sent", error=repr(exc))
            raise ServiceError(
                "the connection failed while streaming", details={"reason": "chunk_not_sent"}
            ) from None

    def _work_result(self, produced: object) -> WorkResult:
        work = WorkResult(produced) if isinstance(produced, dict) else produced
        if not isinstance(work, WorkResult):
            wrong = type(produced).__name__
        elif not isinstance(work.result, dict):
            wrong = f"WorkResult with a {type(work.result).__name__} result"
        elif not isinstance(work.usage, dict):
            wrong = f"WorkResult with a {type(work.usage).__name__} usage"
        else:
            return work
        raise ServiceError(
            f"{self._service.contract.id} produced a {wrong}; execute() returns "
            "a dict or a WorkResult of dicts",
            details={"reason": "invalid_result"},
        )

    def _check_proof(self, capability: str, proof: object) -> None:
        if not isinstance(proof, Mapping):
            raise TypeError(f"verify_guarantees() returned {type(proof).__name__}, not a dict")
        if proof.get("guarantees_met", True):
            return
        checks = proof.get("checks")
        failed = [
            check
            for check in (checks if isinstance(checks, list) else [])
            if isinstance(check, Mapping) and check.get("met") is False
        ]
        why = next((str(c["message"]) for c in failed if c.get("message")), None)
        raise ServiceError(
            f"the result breaks {self._service.contract.id}'s guarantees: "
            f"{why or 'verify_guarantees() found a violation'}"[:500],
            details={"reason": "guarantee_violated", "capability": capability, "checks": failed},
        )

    def _encode_result(self, request_id: str, work: WorkResult) -> bytes:
        try:
            encoded = encode_ok(request_id, work.result, work.usage)
        except ValueError as exc:  # pydantic's validation and serialization errors
            raise ServiceError(
                f"{self._service.contract.id} produced a result that is not JSON: "
                f"{json_problem(exc)}",
                details={"reason": "unserializable_result"},
            ) from None
        limit = self._max_reply()
        if limit is not None and len(encoded) > limit:
            raise ServiceError(
                f"the result is {len(encoded)} bytes; NATS carries at most {limit}",
                details={"reason": "result_too_large", "size": len(encoded), "limit": limit},
            )
        return encoded

    async def _respond_error(
        self, message: Request, error: CAIOError, request_id: str | None
    ) -> None:
        await _respond(message, encode_error(error, request_id), error_headers(error), self._log)


async def _respond(
    message: Request, payload: bytes, headers: dict[str, str] | None, log: Logger
) -> None:
    try:
        await message.respond(payload, headers=headers)
    except ValueError:
        log.debug("request_without_reply_subject")
    except NATS_FAILURES as exc:
        # The connection is gone; the router counts this as a failed attempt.
        log.warning("reply_not_sent", error=repr(exc))
