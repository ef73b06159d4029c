"""Durable jobs from the caller's side: submit, read a result, wait for one.

What a bare NATS client does, too (docs/jobs.md): a JetStream publish to
``<prefix>.jobs.<capability>`` with the request id as ``Nats-Msg-Id`` (the
stream drops a re-submission within its duplicate window), then a direct
get, or a consumer, on ``<prefix>.results.<request_id>``.

Results are data, not raised: a stored error reply (a job that failed for
good, or was dead-lettered) comes back as the dict it is; ``raise_for_reply``
in ``caio.client`` turns it into the ``CAIOError`` for its code if wanted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.api import DeliverPolicy
from nats.js.errors import NoStreamResponseError, NotFoundError

from caio.errors import CAIOError, InvalidRequest, ServiceUnavailable, Timeout
from caio.jsonwire import dumps, loads
from caio.subjects import Subjects, is_safe_request_id, is_safe_token

__all__ = ["get_result", "job_body", "submit_job", "wait_result"]

MSG_ID = "Nats-Msg-Id"


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
    try:
        ack = await nc.jetstream().publish(
            subjects.job(capability),
            dumps(body),
            timeout=timeout_s,
            stream=subjects.jobs_stream,
            headers=job_headers,
        )
    except NoStreamResponseError:
        raise ServiceUnavailable(
            f"no {subjects.jobs_stream} stream takes {subjects.job(capability)}; "
            "has a CAIO router with durable jobs started on this NATS?"
        ) from None
    except TimeoutError:
        raise Timeout(f"JetStream did not confirm the job within {timeout_s:g} s") from None
    return request_id, bool(ack.duplicate)


async def get_result(nc: NATS, subjects: Subjects, request_id: str) -> dict[str, Any] | None:
    """The stored result for ``request_id``, or None while there is none."""
    subject = subjects.result(_checked_id(request_id))
    try:
        msg = await nc.jetstream().get_msg(subjects.results_stream, subject=subject, direct=True)
    except NotFoundError:
        return None
    return _decode(msg.data, subject)


async def wait_result(
    nc: NATS, subjects: Subjects, request_id: str, timeout_s: float
) -> dict[str, Any]:
    """The result for ``request_id``: the stored one, or the next stored; ``Timeout`` if none.

    One ordered consumer on the result's own subject, starting at its last
    message: a result stored before the call and one stored during it both
    arrive, with no window between a read and a subscribe.
    """
    subject = subjects.result(_checked_id(request_id))
    sub = await nc.jetstream().subscribe(
        subject,
        stream=subjects.results_stream,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
    )
    try:
        msg = await sub.next_msg(timeout=timeout_s)
    except TimeoutError:
        raise Timeout(
            f"no result for {request_id} within {timeout_s:g} s", request_id=request_id
        ) from None
    finally:
        await sub.unsubscribe()
    return _decode(msg.data, subject)


def _decode(data: bytes | None, subject: str) -> dict[str, Any]:
    value = loads(data or b"null")
    if not isinstance(value, dict):
        raise CAIOError(f"unreadable result on {subject}")
    return value
