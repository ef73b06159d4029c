"""Sliding-window rate limits shared by every router replica, kept by JetStream.

Each (window, limit) pair gets one memory stream with ``max_age = window``,
``max_msgs_per_subject = limit`` and per-subject discard-new. A hit publishes
an empty message to ``<prefix>.rl.<window>s.<limit>.<key>``: the server
stores it (allowed) while the key holds fewer than ``limit`` messages younger
than ``window``, and refuses it otherwise. The count and the check are one
atomic step inside the server, so replicas need no coordination of their own
and an allowed hit costs exactly one publish round trip.

Refused hits are not stored, so a caller who keeps hammering does not push
its own window further out. The streams live in memory: a server restart
resets every window, which for rate limits is an acceptable loss.

The limiter fails closed: any NATS/JetStream failure that is not a refusal
raises a retryable ``CAIOError``, so a router denies rather than lets
unlimited traffic through. A router that prefers to fail open catches it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError

from caio_integration.errors import CAIOError
from caio_integration.subjects import Subjects, is_safe_token

__all__ = [
    "MAX_KEY_TOKENS",
    "NO_STREAM_BACKOFF_S",
    "PER_SUBJECT_LIMIT",
    "RateDecision",
    "SlidingWindowLimiter",
    "is_per_subject_refusal",
    "limit_stream_name",
    "limit_subject",
    "validate_key",
]

log = structlog.get_logger("caio.ratelimit")

# JetStream err_code of JSStreamStoreFailedF; with description "maximum messages
# per subject exceeded" it is our refusal (the publish reply is a 503).
PER_SUBJECT_LIMIT = 10077
_PER_SUBJECT_TEXT = "per subject"
STREAM_NAME_IN_USE = 10058  # "stream name already in use with a different configuration"
MAX_KEY_TOKENS = 4
_MIN_RETRY_S = 0.001
NO_STREAM_BACKOFF_S = (0.02, 0.1, 0.25)  # then fail closed


@dataclass(frozen=True, slots=True)
class RateDecision:
    """``remaining`` is known only when refused (0): counting costs a round trip."""

    allowed: bool
    retry_after_s: float | None = None
    remaining: int | None = None


def validate_key(key: object) -> str:
    """A key is 1-4 safe tokens joined by ``.`` (``caller.alice``, ``svc.gpt``).

    Several tokens let callers and services use one (window, limit) stream
    without colliding; wildcards or empty tokens would hit other keys' counts.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"unsafe rate-limit key {key!r}")
    tokens = key.split(".")
    if len(tokens) > MAX_KEY_TOKENS or not all(is_safe_token(t) for t in tokens):
        raise ValueError(f"unsafe rate-limit key {key!r}")
    return key


def _validate_limits(limit: int, window_s: int) -> None:
    # bool is an int; a True limit is surely a bug, not "1 per window".
    for name, value in (("limit", limit), ("window_s", window_s)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def limit_stream_name(subjects: Subjects, window_s: int, limit: int) -> str:
    """``CAIO_RL_<window>s_<limit>`` (+ ``_<prefix>`` off the default prefix)."""
    base = f"CAIO_RL_{window_s}s_{limit}"
    return subjects.jetstream_name(base)  # the naming rule every CAIO stream follows


def limit_subject(subjects: Subjects, window_s: int, limit: int, key: str = ">") -> str:
    """``<prefix>.rl.<window>s.<limit>.<key>``; the default key is the stream's filter."""
    return f"{subjects.prefix}.rl.{window_s}s.{limit}.{key}"


def retry_after(window_s: float, oldest_ts: float, now: float) -> float:
    """When the oldest counted hit leaves the window, clamped to [1 ms, window].

    Clamped because router and server clocks differ a little: never tell a
    caller "now" (0) nor longer than a whole window.
    """
    return min(max(window_s - (now - oldest_ts), _MIN_RETRY_S), float(window_s))


def is_per_subject_refusal(exc: APIError) -> bool:
    """The server refused a publish because the subject already holds its limit."""
    return exc.err_code == PER_SUBJECT_LIMIT and _PER_SUBJECT_TEXT in (exc.description or "")


class SlidingWindowLimiter:
    """``await limiter.hit("caller.alice", limit=60, window_s=60)``: one shared count."""

    __slots__ = ("_js", "_ready", "_replicas", "_subjects", "_timeout_s")

    def __init__(
        self,
        js: JetStreamContext,
        subjects: Subjects,
        replicas: int = 1,
        *,
        timeout_s: float = 2.0,
    ) -> None:
        self._js = js
        self._subjects = subjects
        self._replicas = replicas
        self._timeout_s = timeout_s
        # One task per (window, limit): concurrent first hits share one creation.
        self._ready: dict[tuple[int, int], asyncio.Task[None]] = {}

    async def hit(self, key: str, limit: int, window_s: int) -> RateDecision:
        """Count one request for ``key``; refused when ``limit`` hits are in the window."""
        validate_key(key)
        _validate_limits(limit, window_s)
        await self._ensure_stream(window_s, limit)
        subject = limit_subject(self._subjects, window_s, limit, key)
        for wait_s in (*NO_STREAM_BACKOFF_S, None):
            try:
                await self._js.publish(subject, b"", timeout=self._timeout_s)
            except NoStreamResponseError as exc:
                # A new stream's interest reaches other cluster nodes a moment
                # after add_stream returns; or the stream was deleted. Re-ensure
                # it and retry briefly, as nats.go's publish does.
                if wait_s is None:
                    raise self._unavailable(exc, key) from exc
                self._ready.pop((window_s, limit), None)
                await asyncio.sleep(wait_s)
                await self._ensure_stream(window_s, limit)
            except APIError as exc:
                if is_per_subject_refusal(exc):
                    return await self._refused(subject, limit, window_s)
                raise self._unavailable(exc, key) from exc
            except Exception as exc:  # timeout, disconnect
                raise self._unavailable(exc, key) from exc
            else:
                return RateDecision(allowed=True)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _refused(self, subject: str, limit: int, window_s: int) -> RateDecision:
        """The refusal's retry time, from the key's oldest hit (a direct get)."""
        stream = limit_stream_name(self._subjects, window_s, limit)
        try:
            oldest = await self._js.get_msg(stream, seq=1, subject=subject, next=True, direct=True)
        except NotFoundError:
            # Expired between the refusal and this read: retrying now may pass.
            return RateDecision(allowed=False, retry_after_s=_MIN_RETRY_S, remaining=0)
        except Exception as exc:  # noqa: BLE001 - the refusal stands; only the hint is lost
            log.warning("ratelimit_oldest_unreadable", subject=subject, error=repr(exc))
            return RateDecision(allowed=False, retry_after_s=float(window_s), remaining=0)
        if oldest.time is None:
            return RateDecision(allowed=False, retry_after_s=float(window_s), remaining=0)
        wait = retry_after(window_s, oldest.time.timestamp(), time.time())
        return RateDecision(allowed=False, retry_after_s=wait, remaining=0)

    async def _ensure_stream(self, window_s: int, limit: int) -> None:
        task = self._ready.get((window_s, limit))
        if task is None:
            task = asyncio.ensure_future(self._create_stream(window_s, limit))
            self._ready[(window_s, limit)] = task
        try:
            # shield: one cancelled hit must not cancel the creation others await.
            await asyncio.shield(task)
        except Exception as exc:
            if self._ready.get((window_s, limit)) is task:
                del self._ready[(window_s, limit)]  # let the next hit try again
            if isinstance(exc, CAIOError):
                raise
            raise self._unavailable(exc, None) from exc

    async def _create_stream(self, window_s: int, limit: int) -> None:
        config = StreamConfig(
            name=limit_stream_name(self._subjects, window_s, limit),
            subjects=[limit_subject(self._subjects, window_s, limit)],
            storage=StorageType.MEMORY,
            max_age=float(window_s),
            max_msgs_per_subject=limit,
            discard=DiscardPolicy.NEW,
            discard_new_per_subject=True,
            num_replicas=self._replicas,
            allow_direct=True,  # the refusal's oldest-hit read skips the JS API
            description=f"CAIO rate limit: {limit} per {window_s}s per key",
        )
        try:
            # Same config as an existing stream is a success, so racing routers all pass.
            await self._js.add_stream(config)
        except APIError as exc:
            if exc.err_code != STREAM_NAME_IN_USE:
                raise
            await self._check_existing(config)

    async def _check_existing(self, wanted: StreamConfig) -> None:
        """Another config under our name (other replicas, a description): fine if it limits alike.

        Not updated in place: routers with different ``replicas`` would flip it back and forth.
        """
        assert wanted.name is not None
        have = (await self._js.stream_info(wanted.name)).config
        same_limits = (
            have.max_age == wanted.max_age
            and have.max_msgs_per_subject == wanted.max_msgs_per_subject
            and have.discard == DiscardPolicy.NEW
            and have.discard_new_per_subject
            and have.subjects == wanted.subjects
        )
        if not same_limits:
            raise CAIOError(
                f"stream {wanted.name} exists but does not enforce this rate limit",
                details={"stream": wanted.name},
                retryable=False,
            )
        log.info("ratelimit_stream_reused", stream=wanted.name, replicas=have.num_replicas)

    @staticmethod
    def _unavailable(exc: BaseException, key: str | None) -> CAIOError:
        log.error("ratelimit_unavailable", key=key, error=repr(exc))
        return CAIOError(
            "the rate limiter could not count this request, so it is denied; retry",
            retryable=True,
        )
