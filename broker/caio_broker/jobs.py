"""Durable jobs: ``<prefix>.jobs.<capability>`` run through routing, results kept.

A job is a route request published to JetStream instead of sent as a
request. All routers share one durable pull consumer on ``CAIO_JOBS`` (a
work queue), so each job is out to one router at a time. A router runs it
through ``RouteHandler.handle`` (authentication, policy, matching, fallback,
audit: all unchanged), stores the reply in ``CAIO_RESULTS`` under
``<prefix>.results.<request_id>`` and acks only after that store.

Exactly one visible result: ``CAIO_RESULTS`` keeps one message per subject
and refuses later ones (discard-new per subject). A router that finishes a
job someone else already finished gets that refusal and just acks; a
redelivery after a crash between store and ack finds the result before
running and just acks. The service may so be called more than once; the
caller sees one answer.

Retries are counted by JetStream's delivery count, not by a consumer
``max_deliver``: a limit there would strand a job whose last delivery died
with its router (never redelivered, never answered). Here the delivery past
``max_attempts`` is dead-lettered instead of run.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import APIError

from caio_broker.audit import AuditLog, rfc3339_now
from caio_broker.jobstreams import JobSettings, ensure_job_streams
from caio_broker.replymux import Requester, js_direct_exists, js_publish
from caio_broker.routing import RouteHandler
from caio_integration._json import dumps, loads
from caio_integration.errors import RETRYABLE_CODES, CAIOError, InvalidRequest
from caio_integration.subjects import Subjects, is_safe_request_id, is_safe_token
from caio_integration.wire import AuditRecord, ReplyBody, error_reply

__all__ = ["JobRunner", "JobSettings", "ensure_job_streams", "is_retryable"]

log = structlog.get_logger("caio_integration.jobs")

PER_SUBJECT_LIMIT = 10077  # the results stream refused a second result for one id
MSG_ID = "Nats-Msg-Id"
# Exclusions that pass on their own: a worker comes back, a circuit closes, a p95 recovers.
PASSING_EXCLUSIONS = frozenset({"unavailable", "circuit_open", "observed_p95"})


def is_retryable(reply: dict[str, Any]) -> bool:
    """Whether another delivery may succeed where this reply failed."""
    if reply.get("status") != "error":
        return False
    error = reply.get("error") or {}
    code = error.get("code")
    if code in RETRYABLE_CODES:
        return True
    if code == "no_matching_service":
        # Matching services exist but none is usable right now (no live worker,
        # circuit open): that passes, so the job waits instead of failing for good.
        excluded = (error.get("details") or {}).get("excluded_codes") or {}
        return bool(excluded) and all(code in PASSING_EXCLUSIONS for code in excluded.values())
    if code != "service_error":
        return False
    # The route reply's own flag is not set when the services' errors are passed
    # on; each attempt keeps what its service said.
    attempts = reply.get("attempts") or (error.get("details") or {}).get("attempts") or []
    said_retry = [_attempt_retryable(a.get("error") or {}) for a in attempts]
    return error.get("retryable") is True or (bool(said_retry) and all(said_retry))


def _attempt_retryable(error: dict[str, Any]) -> bool:
    return error.get("retryable") is True or error.get("code") in RETRYABLE_CODES


@dataclass(slots=True)
class JobStats:
    done: int = 0
    retried: int = 0
    dead_lettered: int = 0
    already_done: int = 0  # a result existed before running (redelivery, late resubmit)
    store_refused: int = 0  # another router stored first


@dataclass(slots=True)
class _Job:
    msg: Msg
    capability: str
    deliveries: int
    request_id: str | None = None
    payload: bytes = b""
    problem: str | None = None  # why it cannot run, when it cannot


class JobRunner:
    """Fetches jobs for one router, runs them, stores results, acks."""

    def __init__(
        self,
        js: JetStreamContext,
        subjects: Subjects,
        routes: RouteHandler,
        audit: AuditLog,
        settings: JobSettings,
        requests: Requester,
        replicas: int = 1,
    ) -> None:
        self._js = js
        # The router's ReplyMux: results and existence checks for less CPU than js.*
        self._requests = requests
        self._subjects = subjects
        self._routes = routes
        self._audit = audit
        self._settings = settings
        self._replicas = replicas
        self._running: dict[asyncio.Task[None], Msg] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._ack_wait_s = settings.ack_wait_s
        self.stats = JobStats()

    async def start(self) -> None:
        self._ack_wait_s = await ensure_job_streams(
            self._js, self._subjects, self._settings, self._replicas
        )
        sub = await self._js.pull_subscribe_bind(
            self._settings.consumer, self._subjects.jobs_stream
        )
        self._loops = [
            asyncio.create_task(self._fetch_loop(sub), name="caio-jobs-fetch"),
            asyncio.create_task(self._progress_loop(), name="caio-jobs-progress"),
        ]

    async def stop(self, drain_timeout_s: float) -> None:
        """Stop fetching; let running jobs finish (bounded); hand the rest back."""
        for task in self._loops:
            task.cancel()  # a pull cut short is harmless: those jobs are redelivered
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=drain_timeout_s)
            for task in pending:
                task.cancel()  # it naks its job on the way out
            await asyncio.gather(*pending, return_exceptions=True)
        log.info("jobs_stopped", **{k: getattr(self.stats, k) for k in JobStats.__slots__})

    async def _fetch_loop(self, sub: JetStreamContext.PullSubscription) -> None:
        await asyncio.sleep(self._settings.warmup_s)
        try:
            while True:
                free = self._settings.max_concurrent - len(self._running)
                if free <= 0:
                    await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    msgs = await sub.fetch(free, timeout=self._settings.fetch_timeout_s)
                except TimeoutError:
                    continue  # nothing waiting (nats' TimeoutError is a subclass)
                except Exception as exc:  # noqa: BLE001 - disconnected: try again shortly
                    log.warning("jobs_fetch_failed", error=repr(exc))
                    await asyncio.sleep(self._settings.fetch_timeout_s)
                    continue
                for msg in msgs:
                    task = asyncio.create_task(self._run(msg))
                    self._running[task] = msg
                    task.add_done_callback(self._finished)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("job_crashed", error=repr(exc))  # not acked: it comes back

    async def _progress_loop(self) -> None:
        """Tell JetStream every running job is alive, so ack_wait covers only crashes.

        Without this, ack_wait would have to exceed the longest job timeout
        (up to an hour) and a crashed router's jobs would wait that long.
        """
        while True:
            await asyncio.sleep(self._ack_wait_s / 3)
            for msg in list(self._running.values()):
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    # -- one job --------------------------------------------------------------

    async def _run(self, msg: Msg) -> None:
        try:
            job = self._read(msg)
            if job.request_id is None:
                await self._unusable(job)
            elif await self._has_result(job.request_id):
                self.stats.already_done += 1
            elif job.deliveries > self._settings.max_attempts:
                await self._abandoned(job, job.request_id)
            else:
                await self._execute(job, job.request_id)
                return  # _execute acks or naks itself
            await msg.ack()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await msg.nak()  # stopping: straight back to another router
            raise
        except Exception as exc:  # noqa: BLE001 - JetStream trouble: the job is not lost
            log.warning("job_deferred", subject=msg.subject, error=repr(exc))
            with contextlib.suppress(Exception):
                await msg.nak(delay=self._delay(msg.metadata.num_delivered, None))

    def _read(self, msg: Msg) -> _Job:
        """The job's capability and request id (body first, then ``Nats-Msg-Id``)."""
        capability = self._subjects.name_in(msg.subject, "jobs")
        job = _Job(msg, capability, msg.metadata.num_delivered, payload=msg.data)
        header_id = (msg.headers or {}).get(MSG_ID)
        try:
            body = loads(msg.data)
        except Exception:  # noqa: BLE001 - routing answers invalid_request for it
            body = None
        body_id = body.get("request_id") if isinstance(body, dict) else None
        candidate = body_id if body_id is not None else header_id
        if not is_safe_request_id(candidate):
            job.problem = (
                f"request id {candidate!r} is not safe (1-128 of A-Z, a-z, 0-9, '_', '-')"
                if candidate is not None
                else "the job has no request_id (in the body or the Nats-Msg-Id header)"
            )
            return job
        job.request_id = candidate
        if isinstance(body, dict) and body_id is None:
            job.payload = dumps({**body, "request_id": candidate})  # the audit names it too
        return job

    async def _execute(self, job: _Job, request_id: str) -> None:
        reply = await self._routes.handle(job.capability, job.payload, job.msg.headers)
        reply.request_id = request_id
        sent = reply.to_dict()
        if is_retryable(sent) and job.deliveries < self._settings.max_attempts:
            self.stats.retried += 1
            await job.msg.nak(delay=self._delay(job.deliveries, sent))
            return
        if is_retryable(sent):
            error = sent.get("error") or {}
            reason = (
                f"still failing after {job.deliveries} attempts: "
                f"{error.get('code')}: {error.get('message')}"
            )
            await self._dead_letter(job, reason, error)
            reply.job = self._job_info(job, reason)
        else:
            reply.job = self._job_info(job, None)
        await self._store(request_id, reply)
        self.stats.done += 1
        await job.msg.ack()

    async def _abandoned(self, job: _Job, request_id: str) -> None:
        """Delivered more often than allowed without an answer: routers died running it."""
        reason = (
            f"delivered {job.deliveries} times without finishing "
            "(routers stopped or lost it while running it)"
        )
        error = CAIOError(f"job abandoned: {reason}", request_id=request_id)
        await self._audit.record(
            AuditRecord(
                kind="route",
                outcome="error",
                request_id=request_id,
                capability=job.capability if is_safe_token(job.capability) else None,
                error=error.to_error(),
                job={"dead_letter": True},
            )
        )
        await self._dead_letter(job, reason, error.to_error())
        reply = error_reply(error, request_id)
        reply.job = self._job_info(job, reason)
        await self._store(request_id, reply)

    async def _unusable(self, job: _Job) -> None:
        """No id to store a result under: audited as invalid and dead-lettered."""
        assert job.problem is not None
        error = InvalidRequest(job.problem).to_error()
        capability = job.capability if is_safe_token(job.capability) else None
        await self._audit.record(
            AuditRecord(
                kind="invalid",
                outcome="invalid",
                request_id=None,
                capability=capability,
                error=error,
                job={"subject": job.msg.subject[:200]},
            )
        )
        await self._dead_letter(job, job.problem, error)

    # -- JetStream writes ---------------------------------------------------

    async def _has_result(self, request_id: str) -> bool:
        return await js_direct_exists(
            self._requests,
            self._subjects.results_stream,
            self._subjects.result(request_id),
            self._settings.store_timeout_s,
        )

    async def _store(self, request_id: str, reply: ReplyBody) -> None:
        expect = {"Nats-Expected-Stream": self._subjects.results_stream}
        try:
            await js_publish(
                self._requests,
                self._subjects.result(request_id),
                reply.to_json(),
                self._settings.store_timeout_s,
                expect,
            )
        except APIError as exc:
            if exc.err_code != PER_SUBJECT_LIMIT:
                raise
            self.stats.store_refused += 1  # another router's result stands; ours is dropped

    async def _dead_letter(self, job: _Job, reason: str, error: dict[str, Any] | None) -> None:
        try:
            body = loads(job.payload)
        except Exception:  # noqa: BLE001 - not JSON: the reason says so, the body is left out
            body = None
        record = {
            "ts": rfc3339_now(),
            "request_id": job.request_id,
            "capability": job.capability[:200],
            "reason": reason,
            "deliveries": job.deliveries,
            "error": error,
            "job": body if isinstance(body, dict) else None,  # never the Authorization header
        }
        capability = job.capability if is_safe_token(job.capability) else None
        # The job's stream sequence names it: a dead-lettering repeated after a
        # crash is dropped by the dead-letter stream's duplicate window.
        seq = job.msg.metadata.sequence.stream
        await self._js.publish(
            self._subjects.dead_letter(capability),
            dumps(record),
            timeout=self._settings.store_timeout_s,
            stream=self._subjects.dead_letter_stream,
            headers={MSG_ID: f"job-{seq}"},
        )
        self.stats.dead_lettered += 1

    def _job_info(self, job: _Job, dead_reason: str | None) -> dict[str, Any]:
        info: dict[str, Any] = {
            "capability": job.capability,
            "deliveries": job.deliveries,
            "finished_at": rfc3339_now(),
            "dead_letter": dead_reason is not None,
        }
        if dead_reason is not None:
            info["reason"] = dead_reason
        return info

    def _delay(self, deliveries: int, reply: dict[str, Any] | None) -> float:
        backoff = self._settings.retry_backoff_s or (1.0,)
        delay = backoff[min(max(deliveries, 1), len(backoff)) - 1]
        if reply is not None:  # a rate limit says when to come back
            details = (reply.get("error") or {}).get("details") or {}
            retry_after = details.get("retry_after_s")
            if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
                delay = max(delay, float(retry_after))
        return delay
