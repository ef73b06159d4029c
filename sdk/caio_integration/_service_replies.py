"""A hosted service's replies: the wire models' JSON, and NATS micro's error headers.

Error replies keep the CAIO body (docs/protocol.md, "Errors") and add the
two headers NATS services use for errors (ADR-32), so ``nats req`` and any
micro-aware client see the failure without parsing the body:

    Nats-Service-Error:       the message, one line, at most 200 characters
    Nats-Service-Error-Code:  an HTTP-like status for the CAIO code
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from caio_integration.errors import CAIOError, error_class_for
from caio_integration.wire import ServiceReply, error_reply

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

ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"
_DESCRIPTION_CHARS = 200

#: CAIO error code -> the status a NATS micro client reads; any other code is 500.
HTTP_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "invalid_contract": 400,
    "payload_too_large": 413,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "rate_limited": 429,
    "service_unavailable": 503,
    "timeout": 504,
}


def http_status(code: str) -> int:
    """The ``Nats-Service-Error-Code`` for a CAIO error code (500 when unlisted)."""
    return HTTP_STATUS.get(code, 500)


def error_headers(error: CAIOError) -> dict[str, str]:
    """The two micro error headers for ``error``."""
    # One line of printable text: a header value must never carry CR/LF.
    description = " ".join("".join(ch if ch.isprintable() else " " for ch in error.message).split())
    return {
        ERROR_HEADER: description[:_DESCRIPTION_CHARS] or error.code,
        ERROR_CODE_HEADER: str(http_status(error.code)),
    }


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
