"""The bases of every wire message, and how a body is parsed (PROTOCOL.md v1).

Request models parse what arrives on a subject, strictly: known fields are
type-checked (``"5000"`` is not a latency) and an unknown field in a request
is refused with its name and the field that was probably meant, because a
misspelled constraint that is ignored routes without that constraint.
Messages a peer sends on its own initiative (heartbeats, service requests)
keep ignoring unknown fields, so workers in any language may add their own.
Names that become subject tokens are checked against ``SAFE_TOKEN`` here,
before anything subscribes or publishes. Replies and records (``ReplyBody``)
are built by the server and read leniently by clients.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)

from caio_integration.errors import InvalidRequest
from caio_integration.subjects import SAFE_TOKEN
from caio_integration.wire._unknown_fields import suggest, unknown_field_message

__all__ = [
    "EpochSeconds",
    "NonNegative",
    "PeerBody",
    "ReplyBody",
    "RequestBody",
    "RequestId",
    "Token",
    "WireBody",
    "new_request_id",
    "now_ms",
    "parse",
    "rfc3339_now",
    "validation_messages",
]


def _safe_token(value: str) -> str:
    if not SAFE_TOKEN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a safe name: use 1-64 of a-z, 0-9, '_' or '-', "
            "starting with a letter or digit"
        )
    return value


Token = Annotated[str, AfterValidator(_safe_token)]
NonNegative = Annotated[float, Field(ge=0)]
RequestId = Annotated[str, Field(min_length=1, max_length=128)]


class WireBody(BaseModel):
    """Base of every request body: strict known fields, unknown ones refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class PeerBody(BaseModel):
    """Base of what peers send unasked (heartbeats, service requests): unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def epoch_seconds(value: object) -> object:
    """A timestamp as epoch seconds: RFC 3339 text (``2026-12-01T10:00:00Z``) or a number.

    Both are the protocol's (PROTOCOL.md, "Liveness"): JavaScript's
    ``toISOString()``, Go's ``time.RFC3339`` and Python's ``isoformat()``
    all print the first. Anything else is left for the float check to refuse.
    """
    if not isinstance(value, str):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value[:40]!r} is not an RFC 3339 time (e.g. 2026-12-01T10:00:00Z) nor epoch seconds"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value[:40]!r} has no time zone: end it with Z or an offset")
    return parsed.timestamp()


EpochSeconds = Annotated[
    float,
    BeforeValidator(epoch_seconds),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
            "description": "RFC 3339 time (2026-12-01T10:00:00Z) or epoch seconds",
        }
    ),
]


class ReplyBody(BaseModel):
    """Base of every reply and record: built by the server, parsed leniently by clients.

    A server builds one with the fields it sends (``None`` where the protocol
    says null); extension fields it leaves unset are not sent. A client keeps
    fields a newer server adds (``extra="allow"``), so an old SDK drops nothing.
    """

    model_config = ConfigDict(extra="allow")

    def to_json(self) -> bytes:
        """The message as sent: exactly the fields that were set."""
        return self.__pydantic_serializer__.to_json(self, exclude_unset=True)

    def to_dict(self) -> dict[str, Any]:
        """The message as a JSON-able dict (what ``to_json`` sends)."""
        return self.model_dump(mode="json", exclude_unset=True)


class RequestBody(WireBody):
    """A registry or keys request: its own fields plus an optional ``request_id``."""

    request_id: RequestId | None = Field(
        None,
        description="Optional id of this request (1-128 characters), used in its audit records"
        " and error replies; the router generates one when absent.",
    )


def new_request_id() -> str:
    # 128 random bits as 32 hex digits, like uuid4().hex at a fraction of its cost.
    return os.urandom(16).hex()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@functools.lru_cache(maxsize=2)
def _utc_second(second: int) -> str:
    return dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339_now() -> str:
    """Now in UTC with microseconds, e.g. ``2026-11-22T23:38:08.123456Z``.

    Every audit record needs one; formatting a datetime each time was a
    visible cost on the route path, so each second is formatted once and
    the microseconds appended.
    """
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return f"{_utc_second(second)}.{micros:06d}Z"


def validation_messages(exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """``path: message`` lines, the shape every CAIO validation error uses.

    With the ``model`` that refused the body, an unknown field's line names
    the field that was probably meant.
    """
    lines = []
    for err in exc.errors(include_url=False):
        if err["type"] == "extra_forbidden" and model is not None:
            lines.append(unknown_field_message(model, tuple(err["loc"])))
            continue
        path = ".".join(str(part) for part in err["loc"]) or "(root)"
        lines.append(f"{path}: {err['msg'].removeprefix('Value error, ')}")
    return lines


def unknown_fields(exc: ValidationError, model: type[BaseModel]) -> dict[str, str | None]:
    """Each unknown field's path, with the field probably meant (or None)."""
    return {
        ".".join(str(part) for part in err["loc"]): suggest(model, tuple(err["loc"]))
        for err in exc.errors(include_url=False)
        if err["type"] == "extra_forbidden"
    }


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: dict[str, Any]) -> M:
    """Validate a decoded body, turning pydantic's errors into ``invalid_request``."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = validation_messages(exc, model)
        details: dict[str, Any] = {"errors": errors}
        unknown = unknown_fields(exc, model)
        if unknown:
            details["unknown_fields"] = unknown  # path -> the field probably meant
        raise InvalidRequest(
            "request does not match the protocol: " + "; ".join(errors[:5]), details=details
        ) from None
