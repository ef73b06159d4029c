"""Steady load and its bookkeeping: routed requests and durable jobs, sent at a fixed rate.

Open loop: a request is sent every ``1/rate`` seconds whatever happened to
the last one, so a fault shows up as failed or late requests in its window
rather than as a generator that slowed down. Every request has its own id,
so what a caller was promised (an ok reply, an acked job) can be checked
against what the cluster kept (audit records, stored results).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import ServiceUnavailableError

from caio_integration.client import CAIOClient
from caio_integration.subjects import Subjects


@dataclass
class Sent:
    request_id: str
    at: float  # monotonic
    outcome: str = "pending"  # "ok", an error code, "timeout", "no_responders", "closed"
    done_at: float | None = None


@dataclass
class Window:
    """What was sent in ``[start, end)`` and how it ended."""

    sent: int
    ok: int
    outcomes: dict[str, int]

    @property
    def success_rate(self) -> float:
        return self.ok / self.sent if self.sent else 1.0


class _Paced:
    """Calls ``self._one(i)`` ``rate`` times a second, each in its own task."""

    def __init__(self, rate_per_s: float) -> None:
        self.rate_per_s = rate_per_s
        self.sent: list[Sent] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ok = 0
        self._ok_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def _one(self, index: int, record: Sent) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())

    async def _run(self) -> None:
        interval = 1.0 / self.rate_per_s
        next_at = time.monotonic()
        for index in itertools.count():
            if self._stop.is_set():
                return
            record = Sent(self.request_id(index), time.monotonic())
            self.sent.append(record)
            task = asyncio.create_task(self._tracked(index, record))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            next_at += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, next_at - time.monotonic()))

    def request_id(self, index: int) -> str:
        raise NotImplementedError

    async def _tracked(self, index: int, record: Sent) -> None:
        try:
            await self._one(index, record)
        finally:
            record.done_at = time.monotonic()
            if record.outcome == "ok":
                self._ok += 1
                for wanted, waiter in self._ok_waiters:
                    if self._ok >= wanted and not waiter.done():
                        waiter.set_result(None)

    async def until_ok(self, count: int, timeout_s: float) -> None:
        """Return once ``count`` requests in all have ended ok."""
        if self._ok >= count:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._ok_waiters.append((count, waiter))
        await asyncio.wait_for(waiter, timeout_s)

    @property
    def ok_count(self) -> int:
        return self._ok

    async def stop(self) -> None:
        """Stop sending and wait for every request sent to end (each has its own timeout)."""
        self._stop.set()
        if self._runner is not None:
            await self._runner
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def window(self, start: float, end: float) -> Window:
        picked = [s for s in self.sent if start <= s.at < end]
        outcomes = Counter(s.outcome for s in picked)
        return Window(len(picked), outcomes.get("ok", 0), dict(outcomes))

    def ids(self, outcome: str = "ok") -> set[str]:
        return {s.request_id for s in self.sent if s.outcome == outcome}

    def outcomes(self) -> dict[str, int]:
        return dict(Counter(s.outcome for s in self.sent))

    def longest_gap_s(self) -> float:
        """The longest time between two ok replies: how long routing was out."""
        done = sorted(s.done_at for s in self.sent if s.outcome == "ok" and s.done_at)
        return max((b - a for a, b in itertools.pairwise(done)), default=0.0)


class RouteLoad(_Paced):
    """Route requests spread round-robin over the callers' connections."""

    def __init__(
        self,
        callers: list[NATS],
        subjects: Subjects,
        rate_per_s: float,
        *,
        tag: str = "r",
        timeout_s: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(rate_per_s)
        self._callers = callers
        self._subject = subjects.route("code_review")
        self._tag = tag
        self._timeout_s = timeout_s
        self._headers = headers

    def request_id(self, index: int) -> str:
        return f"{self._tag}-{index:06d}"

    async def _one(self, index: int, record: Sent) -> None:
        nc = self._callers[index % len(self._callers)]
        body = {"request_id": record.request_id, "context": {"i": index}, "timeout_ms": 8000}
        try:
            msg = await nc.request(
                self._subject, orjson.dumps(body), timeout=self._timeout_s, headers=self._headers
            )
        except NatsTimeout:
            record.outcome = "timeout"
            return
        except NoRespondersError:
            record.outcome = "no_responders"
            return
        except Exception as exc:
            record.outcome = type(exc).__name__
            return
        reply = orjson.loads(msg.data)
        record.outcome = "ok" if reply["status"] == "ok" else reply["error"]["code"]


class JobLoad(_Paced):
    """Durable jobs submitted through one ``CAIOClient``; ok means JetStream acked it."""

    def __init__(self, client: CAIOClient, rate_per_s: float, *, tag: str = "j") -> None:
        super().__init__(rate_per_s)
        self._client = client
        self._tag = tag

    def request_id(self, index: int) -> str:
        return f"{self._tag}-{index:06d}"

    async def _one(self, index: int, record: Sent) -> None:
        try:
            await self._client.submit_job("code_review", {"i": index}, request_id=record.request_id)
        except Exception as exc:
            record.outcome = getattr(exc, "code", None) or type(exc).__name__
            return
        record.outcome = "ok"


# -- what the cluster kept ----------------------------------------------------------


@dataclass
class Kept:
    """The audit records and job results stored, by request id."""

    audit: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    results_last_seq: int = 0
    jobs_waiting: int = 0


async def read_all(
    js: JetStreamContext, stream: str, subject: str, timeout_s: float = 30
) -> list[dict[str, Any]]:
    """Every message of a stream, through one ephemeral consumer, in batches.

    As tests/faults' ``read_all``, but on a cluster: a consumer just created
    may not take a pull yet (503, "no responders") and a leader may move
    mid-read, so a failed fetch is asked again until ``timeout_s``.
    """
    total = (await js.stream_info(stream)).state.messages
    sub = await js.pull_subscribe(
        subject, stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE)
    )
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < total:
            try:
                batch = await sub.fetch(min(1000, total - len(records)), timeout=2)
            except (ServiceUnavailableError, NatsTimeout):
                assert time.monotonic() < deadline, f"read {len(records)} of {total} in {stream}"
                await asyncio.sleep(0.1)
                continue
            records.extend(orjson.loads(m.data) for m in batch)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return records


async def kept(nc: NATS, subjects: Subjects) -> Kept:
    js = nc.jetstream()
    found = Kept()
    for record in await read_all(js, subjects.audit_stream, subjects.audit_all):
        found.audit.setdefault(record.get("request_id") or "", []).append(record)
    for result in await read_all(js, subjects.results_stream, subjects.results_all):
        found.results.setdefault(result["request_id"], []).append(result)
    found.results_last_seq = (await js.stream_info(subjects.results_stream)).state.last_seq
    found.jobs_waiting = (await js.stream_info(subjects.jobs_stream)).state.messages
    return found


async def wait_for_results(
    nc: NATS, subjects: Subjects, request_ids: set[str], timeout_s: float
) -> None:
    """Poll the results stream until it holds a result for each id (or time runs out).

    A stored result publishes nothing a caller can await across many ids
    (``wait_result`` polls too), so this polls the stream's state.
    """
    js = nc.jetstream()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # a leader election in progress: ask again
            state = (await js.stream_info(subjects.results_stream)).state
            jobs = (await js.stream_info(subjects.jobs_stream)).state
            if state.messages >= len(request_ids) and jobs.messages == 0:
                return
        await asyncio.sleep(0.25)


@dataclass
class Counts:
    """The report: what was sent, promised, kept, lost and seen twice."""

    kind: str
    sent: int
    acked: int
    lost: int
    duplicated_visible: int
    failed: dict[str, int]

    def line(self) -> str:
        failed = ", ".join(f"{k}={v}" for k, v in sorted(self.failed.items())) or "none"
        return (
            f"{self.kind:<14} sent={self.sent:<5} acked={self.acked:<5} lost={self.lost} "
            f"duplicated_visible={self.duplicated_visible}  not acked: {failed}"
        )


def route_counts(load: RouteLoad, found: Kept) -> Counts:
    """Ok replies are the promise: each must have exactly one ``route`` audit record."""
    acked = load.ids("ok")
    routed = {
        rid: [r for r in records if r.get("kind") == "route"]
        for rid, records in found.audit.items()
    }
    lost = sum(1 for rid in acked if not routed.get(rid))
    dup = sum(1 for rid in acked if len(routed.get(rid, [])) > 1)
    failed = {k: v for k, v in load.outcomes().items() if k != "ok"}
    return Counts("routed", len(load.sent), len(acked), lost, dup, failed)


def job_counts(load: JobLoad, found: Kept) -> Counts:
    """Acked jobs are the promise: each must have one stored result (and an audit record)."""
    acked = load.ids("ok")
    lost = sum(1 for rid in acked if not found.results.get(rid))
    dup = sum(1 for rid in acked if len(found.results.get(rid, [])) > 1)
    # A second result stored and later removed would still have taken a sequence number.
    dup += found.results_last_seq - sum(len(v) for v in found.results.values())
    failed = {k: v for k, v in load.outcomes().items() if k != "ok"}
    return Counts("jobs", len(load.sent), len(acked), lost, dup, failed)


def audit_lost_for_jobs(load: JobLoad, found: Kept) -> int:
    """Jobs with an ok result but no ok ``route`` audit record (the result says it was audited)."""
    return sum(
        1
        for rid in load.ids("ok")
        for results in [found.results.get(rid, [])]
        if any(r.get("status") == "ok" for r in results)
        and not any(
            a.get("kind") == "route" and a.get("outcome") == "ok" for a in found.audit.get(rid, [])
        )
    )
