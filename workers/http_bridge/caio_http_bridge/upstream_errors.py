"""An upstream's HTTP failure, as the CAIO error the router acts on.

The codes decide what the router does next, so the mapping follows who can
fix the failure:

=====================  =========================  ==========  ====================================
upstream               CAIO code                  retryable   why
=====================  =========================  ==========  ====================================
429                    ``rate_limited``           yes         wait ``details.retry_after_s``
5xx, connect/read      ``service_error``          yes         the upstream's trouble; try again
  failure
408, time budget       ``timeout``                yes         slow, not wrong
401, 403, 407          ``service_unavailable``    no          this bridge's credential is refused:
                                                              the caller can fix nothing, another
                                                              service may answer
413                    ``payload_too_large``      no          the caller's body is too big
other 4xx              ``invalid_request``        no          the caller's input; the upstream's
                                                              message says what
anything else          ``service_error``          no          a redirect or 1xx: a contract mistake
=====================  =========================  ==========  ====================================

Every message forwarded from an upstream is scrubbed of the credential and
of anything key-shaped, and bounded (``credentials.scrub``); an upstream's
message is left out entirely for 401/403/407, whose text tends to quote the
key it refused.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Any

from caio_http_bridge.credentials import scrub
from caio_integration._json import JSONDecodeError, loads
from caio_integration.errors import (
    CAIOError,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    Timeout,
)

__all__ = ["error_for_status", "retry_after_s", "upstream_message"]

_CREDENTIAL_REFUSED = frozenset({401, 403, 407})
# Keys under which JSON APIs put their error text: OpenAI and Anthropic
# ({"error": {"message"}}), Ollama ({"error": "..."}), FastAPI/vLLM
# ({"detail": ...}, {"message": ...}).
_MESSAGE_KEYS = ("message", "detail", "error", "msg", "description")


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Iterable[str] = (),
    now: float | None = None,
) -> CAIOError:
    """The CAIO error for an upstream answer with a non-2xx ``status``.

    ``headers`` are looked up in lower case (aiohttp's ``CIMultiDictProxy`` is case-blind
    already); ``body`` is the (bounded) start of the answer.
    """
    details: dict[str, Any] = {"status": status}
    if status in _CREDENTIAL_REFUSED:
        details["reason"] = "upstream_unauthorized"
        return ServiceUnavailable(
            f"the upstream refused this bridge's credentials (HTTP {status})",
            details=details,
            retryable=False,
        )
    said = upstream_message(body, secrets)
    suffix = f": {said}" if said else ""
    if status == 429:
        details["reason"] = "upstream_rate_limited"
        wait = retry_after_s(headers, now)
        if wait is not None:
            details["retry_after_s"] = wait
        return RateLimited(f"the upstream is rate limiting this bridge{suffix}", details=details)
    if status >= 500:
        details["reason"] = "upstream_error"
        return ServiceError(
            f"the upstream failed with HTTP {status}{suffix}", details=details, retryable=True
        )
    if status == 408:
        details["reason"] = "upstream_timeout"
        return Timeout(f"the upstream timed out the request (HTTP 408){suffix}", details=details)
    if status == 413:
        details["reason"] = "upstream_payload_too_large"
        return PayloadTooLarge(
            f"the upstream refused the body as too large{suffix}", details=details
        )
    if 400 <= status < 500:
        details["reason"] = "upstream_bad_request"
        return InvalidRequest(f"the upstream rejected the request{suffix}", details=details)
    details["reason"] = "unexpected_status"
    return ServiceError(
        f"the upstream answered HTTP {status}, which the bridge does not follow; "
        "check the contract's base_url and path",
        details=details,
        retryable=False,
    )


def upstream_message(body: bytes, secrets: Iterable[str] = ()) -> str:
    """The upstream's own words about a failure, scrubbed and bounded ("" if none)."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    try:
        document = loads(text)
    except JSONDecodeError:
        return scrub(text, secrets)  # plain text (or an HTML error page: bounded)
    found = _message_in(document)
    return scrub(found if found is not None else text, secrets)


def _message_in(document: object, depth: int = 0) -> str | None:
    """The first string under a message-like key, searched a few levels down."""
    if isinstance(document, str):
        return document
    if not isinstance(document, dict) or depth > 3:
        return None
    for key in _MESSAGE_KEYS:
        if key in document:
            found = _message_in(document[key], depth + 1)
            if found:
                return found
    return None


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return _non_negative(float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _non_negative(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return _non_negative(when.timestamp() - (time.time() if now is None else now))


def _non_negative(seconds: float) -> float | None:
    # NaN and infinity are not waits anyone can honour (and not JSON either).
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return round(max(0.0, seconds), 3)
