"""JSON on the wire: orjson for speed, with the protocol's error reply shape."""

from __future__ import annotations

from typing import Any

import orjson

from caio.errors import CAIOError, InvalidRequest, PayloadTooLarge

__all__ = ["decode_object", "dumps", "error_reply", "loads"]

loads = orjson.loads


def dumps(value: Any) -> bytes:
    """Compact JSON; keys sorted so equal documents have equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def decode_object(payload: bytes, *, max_bytes: int) -> dict[str, Any]:
    """Parse a request body that must be one JSON object of bounded size."""
    if len(payload) > max_bytes:
        raise PayloadTooLarge(
            f"request body is {len(payload)} bytes; the limit is {max_bytes}",
            details={"size": len(payload), "limit": max_bytes},
        )
    if not payload:
        raise InvalidRequest("request body is empty; send a JSON object")
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"request body must be a JSON object, not {type(value).__name__}")
    return value


def error_reply(error: CAIOError, request_id: str | None = None) -> dict[str, Any]:
    """``{"status": "error", "request_id", "error": {...}}`` as PROTOCOL.md says."""
    reply: dict[str, Any] = {"status": "error", "error": error.to_error()}
    rid = request_id or error.request_id
    if rid is not None:
        reply["request_id"] = rid
    return reply
