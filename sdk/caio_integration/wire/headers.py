"""NATS headers the protocol reads, and the two it writes on errors.

Every error reply, a worker's or a router's, keeps the CAIO body
(docs/protocol.md, "Errors") and adds the two headers NATS services use
for errors (ADR-32), so ``nats req`` and any micro-aware client see the
failure without parsing the body::

    Nats-Service-Error:       the message, one line, at most 200 characters
    Nats-Service-Error-Code:  an HTTP-like status for the CAIO code
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "ERROR_CODE_HEADER",
    "ERROR_HEADER",
    "HTTP_STATUS",
    "AuthorizationHeaders",
    "http_status",
    "micro_error_headers",
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
    "no_matching_service": 503,  # a router's: nothing can serve this now
    "service_unavailable": 503,
    "timeout": 504,
}


def http_status(code: str) -> int:
    """The ``Nats-Service-Error-Code`` for a CAIO error code (500 when unlisted)."""
    return HTTP_STATUS.get(code, 500)


def micro_error_headers(code: str, message: str) -> dict[str, str]:
    """The two micro error headers for an error with this CAIO ``code`` and ``message``."""
    # One line of printable text: a header value must never carry CR/LF.
    description = " ".join("".join(ch if ch.isprintable() else " " for ch in message).split())
    return {
        ERROR_HEADER: description[:_DESCRIPTION_CHARS] or code,
        ERROR_CODE_HEADER: str(http_status(code)),
    }


class AuthorizationHeaders(BaseModel):
    """NATS headers of every request a router authenticates (registry, route, keys, jobs)."""

    authorization: str = Field(
        alias="Authorization",
        pattern=r"^Bearer \S+$",
        description="`Bearer <key>`, the secret of an API key (`caio_<key_id>_<random>`)."
        " Without it, or with a key that is unknown, revoked or expired, the reply is"
        " `unauthenticated`. A router started with `--insecure-no-auth` accepts requests"
        " without it.",
    )
