"""The Codex worker's upstream, as CAIO sees it: its failures, refusals and usage.

Every upstream failure maps to one CAIO error with a distinct
``details.reason`` (docs/workers.md, "Upstream failures"), the same for a
plain call and for a stream that failed before it began; the API key never
appears in a message, even when the upstream echoes it.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

import openai
from openai.types import CompletionUsage

from caio_integration.errors import (
    CAIOError,
    InvalidRequest,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    Timeout,
)

__all__ = [
    "UPSTREAM_MESSAGE_CHARS",
    "Warns",
    "failed_call",
    "refused",
    "retry_after_s",
    "scrub",
    "upstream_error",
    "usage_of",
]

# Key-shaped strings an upstream might echo back (OpenAI's 401 message does).
_KEYLIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*.]{6,}")
UPSTREAM_MESSAGE_CHARS = 300


class Warns(Protocol):
    """The part of the worker's logger this module uses."""

    def warning(self, event: str, **fields: Any) -> Any: ...


def failed_call(exc: openai.OpenAIError, api_key: str, log: Warns) -> CAIOError:
    """``upstream_error(exc)``, logged as ``upstream call failed`` (without the key)."""
    error = upstream_error(exc, api_key)
    log.warning(
        "upstream call failed",
        code=error.code,
        reason=error.details.get("reason"),
        status=error.details.get("status"),
        upstream_request_id=getattr(exc, "request_id", None),
    )
    return error


def usage_of(usage: CompletionUsage | None) -> dict[str, Any]:
    """The reply's ``usage``: the upstream's token counts, or ``{}`` without them."""
    if usage is None:
        return {}
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def refused(refusal: str | None, finish_reason: str | None) -> ServiceError:
    """The model declined (``refusal`` set, or ``finish_reason: content_filter``)."""
    return ServiceError(
        "the model declined the request",
        details={
            "reason": "refused",
            "refusal": (refusal or "")[:UPSTREAM_MESSAGE_CHARS],
            "finish_reason": finish_reason,
        },
        retryable=False,
    )


def scrub(text: str, api_key: str) -> str:
    """The upstream's message, safe to forward: no key, bounded length."""
    if api_key:
        text = text.replace(api_key, "***")
    return _KEYLIKE.sub(r"\1-***", text)[:UPSTREAM_MESSAGE_CHARS]


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _connection_refused(exc: BaseException) -> bool:
    """A connection that failed outright (refused, unroutable) rather than timed out.

    The SDK's aiohttp transport reports a refused connection as a connect
    *timeout*; the OS error underneath says what happened.
    """
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; the bound guards against a cycle
        if seen is None:
            break
        if isinstance(seen, OSError) and not isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def upstream_error(exc: openai.OpenAIError, api_key: str) -> CAIOError:
    """One CAIO error per kind of upstream failure, each with its own ``reason``."""
    # Order matters: APITimeoutError is an APIConnectionError, and every
    # status error is an APIStatusError.
    if isinstance(exc, openai.APITimeoutError) and not _connection_refused(exc):
        return Timeout(
            "the upstream model did not answer in time", details={"reason": "upstream_timeout"}
        )
    if isinstance(exc, openai.APIConnectionError):
        return ServiceUnavailable(
            "the upstream model could not be reached", details={"reason": "upstream_unreachable"}
        )
    if not isinstance(exc, openai.APIStatusError):
        return ServiceError(
            "the upstream's answer could not be used", details={"reason": "upstream_error"}
        )
    status = exc.status_code
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        # The upstream's message is left out: OpenAI's 401 quotes the key.
        return ServiceUnavailable(
            "the upstream rejected this worker's credentials",
            details={"reason": "upstream_unauthorized", "status": status},
            retryable=False,
        )
    message = scrub(exc.message, api_key)
    if isinstance(exc, openai.RateLimitError):
        details: dict[str, Any] = {"reason": "upstream_rate_limited", "status": status}
        wait = retry_after_s(exc.response.headers)
        if wait is not None:
            details["retry_after_s"] = wait
        return RateLimited("the upstream is rate limiting this worker", details=details)
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return InvalidRequest(
            f"the upstream rejected the request: {message}",
            details={"reason": "upstream_bad_request", "status": status},
        )
    if isinstance(exc, openai.NotFoundError):
        # Usually a wrong model name or base URL: the worker's configuration.
        return ServiceUnavailable(
            f"the upstream does not know this model or endpoint: {message}",
            details={"reason": "upstream_not_found", "status": status},
            retryable=False,
        )
    retryable = status >= 500 or status in (408, 409)
    return ServiceError(
        f"the upstream failed with HTTP {status}: {message}",
        details={"reason": "upstream_error", "status": status},
        retryable=retryable,
    )
