"""CAIO's errors: one hierarchy, one stable wire ``code`` per class.

Every error a CAIO component raises or a client receives is a ``CAIOError``.
Its ``code`` is the protocol's stable error code (PROTOCOL.md, "Errors"), so
an error crosses NATS as ``{"code", "message", "details"}`` and comes back out
of the SDK as the same class::

    CAIOError                      internal
    ├── InvalidRequest             invalid_request
    │   └── PayloadTooLarge        payload_too_large
    ├── InvalidContract            invalid_contract
    ├── Unauthenticated            unauthenticated
    ├── Forbidden                  forbidden
    ├── NotFound                   not_found
    ├── Conflict                   conflict
    ├── NoMatchingService          no_matching_service
    ├── ServiceUnavailable         service_unavailable
    ├── RateLimited                rate_limited
    ├── Timeout                    timeout
    ├── ServiceError               service_error
    └── BudgetExceeded             budget_exceeded   (an extension: not in PROTOCOL.md's list)

``retryable`` says whether trying again (the same call, or the next
candidate) can help; bridge workers send it back to the router.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "EXTENSION_CODES",
    "KNOWN_CODES",
    "RETRYABLE_CODES",
    "STABLE_CODES",
    "BudgetExceeded",
    "CAIOError",
    "Conflict",
    "Forbidden",
    "InvalidContract",
    "InvalidRequest",
    "NoMatchingService",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceError",
    "ServiceUnavailable",
    "Timeout",
    "Unauthenticated",
    "error_class_for",
    "raise_for_reply",
]


class CAIOError(Exception):
    """Root of every CAIO error; ``code`` is the protocol's stable code."""

    code: ClassVar[str] = "internal"
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retryable: bool | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.retryable = self.default_retryable if retryable is None else retryable
        self.request_id = request_id

    def to_error(self) -> dict[str, Any]:
        """The ``error`` object of a wire error reply."""
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "details": self.details,
        }
        if self.retryable:
            error["retryable"] = True
        return error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidRequest(CAIOError):
    """Not JSON, not an object, wrong types, or an unsafe name."""

    code = "invalid_request"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class InvalidContract(CAIOError):
    """A contract failed validation; ``details["errors"]`` lists ``path: message``."""

    code = "invalid_contract"


class Unauthenticated(CAIOError):
    code = "unauthenticated"


class Forbidden(CAIOError):
    code = "forbidden"


class NotFound(CAIOError):
    code = "not_found"


class Conflict(CAIOError):
    code = "conflict"


class NoMatchingService(CAIOError):
    """No registered, available service satisfies the request."""

    code = "no_matching_service"


class ServiceUnavailable(CAIOError):
    code = "service_unavailable"
    default_retryable = True


class RateLimited(CAIOError):
    code = "rate_limited"
    default_retryable = True


class Timeout(CAIOError):
    code = "timeout"
    default_retryable = True


class ServiceError(CAIOError):
    """The service answered, with an error of its own."""

    code = "service_error"


class BudgetExceeded(CAIOError):
    """The key has spent its budget for the period (docs/security.md, "Budgets")."""

    code = "budget_exceeded"


_BY_CODE: dict[str, type[CAIOError]] = {
    cls.code: cls
    for cls in (
        CAIOError,
        InvalidRequest,
        PayloadTooLarge,
        InvalidContract,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
        NoMatchingService,
        ServiceUnavailable,
        RateLimited,
        Timeout,
        ServiceError,
    )
}

# The protocol's codes (PROTOCOL.md, "Errors"), and this implementation's additions:
# a client that does not know an extension code treats it as a plain error.
EXTENSION_CODES: frozenset[str] = frozenset({BudgetExceeded.code})
_BY_CODE[BudgetExceeded.code] = BudgetExceeded
STABLE_CODES: frozenset[str] = frozenset(_BY_CODE) - EXTENSION_CODES
KNOWN_CODES: frozenset[str] = frozenset(_BY_CODE)
# Codes after which the same request may succeed later: the classes retryable by
# default, and ``internal`` (an audit write or JetStream call that failed for now).
RETRYABLE_CODES: frozenset[str] = frozenset(
    {code for code, cls in _BY_CODE.items() if cls.default_retryable} | {"internal"}
)


def error_class_for(code: str) -> type[CAIOError]:
    """The class for a wire code; unknown codes (a newer server) map to the root."""
    return _BY_CODE.get(code, CAIOError)


def raise_for_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """Return an ok reply; raise the ``CAIOError`` an error reply describes."""
    if reply.get("status") != "error":
        return reply
    error = reply.get("error") or {}
    cls = error_class_for(str(error.get("code", "internal")))
    details = dict(error.get("details") or {})
    if "attempts" in reply:
        details.setdefault("attempts", reply["attempts"])
    raise cls(
        str(error.get("message", "error")),
        details=details,
        retryable=error.get("retryable"),
        request_id=reply.get("request_id"),
    )
