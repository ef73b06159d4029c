"""How the gateway answers: JSON bytes, and CAIO errors with one status per code.

Handlers return a ``Response`` holding orjson's bytes rather than a value
for FastAPI to validate and encode again: the framework measurement
(docs/gateway.md) found that second pass the larger part of FastAPI's cost.
The ``response_model`` of each route still documents the body.

The status is the one every CAIO error already carries on NATS
(``Nats-Service-Error-Code``, ``caio_integration.wire.headers.HTTP_STATUS``),
so a caller sees the same number over HTTP as ``nats req`` shows.

- ``/api/v1`` answers with CAIO's own error reply,
  ``{"status": "error", "request_id", "error": {"code", "message", "details"}}``,
  exactly what the router sends on NATS.
- ``/v1`` (OpenAI-compatible) answers ``{"error": {"message", "type", "param",
  "code"}}``, what OpenAI's SDKs parse into their ``APIError`` classes, with
  CAIO's stable code in ``code`` and its ``details`` beside it.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import BaseModel, Field
from starlette.responses import Response

from caio_integration.errors import CAIOError, InvalidRequest
from caio_integration.wire import ErrorReply, error_reply
from caio_integration.wire.headers import http_status

__all__ = [
    "CAIO_ERRORS",
    "OPENAI_ERRORS",
    "OPENAI_PREFIX",
    "OpenAIError",
    "OpenAIErrorBody",
    "caio_error_response",
    "error_response",
    "header_safe",
    "json_response",
    "openai_error_response",
    "reply_headers",
    "validation_error",
]

OPENAI_PREFIX = "/v1/"  # paths answering errors in OpenAI's shape

# What may be copied into a response header: a request id is the caller's own text
# (any 1-128 characters), and a CR, LF or non-ASCII character there breaks the response.
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]{1,128}$")


def header_safe(value: object) -> str | None:
    """``value`` if it can be a header value as it is, else None."""
    return value if isinstance(value, str) and _HEADER_SAFE.fullmatch(value) else None


# OpenAI's ``error.type`` for each status its SDK turns into its own exception class.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
    504: "timeout_error",
}


class OpenAIErrorBody(BaseModel):
    message: str = Field(description="A human sentence saying what went wrong.")
    type: str = Field(description="OpenAI's error type for the HTTP status.")
    param: str | None = Field(None, description="The request field at fault, when one is.")
    code: str = Field(description="CAIO's stable error code (docs/protocol.md, Errors).")
    details: dict[str, Any] = Field(
        default_factory=dict, description="CAIO's error details (attempts, retry_after_s...)."
    )


class OpenAIError(BaseModel):
    """The error shape of OpenAI's API, with CAIO's code."""

    error: OpenAIErrorBody


def _headers(error: CAIOError, status: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="caio"'
    retry_after = error.details.get("retry_after_s")
    if status in (429, 503) and isinstance(retry_after, int | float) and retry_after >= 0:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    if request_id := header_safe(error.request_id):
        headers["X-CAIO-Request-Id"] = request_id
    return headers


def caio_error_response(error: CAIOError) -> Response:
    """CAIO's error reply body, with the status for its code."""
    status = http_status(error.code)
    body = error_reply(error).to_json()
    return Response(body, status, _headers(error, status), media_type="application/json")


def openai_error_response(error: CAIOError) -> Response:
    """OpenAI's error body, with the status for the CAIO code."""
    status = http_status(error.code)
    body = {
        "error": {
            "message": error.message,
            "type": _OPENAI_TYPES.get(status, "server_error"),
            "param": _param(error),
            "code": error.code,
            "details": error.details,
        }
    }
    return Response(orjson.dumps(body), status, _headers(error, status), "application/json")


def error_response(path: str, error: CAIOError, status: int | None = None) -> Response:
    """``error`` in the shape its path speaks (``status`` overrides the code's)."""
    response = (
        openai_error_response(error)
        if path.startswith(OPENAI_PREFIX)
        else caio_error_response(error)
    )
    if status is not None:
        response.status_code = status
    return response


def _param(error: CAIOError) -> str | None:
    """The request field at fault, when the details name one."""
    field = error.details.get("param") or error.details.get("field")
    if isinstance(field, str):
        return field
    unknown = error.details.get("unknown_fields")
    if isinstance(unknown, dict) and unknown:
        return str(next(iter(unknown)))
    return None


# Unknown fields that callers of older CAIO APIs send, with what to do instead.
_HINTS = {
    "contract_path": "the gateway reads no files on its own disk: send the contract itself"
    " (`contract`, or its YAML text as `contract_yaml`) or upload the file"
    " (POST /api/v1/integration/upload-contract)",
}


def validation_error(errors: list[dict[str, Any]]) -> InvalidRequest:
    """pydantic's errors on a request as CAIO's ``invalid_request``.

    The lines are the protocol's ``path: message`` (what the router says
    about a bad NATS body); the location drops FastAPI's ``body`` / ``query``
    head so a path names the caller's field as the caller wrote it.
    """
    lines: list[str] = []
    unknown: dict[str, None] = {}
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        where = ".".join(loc[1:] if len(loc) > 1 else loc) or "(root)"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            unknown[where] = None
            message = _HINTS.get(where, "unknown field")
        lines.append(f"{where}: {message}")
    details: dict[str, Any] = {"errors": lines}
    if unknown:
        details["unknown_fields"] = unknown
    return InvalidRequest(
        "request does not match the API: " + "; ".join(lines[:5]), details=details
    )


_STATUSES = {
    400: "invalid_request, invalid_contract",
    401: "unauthenticated: no key, or one the router refuses",
    403: "forbidden: the key may not do this",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited (Retry-After says when to come back)",
    500: "service_error, internal",
    503: "no_matching_service, service_unavailable",
    504: "timeout",
}
CAIO_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorReply, "description": text} for status, text in _STATUSES.items()
}
OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIError, "description": text} for status, text in _STATUSES.items()
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def reply_headers(request_id: object, service_id: object = None) -> dict[str, str]:
    """Which request and which service, for callers whose body has no room for them."""
    headers = {}
    if rid := header_safe(request_id):
        headers["X-CAIO-Request-Id"] = rid
    if sid := header_safe(service_id):
        headers["X-CAIO-Service-Id"] = sid
    return headers
