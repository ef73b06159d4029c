"""Talking to a worker the way any NATS client would: JSON bytes on a subject."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from nats.aio.client import Client as NATS

__all__ = ["ask", "service_request"]


def service_request(
    capability: str, context: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """A router-shaped body for ``<prefix>.svc.<service_id>.<capability>``."""
    return {
        "request_id": uuid.uuid4().hex,
        "capability": capability,
        "context": context or {},
        "caller": "tests",
        **fields,
    }


async def ask(
    nc: NATS, subject: str, body: dict[str, Any] | bytes, timeout: float = 10.0
) -> dict[str, Any]:
    """Send one request and decode the JSON reply."""
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    msg = await nc.request(subject, payload, timeout=timeout)
    reply = orjson.loads(msg.data)
    assert isinstance(reply, dict), reply
    return reply
