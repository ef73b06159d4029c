"""Contracts in a JetStream KV bucket: durable, shared by every router.

The key is the service id; the value holds the normalized contract and its
owner (the name of the API key that registered it). Writes use the bucket's revisions
for optimistic concurrency: ``create`` fails if the id exists, ``replace``
fails if someone changed it since we read it. Two routers racing to
register one id cannot both win.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from caio_integration._json import dumps, loads
from caio_integration.errors import Conflict

__all__ = ["ContractStore", "StoredContract", "encode_entry", "open_bucket"]

log = structlog.get_logger("caio.store")

KV_DEL = "DEL"
KV_PURGE = "PURGE"
WRONG_LAST_SEQUENCE = 10071  # JetStream err_code: expected last subject sequence mismatch


async def open_bucket(
    js: JetStreamContext,
    bucket: str,
    replicas: int,
    description: str,
    *,
    max_age_s: float | None = None,
) -> KeyValue:
    """A CAIO KV bucket (file storage, 5 revisions of history), created on first use;
    ``max_age_s``: entries are dropped this long after their last write."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=bucket,
                history=5,
                storage=StorageType.FILE,
                replicas=replicas,
                description=description,
                ttl=max_age_s,
            )
        )


@dataclass(frozen=True, slots=True)
class StoredContract:
    """One registry entry: the normalized contract document and who owns it."""

    service_id: str
    document: dict[str, Any]
    owner: str | None
    revision: int


def encode_entry(document: dict[str, Any], owner: str | None) -> bytes:
    """The stored value: ``{"contract": <normalized document>, "owner": <key name>}``."""
    return dumps({"contract": document, "owner": owner})


def _decode_entry(service_id: str, value: bytes, revision: int) -> StoredContract:
    envelope = loads(value)
    return StoredContract(service_id, envelope["contract"], envelope.get("owner"), revision)


class ContractStore:
    __slots__ = ("_js", "_kv", "_subject_prefix", "_watch_task")

    def __init__(self, js: JetStreamContext, kv: KeyValue, bucket: str) -> None:
        self._js = js
        self._kv = kv
        self._subject_prefix = f"$KV.{bucket}."
        self._watch_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, replicas: int = 1) -> ContractStore:
        kv = await open_bucket(
            js, bucket, replicas, "CAIO registry: service id -> normalized contract"
        )
        return cls(js, kv, bucket)

    async def get(self, service_id: str) -> StoredContract | None:
        try:
            entry = await self._kv.get(service_id)
        except KeyNotFoundError:  # also KeyDeletedError
            return None
        if entry.value is None or entry.revision is None:
            return None
        return _decode_entry(service_id, entry.value, entry.revision)

    async def create(self, service_id: str, value: bytes) -> int:
        try:
            return await self._kv.create(service_id, value)
        except KeyWrongLastSequenceError:
            raise Conflict(
                f"service {service_id} was registered concurrently; fetch it and retry",
                details={"service_id": service_id},
            ) from None

    async def replace(self, service_id: str, value: bytes, last_revision: int) -> int:
        try:
            return await self._kv.update(service_id, value, last=last_revision)
        except KeyWrongLastSequenceError:
            raise Conflict(
                f"service {service_id} changed while it was being replaced; retry",
                details={"service_id": service_id},
            ) from None

    async def delete(self, service_id: str, last_revision: int) -> int:
        """Place a delete marker; returns its revision.

        Published directly (the marker KeyValue.delete would publish) because
        the caller needs the marker's revision to order this delete against
        later registrations, and ``KeyValue.delete`` does not return it.
        """
        headers = {
            "KV-Operation": KV_DEL,
            "Nats-Expected-Last-Subject-Sequence": str(last_revision),
        }
        try:
            ack = await self._js.publish(self._subject_prefix + service_id, b"", headers=headers)
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise Conflict(
                    f"service {service_id} changed while it was being deregistered; retry",
                    details={"service_id": service_id},
                ) from None
            raise
        return int(ack.seq)

    async def watch(
        self,
        on_put: Callable[[StoredContract], Awaitable[None]],
        on_delete: Callable[[str, int], Awaitable[None]],
    ) -> None:
        """Replay the bucket, then follow it; returns once the replay is done."""
        watcher = await self._kv.watchall()
        caught_up = asyncio.get_running_loop().create_future()

        async def follow() -> None:
            while True:
                try:
                    entry = await watcher.updates(timeout=3600)  # type: ignore[no-untyped-call]
                except TimeoutError:  # nats' TimeoutError: nothing changed for an hour
                    continue
                if entry is None:  # the marker after the initial replay
                    if not caught_up.done():
                        caught_up.set_result(None)
                    continue
                if entry.revision is None:
                    continue
                try:
                    if entry.operation in (KV_DEL, KV_PURGE):
                        await on_delete(entry.key, entry.revision)
                    elif entry.value is not None:
                        await on_put(_decode_entry(entry.key, entry.value, entry.revision))
                except Exception as exc:  # noqa: BLE001 - one bad entry must not stop the watch
                    log.error("registry_watch_entry_failed", key=entry.key, error=repr(exc))

        self._watch_task = asyncio.create_task(follow(), name="caio-registry-watch")
        await caught_up

    async def close(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
            self._watch_task = None
