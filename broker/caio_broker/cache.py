"""The response cache: answers of contracts that allow it, reused for identical requests.

A contract with a ``cache: {ttl_s}`` policy, or one that guarantees
deterministic output (seed 001's INV-CODEX-0003 shape, reused for
``DETERMINISTIC_TTL_S``), lets its answers be reused. A route request is
identical to an earlier one when its capability, context, requirements,
guarantees and constraints are (compared as canonical JSON: key order does
not matter); the key is their SHA-256. Answers live in the JetStream KV
bucket ``CAIO_CACHE``, shared by every router, each with its expiry time
(the bucket itself drops entries after a day).

A hit is only used when the service that gave the answer is among this
request's candidates now (so constraints, keys' permissions and liveness
still decide), and is audited like any answer, with ``cache: {hit,
original_request_id, stored_at}``. Callers bypass the cache with ``cache:
false``; streamed requests and dry runs never use it. Storing an answer is
done in the background: a cache write never delays or fails a reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import orjson
import structlog
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from caio_integration.wire import RouteRequest

__all__ = ["ResponseCache", "cache_key"]

log = structlog.get_logger("caio.cache")


def cache_key(capability: str, request: RouteRequest) -> str:
    """What makes two route requests the same question, as one hex digest."""
    question = [
        capability,
        request.context,
        sorted(request.requirements),
        request.guarantees.model_dump(mode="json", exclude_none=True),
        request.constraints.model_dump(mode="json", exclude_none=True),
    ]
    return hashlib.sha256(orjson.dumps(question, option=orjson.OPT_SORT_KEYS)).hexdigest()


class ResponseCache:
    __slots__ = ("_kv", "_writes")

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._writes: set[asyncio.Task[None]] = set()

    async def get(self, key: str) -> dict[str, Any] | None:
        """A stored answer still within its time, or None (a failing read is a miss)."""
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - the cache is an optimisation: miss
            log.warning("cache_read_failed", error=repr(exc))
            return None
        try:
            stored = orjson.loads(entry.value or b"")
        except orjson.JSONDecodeError:
            return None
        if not isinstance(stored, dict) or stored.get("expires_at", 0) <= time.time():
            return None
        return stored

    def store(self, key: str, answer: dict[str, Any], ttl_s: float) -> None:
        """Keep ``answer`` for ``ttl_s`` seconds, in the background."""
        now = time.time()
        value = orjson.dumps({**answer, "stored_at": now, "expires_at": now + ttl_s})
        task = asyncio.create_task(self._put(key, value))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _put(self, key: str, value: bytes) -> None:
        try:
            await self._kv.put(key, value)
        except Exception as exc:  # noqa: BLE001 - a lost cache write costs one more call
            log.warning("cache_write_failed", error=repr(exc))
