"""A contract's limits, held by all routers together: rate and concurrency.

``constraints.rate_limit`` (per_minute, per_hour) uses the shared sliding
windows of ``caio_broker.ratelimit``. ``constraints.max_concurrent_requests`` is a
lease: before a call the router publishes one message to
``<prefix>.conc.<limit>.<service_id>`` in a memory stream that keeps at most
``limit`` messages per subject and refuses the next (discard-new per
subject), so the count and the check are one step inside the server. The
router deletes its message when the call ends; a router that dies mid-call
leaves a message that expires on its own (per-message TTL = the call's
deadline plus a margin), so a crash never leaks capacity for long.

A saturated service is skipped for the next candidate; when every candidate
is saturated the caller gets ``rate_limited`` with the soonest retry-after.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import structlog
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NoStreamResponseError

from caio_broker.ratelimit import NO_STREAM_BACKOFF_S, SlidingWindowLimiter, is_per_subject_refusal
from caio_integration.contracts import ServiceContract
from caio_integration.errors import CAIOError
from caio_integration.subjects import Subjects

__all__ = ["Admission", "ServiceLimits", "lease_subject"]

log = structlog.get_logger("caio.limits")

_LEASE_MARGIN_S = 5.0  # a lease outlives its call's deadline by this much
_MAX_LEASE_S = 3600.0


@dataclass(frozen=True, slots=True)
class Lease:
    stream: str
    seq: int


@dataclass(frozen=True, slots=True)
class Admission:
    """May this call go to this service now? If not, why, and when to retry."""

    allowed: bool
    reason: str | None = None
    retry_after_s: float | None = None
    lease: Lease | None = None


ADMITTED = Admission(True)


def lease_subject(subjects: Subjects, limit: int, service_id: str) -> str:
    """``<prefix>.conc.<limit>.<service_id>``: one lease of ``service_id``'s limit."""
    return f"{subjects.prefix}.conc.{limit}.{service_id}"


class ServiceLimits:
    __slots__ = ("_js", "_limiter", "_ready", "_releasing", "_replicas", "_subjects")

    def __init__(
        self,
        js: JetStreamContext,
        subjects: Subjects,
        limiter: SlidingWindowLimiter,
        replicas: int = 1,
    ) -> None:
        self._js = js
        self._subjects = subjects
        self._limiter = limiter
        self._replicas = replicas
        self._ready: dict[int, asyncio.Task[None]] = {}
        self._releasing: set[asyncio.Task[None]] = set()

    async def admit(self, contract: ServiceContract, call_s: float) -> Admission:
        """Count this call against the contract's limits; ``release`` the lease after it."""
        constraints = contract.constraints
        rate = constraints.rate_limit
        if rate is not None:
            for limit, window in ((rate.per_hour, 3600), (rate.per_minute, 60)):
                if limit is None:
                    continue
                decision = await self._limiter.hit(f"svc.{contract.id}", limit, window)
                if not decision.allowed:
                    per = "minute" if window == 60 else "hour"
                    return Admission(
                        False, f"rate limit {limit}/{per} reached", decision.retry_after_s
                    )
        if constraints.max_concurrent_requests is None:
            return ADMITTED
        return await self._lease(contract.id, constraints.max_concurrent_requests, call_s)

    def release_soon(self, admission: Admission) -> None:
        """Release in the background: the caller's answer does not wait for the delete.

        The lease is held a round trip longer than the call, which only ever
        errs on the side of fewer calls in flight (measured: ~1 ms less on a
        limited service's routed latency).
        """
        if admission.lease is None:
            return
        task = asyncio.create_task(self.release(admission))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def close(self) -> None:
        """Finish the releases still under way (a router stopping)."""
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)

    async def release(self, admission: Admission) -> None:
        lease = admission.lease
        if lease is None:
            return
        try:
            await self._js.delete_msg(lease.stream, lease.seq)
        except Exception as exc:  # noqa: BLE001 - the TTL frees it anyway
            log.warning("lease_release_failed", stream=lease.stream, error=repr(exc))

    async def _lease(self, service_id: str, limit: int, call_s: float) -> Admission:
        """Fails closed: any JetStream failure (refused permission, timeout, no stream) is
        a retryable ``CAIOError``, which the route path answers, never a silent crash."""
        stream = self._subjects.jetstream_name(f"CAIO_CONC_{limit}")
        ttl = min(math.ceil(call_s + _LEASE_MARGIN_S), _MAX_LEASE_S)
        subject = lease_subject(self._subjects, limit, service_id)
        for wait_s in (*NO_STREAM_BACKOFF_S, None):
            try:
                await self._ensure(stream, limit)
                ack = await self._js.publish(subject, b"", stream=stream, msg_ttl=ttl)
            except NoStreamResponseError as exc:
                # A new stream's interest reaches the other cluster nodes a moment after
                # add_stream returns (or the stream was deleted): re-ensure, retry briefly,
                # as the rate limiter and nats.go's publish do.
                if wait_s is None:
                    raise self._unavailable(subject, exc) from exc
                self._ready.pop(limit, None)
                await asyncio.sleep(wait_s)
                continue
            except APIError as exc:
                if is_per_subject_refusal(exc):
                    return Admission(False, f"{limit} concurrent requests in flight", 0.1)
                raise self._unavailable(subject, exc) from exc
            except Exception as exc:  # timeout, disconnect, a permissions violation's silence
                raise self._unavailable(subject, exc) from exc
            return Admission(True, lease=Lease(stream, ack.seq))
        raise AssertionError("unreachable: the last attempt returns or raises")

    @staticmethod
    def _unavailable(subject: str, exc: BaseException) -> CAIOError:
        log.error("concurrency_lease_failed", subject=subject, error=repr(exc))
        return CAIOError(
            "concurrency limits are unavailable, so this call is not made; retry", retryable=True
        )

    async def _ensure(self, stream: str, limit: int) -> None:
        task = self._ready.get(limit)
        if task is None:
            task = self._ready[limit] = asyncio.create_task(self._create(stream, limit))
        try:
            await task
        except BaseException:
            self._ready.pop(limit, None)  # try again next time
            raise

    async def _create(self, stream: str, limit: int) -> None:
        config = StreamConfig(
            name=stream,
            subjects=[lease_subject(self._subjects, limit, ">")],
            storage=StorageType.MEMORY,
            max_msgs_per_subject=limit,
            discard=DiscardPolicy.NEW,
            discard_new_per_subject=True,
            allow_msg_ttl=True,
            max_age=_MAX_LEASE_S + _LEASE_MARGIN_S,
            num_replicas=self._replicas,
            description="CAIO in-flight leases for max_concurrent_requests",
        )
        try:
            await self._js.add_stream(config)
        except APIError:
            # Another router made it first (same config: add_stream is idempotent;
            # a different one: find_stream/info shows it) - use what exists.
            await self._js.stream_info(stream)
