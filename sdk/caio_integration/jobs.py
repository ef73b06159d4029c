"""Durable jobs from the caller's side: submit, read a result, wait for one.

What a bare NATS client does, too (docs/jobs.md): a JetStream publish to
``<prefix>.jobs.<capability>`` with the request id as ``Nats-Msg-Id`` (the
stream drops a re-submission within its duplicate window), then a direct
get of ``<prefix>.results.<request_id>``, polled to wait for it.

Results are data, not raised: a stored error reply (a job that failed for
good, or was dead-lettered) comes back as the dict it is; ``raise_for_reply``
in ``caio_integration.client`` turns it into the ``CAIOError`` for its code if wanted.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.js.errors import NoStreamResponseError, NotFoundError

from caio_integration._json import dumps, loads
from caio_integration.defaults import LEADERLESS_BACKOFF_S
from caio_integration.errors import CAIOError, InvalidRequest, ServiceUnavailable, Timeout
from caio_integration.subjects import Subjects, is_safe_request_id, is_safe_token

__all__ = ["get_result", "job_body", "submit_job", "wait_result"]

MSG_ID = "Nats-Msg-Id"
# wait_result's polls: quick at first (a short job), then twice a second.
POLL_INTERVALS_S = (0.02, 0.05, 0.1, 0.2, 0.5)


def _checked_id(request_id: str) -> str:
    if not is_safe_request_id(request_id):
        raise InvalidRequest(
            f"request id {request_id!r} is not safe: use 1-128 of A-Z, a-z, 0-9, '_' or '-', "
            "starting with a letter or digit"
        )
    return request_id


def job_body(
    context: Mapping[str, Any],
    request_id: str,
    *,
    requirements: list[str] | None = None,
    guarantees: Mapping[str, Any] | None = None,
    constraints: Mapping[str, Any] | None = None,
    timeout_ms: int = 30_000,
) -> dict[str, Any]:
    """A route request body (``docs/protocol.md``) with its request id filled in."""
    body: dict[str, Any] = {
        "request_id": request_id,
        "context": dict(context),
        "timeout_ms": timeout_ms,
    }
    if requirements:
        body["requirements"] = requirements
    if guarantees:
        body["guarantees"] = dict(guarantees)
    if constraints:
        body["constraints"] = dict(constraints)
    return body


async def submit_job(
    nc: NATS,
    subjects: Subjects,
    headers: Mapping[str, str] | None,
    capability: str,
    body: dict[str, Any],
    *,
    timeout_s: float = 10.0,
) -> tuple[str, bool]:
    """Publish one job and wait for JetStream to store it: ``(request_id, duplicate)``.

    ``duplicate`` is true when the stream already had a job with this id
    within its duplicate window and dropped this one.
    """
    if not is_safe_token(capability):
        raise InvalidRequest(f"capability {capability!r} is not a safe name")
    request_id = _checked_id(str(body.get("request_id") or ""))
    job_headers = dict(headers or {})
    job_headers[MSG_ID] = request_id
    subject = subjects.job(capability)

    js, payload = nc.jetstream(), dumps(body)

    async def publish() -> bool:
        ack = await js.publish(
            subject, payload, timeout=timeout_s, stream=subjects.jobs_stream, headers=job_headers
        )
        return bool(ack.duplicate)

    try:
        for wait_s in LEADERLESS_BACKOFF_S:
            try:
                return request_id, await publish()
            except NoStreamResponseError:  # not stored: a stream between leaders, or none
                await asyncio.sleep(wait_s)
        return request_id, await publish()
    except NoStreamResponseError:
        raise ServiceUnavailable(
            f"no {subjects.jobs_stream} stream takes {subject}; "
            "has a CAIO router with durable jobs started on this NATS?"
        ) from None
    except TimeoutError:
        raise Timeout(f"JetStream did not confirm the job within {timeout_s:g} s") from None


async def get_result(nc: NATS, subjects: Subjects, request_id: str) -> dict[str, Any] | None:
    """The stored result for ``request_id``, or None while there is none.

    A direct get of the result's own subject
    (``$JS.API.DIRECT.GET.<results stream>.<prefix>.results.<id>``): the one
    JetStream call a caller's NATS user is granted for results (docs/security.md).
    """
    subject = subjects.result(_checked_id(request_id))
    try:
        msg = await nc.jetstream().get_msg(subjects.results_stream, subject=subject, direct=True)
    except NotFoundError:
        return None
    except NoRespondersError:
        raise ServiceUnavailable(
            f"no {subjects.results_stream} stream answers; "
            "has a CAIO router with durable jobs started on this NATS?"
        ) from None
    return _decode(msg.data, subject)


async def wait_result(
    nc: NATS, subjects: Subjects, request_id: str, timeout_s: float
) -> dict[str, Any]:
    """The result for ``request_id``: the stored one, or the next stored; ``Timeout`` if none.

    Polls ``get_result`` with a growing interval (``POLL_INTERVALS_S``, then the
    last one). Nothing is created on the server, so nothing is left behind when
    the caller gives up or dies (an ordered consumer was, until its inactivity
    threshold), and the caller needs no consumer or subscribe right on results,
    either of which would let it read every result (docs/security.md). The
    price: a result is seen up to one interval late.
    """
    _checked_id(request_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    for interval in itertools.chain(POLL_INTERVALS_S, itertools.repeat(POLL_INTERVALS_S[-1])):
        result = await get_result(nc, subjects, request_id)
        if result is not None:
            return result
        left = deadline - loop.time()
        if left <= 0:
            raise Timeout(
                f"no result for {request_id} within {timeout_s:g} s", request_id=request_id
            )
        await asyncio.sleep(min(interval, left))
    raise AssertionError("unreachable: the intervals repeat forever")


def _decode(data: bytes | None, subject: str) -> dict[str, Any]:
    value = loads(data or b"null")
    if not isinstance(value, dict):
        raise CAIOError(f"unreadable result on {subject}")
    return value
