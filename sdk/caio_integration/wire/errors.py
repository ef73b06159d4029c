"""The error reply every request-reply subject sends on failure, never silence."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, JsonValue

from caio_integration.errors import KNOWN_CODES, CAIOError
from caio_integration.wire._base import ReplyBody
from caio_integration.wire.route import Attempt

__all__ = ["ErrorBody", "ErrorReply", "error_reply"]

# From the error classes themselves (the protocol's codes and the extensions), so a new
# error class shows up in the schema (and its drift test).
_ERROR_CODES: list[JsonValue] = [*sorted(KNOWN_CODES)]


class ErrorBody(ReplyBody):
    """The ``error`` object of an error reply."""

    code: str = Field(
        description="A stable error code: programs decide by it.",
        json_schema_extra={"enum": _ERROR_CODES},
    )
    message: str = Field(description="A human sentence saying what went wrong.")
    details: dict[str, Any] = Field(
        description="Specifics for programs, by code (e.g. `errors`, `unknown_fields`,"
        " `attempts`, `excluded`, `retry_after_s`); `{}` when there are none."
    )
    retryable: bool | None = Field(
        None, description="Present and true when trying again (or the next candidate) can help."
    )


class ErrorReply(ReplyBody):
    """What a request-reply subject answers on failure."""

    status: Literal["error"] = Field(description="Always `error`.")
    request_id: str | None = Field(
        None,
        description="The request's id, when known (not, e.g., when the request was refused"
        " before its body was read).",
    )
    error: ErrorBody = Field(description="What went wrong.")
    attempts: list[Attempt] | None = Field(
        None, description="Extension, route replies: every attempt when none succeeded."
    )
    job: dict[str, Any] | None = Field(
        None,
        description="Extension: only in a durable job's stored result, how the job went:"
        " capability, deliveries, finished_at, dead_letter, reason.",
    )


def error_reply(
    error: CAIOError, request_id: str | None = None, attempts: list[Attempt] | None = None
) -> ErrorReply:
    """The reply for ``error``; ``request_id`` (or the error's own) when known."""
    fields: dict[str, Any] = {"status": "error", "error": ErrorBody(**error.to_error())}
    rid = request_id or error.request_id
    if rid is not None:
        fields["request_id"] = rid
    if attempts is not None:
        fields["attempts"] = attempts
    return ErrorReply(**fields)
