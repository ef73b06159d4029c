"""Where durable jobs live: the streams, the shared consumer, and their settings.

``CAIO_JOBS`` is a work queue (acked jobs leave; the backlog is the stream),
``CAIO_RESULTS`` keeps one result per request id (the second is refused),
``CAIO_DEAD`` keeps dead-lettered jobs with their reason. All routers share
one durable pull consumer; the first router to create it decides its
settings, and the others use it as it is (see ``_ensure_consumer``).
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, NotFoundError

from caio_integration.errors import CAIOError
from caio_integration.subjects import Subjects

__all__ = ["JobSettings", "ensure_job_streams"]

STREAM_NAME_IN_USE = 10058


@dataclass(frozen=True, slots=True)
class JobSettings:
    enabled: bool = True
    consumer: str = "caio-jobs"  # the one durable all routers share
    max_concurrent: int = 64  # jobs this router runs at once
    max_attempts: int = 4  # deliveries before a retryable failure is dead-lettered
    retry_backoff_s: tuple[float, ...] = (1.0, 5.0, 30.0)  # nak delay after attempt 1, 2, 3+
    # Consumer and stream settings: the first router to create them decides;
    # later routers use what exists (see ensure_job_streams).
    ack_wait_s: float = 30.0  # a crashed router's jobs come back after this
    max_ack_pending: int = 1024  # jobs out at once across every router
    duplicate_window_s: float = 600.0  # a re-submitted request id is dropped within this
    result_max_age_days: float = 7.0
    max_job_bytes: int = 264 * 1024  # the route payload limit plus room for headers
    # Workers heartbeat at least every 5 s: a router that just started does not
    # know who is alive, and would turn jobs into final `no_matching_service`.
    warmup_s: float = 5.0
    fetch_timeout_s: float = 1.0
    store_timeout_s: float = 5.0


async def ensure_job_streams(
    js: JetStreamContext, subjects: Subjects, settings: JobSettings, replicas: int = 1
) -> float:
    """Create CAIO_JOBS, CAIO_RESULTS, CAIO_DEAD and the consumer; the ack wait in force."""
    max_age = settings.result_max_age_days * 86_400
    streams = (
        StreamConfig(
            name=subjects.jobs_stream,
            subjects=[subjects.jobs_all],
            retention=RetentionPolicy.WORK_QUEUE,  # acked jobs leave; the backlog is the stream
            duplicate_window=settings.duplicate_window_s,
            max_msg_size=settings.max_job_bytes,
            storage=StorageType.FILE,
            num_replicas=replicas,
            description="CAIO durable jobs: route requests waiting for a router",
        ),
        StreamConfig(
            name=subjects.results_stream,
            subjects=[subjects.results_all],
            max_msgs_per_subject=1,
            discard=DiscardPolicy.NEW,
            discard_new_per_subject=True,  # the second result for an id is refused
            max_age=max_age,
            allow_direct=True,
            storage=StorageType.FILE,
            num_replicas=replicas,
            description="CAIO job results: one per request id",
        ),
        StreamConfig(
            name=subjects.dead_letter_stream,
            subjects=[subjects.dead_letters_all],
            duplicate_window=settings.duplicate_window_s,
            max_age=max_age,
            storage=StorageType.FILE,
            num_replicas=replicas,
            description="CAIO dead-lettered jobs, with the reason",
        ),
    )
    for config in streams:
        await _ensure_stream(js, config)
    return await _ensure_consumer(js, subjects, settings, replicas)


async def _ensure_stream(js: JetStreamContext, wanted: StreamConfig) -> None:
    try:
        await js.add_stream(wanted)  # identical config: success, so racing routers pass
        return
    except APIError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
    # Not updated in place (routers with other replicas would flip it back and
    # forth); only what the guarantees rest on must match.
    assert wanted.name is not None
    have = (await js.stream_info(wanted.name)).config
    if have.subjects != wanted.subjects or (
        wanted.max_msgs_per_subject == 1
        and not (have.max_msgs_per_subject == 1 and have.discard_new_per_subject)
    ):
        raise CAIOError(f"stream {wanted.name} exists with settings durable jobs cannot use")


async def _ensure_consumer(
    js: JetStreamContext, subjects: Subjects, settings: JobSettings, replicas: int
) -> float:
    """The shared consumer; an existing one is used as it is.

    Checked on the real server: creating a consumer under an existing name with
    other settings silently updates it, so each router would reset the ack wait
    an operator tuned. Create only when it is missing.
    """
    stream = subjects.jobs_stream
    try:
        info = await js.consumer_info(stream, settings.consumer)
    except NotFoundError:
        info = await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=settings.consumer,
                filter_subject=subjects.jobs_all,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=settings.ack_wait_s,
                max_deliver=-1,  # attempts are counted here, see the module docstring
                max_ack_pending=settings.max_ack_pending,
                num_replicas=replicas,
                description="CAIO routers: durable jobs",
            ),
        )
    config = info.config
    if config.ack_policy != AckPolicy.EXPLICIT or config.filter_subject != subjects.jobs_all:
        raise CAIOError(f"consumer {settings.consumer} on {stream} is not an explicit-ack jobs one")
    return float(config.ack_wait or settings.ack_wait_s)
