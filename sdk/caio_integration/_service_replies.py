"""A hosted service's replies: the wire models' JSON, and NATS micro's error headers
(``caio_integration.wire.headers`` says which, and why)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from caio_integration.errors import CAIOError, error_class_for
from caio_integration.wire import ServiceReply, error_reply
from caio_integration.wire.headers import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    HTTP_STATUS,
    http_status,
    micro_error_headers,
)

__all__ = [
    "ERROR_CODE_HEADER",
    "ERROR_HEADER",
    "HTTP_STATUS",
    "encode_error",
    "encode_ok",
    "error_headers",
    "http_status",
    "json_problem",
]


def error_headers(error: CAIOError) -> dict[str, str]:
    """The two micro error headers for ``error``."""
    return micro_error_headers(error.code, error.message)


def encode_ok(request_id: str, result: dict[str, Any], usage: dict[str, Any]) -> bytes:
    """The success reply; raises ``ValueError`` when the result cannot be sent as JSON."""
    reply = ServiceReply(status="ok", request_id=request_id, result=result, usage=usage)
    return reply.to_json()


def json_problem(exc: ValueError) -> str:
    """Why a value is not JSON, naming where but never quoting it (it may hold secrets)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]
        )
    return str(exc).split("\n", 1)[0][:200]


def encode_error(error: CAIOError, request_id: str | None) -> bytes:
    """The error reply's body; details that are not JSON are dropped, never a crash."""
    try:
        return error_reply(error, request_id).to_json()
    except ValueError:  # pydantic's validation and serialization errors are ValueErrors
        reason = error.details.get("reason")
        plain = error_class_for(error.code)(
            error.message,
            details={"reason": reason} if isinstance(reason, str) else {},
            retryable=error.retryable,
            request_id=error.request_id,
        )
        return error_reply(plain, request_id).to_json()
