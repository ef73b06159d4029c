"""The bus layer holds: deploy/nats/secure refuses what each NATS user may not do.

Every test starts a real nats-server from the deployment's own config
(deploy/nats/secure/nats-server.conf with its users.conf, which
caio/buspermissions.py generates), with passwords given through the
environment as in production. That everything CAIO really uses IS granted is
shown by the integration suite on the same config (`--bus=secure`). A refusal is proven twice:
the server reports a permissions violation (nats-py hands it to
``error_cb``), and nothing arrives where it would have gone. "Nothing
arrived" is made exact, not waited for: the refused client next publishes an
allowed marker, and an observer subscribed to ``>`` must see the marker
first, since the server keeps one connection's messages in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import StreamConfig

from caio_broker.jobstreams import JobSettings
from caio_broker.router import AuthSettings, Router, RouterConfig
from caio_integration._json import dumps, loads
from caio_integration.bridge import WorkerConfig
from caio_integration.jobs import get_result, job_body, submit_job, wait_result
from caio_integration.natsauth import NatsCredentials
from caio_integration.natsserver import NatsServer
from caio_integration.subjects import Subjects
from tests.fakes.scripted_worker import ScriptedWorker, scripted_contract

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "secure" / "nats-server.conf"
# user -> (the server's password variable in users.conf, its inbox prefix)
USERS: dict[str, tuple[str, str | None]] = {
    "caio-router": ("CAIO_ROUTER_NATS_PASSWORD", None),
    "caio-admin": ("CAIO_ADMIN_NATS_PASSWORD", None),
    "caller-alice": ("CAIO_ALICE_NATS_PASSWORD", "_INBOX_alice"),
    "publisher-acme": ("CAIO_ACME_NATS_PASSWORD", "_INBOX_acme"),
    "worker-local-review": ("CAIO_LOCAL_REVIEW_NATS_PASSWORD", None),
    "worker-codex": ("CAIO_CODEX_NATS_PASSWORD", None),
    "caio-mqtt-ingress": ("CAIO_MQTT_INGRESS_NATS_PASSWORD", "_INBOX_mqtt_ingress"),
}
WAIT_S = 5.0  # upper bound for anything the server answers at once


def password(user: str) -> str:
    return f"test-{user}-pw"


def credentials(user: str) -> dict[str, Any]:
    """What ``CAIO_NATS_USER``/``_PASSWORD``/``_INBOX_PREFIX`` give this user."""
    inbox = USERS[user][1]
    return NatsCredentials(user=user, password=password(user), inbox_prefix=inbox).connect_options()


@pytest.fixture
def secure_server(
    nats_server_factory: Callable[..., NatsServer], monkeypatch: pytest.MonkeyPatch
) -> NatsServer:
    for user, (variable, _) in USERS.items():
        monkeypatch.setenv(variable, password(user))  # the server process inherits these
    return nats_server_factory(config_file=CONFIG)


@dataclass
class Client:
    nc: NATS
    errors: asyncio.Queue[Exception] = field(default_factory=asyncio.Queue)

    async def violation(self, subject: str) -> str:
        """The next permissions violation reported for a subject starting with ``subject``.

        nats-py lower-cases the server's error text, subject included.
        """
        async with asyncio.timeout(WAIT_S):
            while True:
                text = str(await self.errors.get()).lower()
                if "permissions violation" in text and f'"{subject.lower()}' in text:
                    return text


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(secure_server: NatsServer) -> AsyncIterator[Connect]:
    opened: list[NATS] = []

    async def open_as(user: str, **overrides: Any) -> Client:
        client = Client(nc=NATS())

        async def on_error(exc: Exception) -> None:
            client.errors.put_nowait(exc)

        options = {**credentials(user), "error_cb": on_error, "allow_reconnect": False}
        await client.nc.connect(secure_server.url, **{**options, **overrides})
        opened.append(client.nc)
        return client

    yield open_as
    for nc in opened:
        await nc.close()


async def settled(nc: NATS) -> None:
    await nc.flush()
    await nc.flush()  # see caio_integration._natsconn.subscriptions_settled


# -- who may connect ---------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"user": "caio-router", "password": "wrong"}, {"user": "nobody", "password": "x"}],
    ids=["no credentials", "wrong password", "unknown user"],
)
async def test_a_client_without_valid_credentials_is_refused(
    secure_server: NatsServer, options: dict[str, str]
) -> None:
    async def quiet(_: Exception) -> None: ...

    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            secure_server.url, allow_reconnect=False, max_reconnect_attempts=0,
            error_cb=quiet, **options,
        )  # fmt: skip


# -- publishing: only where the role says --------------------------------------


@pytest.mark.parametrize(
    ("user", "forbidden", "marker"),
    [
        ("caller-alice", "caio.svc.local-review.review", "caio.registry.list"),
        ("caller-alice", "caio.audit.route.local-review", "caio.registry.list"),
        ("caller-alice", "caio.registry.register", "caio.registry.list"),
        ("caller-alice", "caio.registry.deregister", "caio.registry.list"),
        ("caller-alice", "caio.heartbeat.local-review", "caio.registry.list"),
        ("caller-alice", "$JS.API.STREAM.DELETE.CAIO_AUDIT", "caio.registry.list"),
        ("caller-alice", "$KV.CAIO_REGISTRY.local-review", "caio.registry.list"),
        ("caller-alice", "$SRV.PING", "caio.registry.list"),
        ("caller-alice", "caio_integration.wire.pr-1", "caio.registry.list"),
        ("caller-alice", "caio.jobs.dead.code_review", "caio.registry.list"),
        ("caller-alice", "caio.conc.1.local-review", "caio.registry.list"),
        ("caller-alice", "caio.rl.60s.5.caller.bob", "caio.registry.list"),
        ("caller-alice", "caio.keys.create", "caio.registry.list"),
        ("caller-alice", "$JS.API.DIRECT.GET.CAIO_RESULTS", "caio.registry.list"),
        ("caller-alice", "$JS.API.CONSUMER.CREATE.CAIO_RESULTS", "caio.registry.list"),
        ("caller-alice", "$JS.API.STREAM.INFO.CAIO_AUDIT", "caio.registry.list"),
        ("caller-alice", "$JS.API.CONSUMER.CREATE.CAIO_AUDIT", "caio.registry.list"),
        ("publisher-acme", "$KV.CAIO_KEYS.id.x", "caio.registry.register"),
        ("publisher-acme", "caio.svc.local-review.review", "caio.registry.register"),
        ("publisher-acme", "caio.audit.registry.local-review", "caio.registry.register"),
        ("worker-local-review", "caio.heartbeat.codex", "caio.heartbeat.local-review"),
        ("worker-local-review", "caio.svc.codex.review", "caio.heartbeat.local-review"),
        ("worker-local-review", "caio.registry.register", "caio.heartbeat.local-review"),
        ("worker-local-review", "caio.route.review", "caio.heartbeat.local-review"),
        ("worker-local-review", "caio_integration.wire.pr-1", "caio.heartbeat.local-review"),
        ("caio-router", "$JS.API.STREAM.DELETE.CAIO_AUDIT", "caio.rl.60s.5.k"),
        ("caio-router", "$JS.API.STREAM.PURGE.CAIO_AUDIT", "caio.rl.60s.5.k"),
    ],
)
async def test_a_publish_outside_the_users_role_is_refused_and_reaches_nobody(
    connect: Connect, user: str, forbidden: str, marker: str
) -> None:
    observer = await connect("caio-admin")
    seen = await observer.nc.subscribe(">")
    await settled(observer.nc)
    client = await connect(user)

    await client.nc.publish(forbidden, b'{"forged": true}')
    await client.nc.publish(marker, b"{}")
    await client.nc.flush()

    assert "publish" in await client.violation(forbidden)
    first = await seen.next_msg(timeout=WAIT_S)
    assert first.subject == marker, f"{forbidden} reached a subscriber"


# -- subscribing: nobody takes what is not theirs -----------------------------


async def test_a_worker_cannot_subscribe_to_another_services_requests(connect: Connect) -> None:
    worker = await connect("worker-local-review")
    router = await connect("caio-router")
    for queue in ("codex", "local-review"):
        await worker.nc.subscribe("caio.svc.codex.code_generation", queue=queue)
        assert "subscription" in await worker.violation("caio.svc.codex.code_generation")
    await worker.nc.subscribe("caio.svc.>", queue="local-review")
    await worker.violation("caio.svc.>")

    with pytest.raises(nats.errors.NoRespondersError):
        await router.nc.request("caio.svc.codex.code_generation", b"{}", timeout=WAIT_S)


async def test_a_worker_takes_its_own_requests_only_in_its_queue_group(connect: Connect) -> None:
    worker = await connect("worker-local-review")
    router = await connect("caio-router")
    await worker.nc.subscribe("caio.svc.local-review.review")  # a plain subscription: a copy
    await worker.violation("caio.svc.local-review.review")
    with pytest.raises(nats.errors.NoRespondersError):
        await router.nc.request("caio.svc.local-review.review", b"{}", timeout=WAIT_S)

    async def answer(msg: Msg) -> None:
        await msg.respond(b'{"status": "ok"}')

    await worker.nc.subscribe("caio.svc.local-review.review", queue="local-review", cb=answer)
    await settled(worker.nc)
    reply = await router.nc.request("caio.svc.local-review.review", b"{}", timeout=WAIT_S)
    assert loads(reply.data) == {"status": "ok"}


async def test_the_mqtt_ingress_takes_device_requests_only_in_its_queue_group_and_routes_them(
    connect: Connect,
) -> None:
    ingress = await connect("caio-mqtt-ingress")
    await ingress.nc.subscribe("caio.mqtt.route.code_review")  # a plain copy: refused
    await ingress.violation("caio.mqtt.route.code_review")
    await ingress.nc.publish("caio.audit.route.x", b"{}")  # not its to write
    await ingress.violation("caio.audit.route.x")

    router = await connect("caio-router")

    async def answer(msg: Msg) -> None:
        await msg.respond(b'{"status": "ok"}')

    await router.nc.subscribe("caio.route.*", queue="caio-router", cb=answer)
    taken = asyncio.Queue[Msg]()

    async def take(msg: Msg) -> None:
        taken.put_nowait(msg)

    await ingress.nc.subscribe("caio.mqtt.route.*", queue="caio-mqtt-ingress", cb=take)
    await settled(router.nc)
    await settled(ingress.nc)
    admin = await connect("caio-admin")  # plays the MQTT device's publish
    await admin.nc.publish("caio.mqtt.route.code_review", b"{}")

    await asyncio.wait_for(taken.get(), WAIT_S)
    reply = await ingress.nc.request("caio.route.code_review", b"{}", timeout=WAIT_S)
    assert loads(reply.data) == {"status": "ok"}
    await ingress.nc.publish("caio.mqtt.reply.device-1.r1", reply.data)
    await ingress.nc.flush()
    assert ingress.errors.empty()


async def test_a_caller_cannot_take_route_requests(connect: Connect) -> None:
    alice = await connect("caller-alice")
    acme = await connect("publisher-acme")
    await alice.nc.subscribe("caio.route.*", queue="caio-router")
    await alice.violation("caio.route.*")
    await alice.nc.subscribe("caio.route.code_generation")
    await alice.violation("caio.route.code_generation")

    with pytest.raises(nats.errors.NoRespondersError):
        await acme.nc.request("caio.route.code_generation", b"{}", timeout=WAIT_S)


@pytest.mark.parametrize("inbox", ["_INBOX_acme.>", "_INBOX.>", ">"])
async def test_a_caller_cannot_read_another_users_replies(connect: Connect, inbox: str) -> None:
    alice = await connect("caller-alice")
    stolen = await alice.nc.subscribe(inbox)
    await alice.violation(inbox)
    router = await connect("caio-router")

    async def answer(msg: Msg) -> None:
        await msg.respond(b'{"status": "ok", "for": "acme"}')

    await router.nc.subscribe("caio.route.*", queue="caio-router", cb=answer)
    await settled(router.nc)
    acme = await connect("publisher-acme")
    reply = await acme.nc.request("caio.route.x", b"{}", timeout=WAIT_S)
    assert reply.subject.startswith("_INBOX_acme.")

    # Anything the server had queued for alice before acme's reply precedes this PONG.
    await alice.nc.flush()
    assert stolen.pending_msgs == 0


# -- what each role can do ------------------------------------------------------


async def test_a_caller_can_request_a_route_and_gets_the_routers_reply(connect: Connect) -> None:
    router = await connect("caio-router")

    async def answer(msg: Msg) -> None:
        await msg.respond(dumps({"status": "ok", "asked": msg.subject}))

    await router.nc.subscribe("caio.route.*", queue="caio-router", cb=answer)
    await settled(router.nc)
    alice = await connect("caller-alice")

    reply = await alice.nc.request("caio.route.x", b"{}", timeout=WAIT_S)
    assert loads(reply.data) == {"status": "ok", "asked": "caio.route.x"}
    assert alice.errors.empty()


async def test_a_caller_with_the_default_inbox_prefix_gets_no_replies(connect: Connect) -> None:
    alice = await connect("caller-alice", inbox_prefix="_INBOX")
    with pytest.raises(nats.errors.TimeoutError):
        await alice.nc.request("caio.registry.list", b"{}", timeout=0.5)
    assert "subscription" in await alice.violation("_INBOX.")


async def test_a_caller_cannot_make_the_router_write_into_the_registry_bucket(
    secure_server: NatsServer, connect: Connect
) -> None:
    router = Router(
        RouterConfig(
            nats_url=secure_server.url,
            connect_options=credentials("caio-router"),
            auth=AuthSettings(required=False),
        )
    )
    await router.start()
    try:
        admin = await connect("caio-admin")
        written = await admin.nc.subscribe("$KV.CAIO_REGISTRY.>")
        await settled(admin.nc)
        alice = await connect("caller-alice")
        await alice.nc.publish("caio.registry.list", b"{}", reply="$KV.CAIO_REGISTRY.evil")
        # A non-event from another process can only be awaited for a bounded time.
        try:
            forged = await written.next_msg(timeout=1.0)
        except nats.errors.TimeoutError:
            return
        pytest.fail(f"the router wrote {forged.subject}: {forged.data!r}")
    finally:
        await router.stop()


async def test_the_real_router_worker_and_callers_work_under_these_permissions(
    secure_server: NatsServer, connect: Connect
) -> None:
    # API keys (the application layer) are off: this test is about the bus layer.
    router = Router(
        RouterConfig(
            nats_url=secure_server.url,
            connect_options=credentials("caio-router"),
            auth=AuthSettings(required=False),
        )
    )
    await router.start()  # creates CAIO_AUDIT and the CAIO_REGISTRY bucket, watches it
    worker = ScriptedWorker(
        scripted_contract("local-review"),
        WorkerConfig(
            nats_url=secure_server.url, connect_options=credentials("worker-local-review")
        ),
    )
    try:
        await worker.start()  # nats.micro: endpoints in queue group local-review, $SRV.*
        assert await router.liveness.wait_available("local-review", WAIT_S)

        acme = await connect("publisher-acme")
        document = {"contract": worker.contract.to_document()}
        registered = await acme.nc.request("caio.registry.register", dumps(document), WAIT_S)
        assert loads(registered.data)["status"] == "registered", registered.data

        alice = await connect("caller-alice")
        listed = loads((await alice.nc.request("caio.registry.list", b"{}", WAIT_S)).data)
        assert [s["service_id"] for s in listed["services"]] == ["local-review"]
        with pytest.raises(nats.errors.TimeoutError):
            await alice.nc.request("caio.registry.deregister", b"{}", timeout=0.5)
        await alice.violation("caio.registry.deregister")

        body = dumps({"context": {"n": 1}})
        routed = loads((await alice.nc.request("caio.route.echo", body, WAIT_S)).data)
        assert routed["status"] == "ok", routed
        assert routed["service_id"] == "local-review"
        assert routed["result"]["context"] == {"n": 1}

        admin = await connect("caio-admin")
        for subject in ("$SRV.PING", "$SRV.PING.local-review", "$SRV.INFO.local-review"):
            pong = loads((await admin.nc.request(subject, b"", WAIT_S)).data)
            assert pong["name"] == "local-review"
    finally:
        await worker.stop()
        await router.stop()


@pytest.fixture
async def deployment(secure_server: NatsServer, connect: Connect) -> AsyncIterator[Router]:
    """The real router and a real local-review worker, each as its own user; the worker's
    contract, registered by the publisher, limits it (concurrency and rate) and so makes
    every route take a lease and count a rate-limit hit."""
    router = Router(
        RouterConfig(
            nats_url=secure_server.url,
            connect_options=credentials("caio-router"),
            auth=AuthSettings(required=False),  # the bus layer alone is under test here
            jobs=JobSettings(warmup_s=0.0),
        )
    )
    await router.start()
    worker = ScriptedWorker(
        scripted_contract("local-review"),
        WorkerConfig(
            nats_url=secure_server.url, connect_options=credentials("worker-local-review")
        ),
    )
    try:
        await worker.start()
        assert await router.liveness.wait_available("local-review", WAIT_S)
        document = worker.contract.to_document()
        document["service"]["constraints"] = {
            "max_concurrent_requests": 2,
            "rate_limit": {"per_minute": 1000},
        }
        acme = await connect("publisher-acme")
        registered = await acme.nc.request(
            "caio.registry.register", dumps({"contract": document}), WAIT_S
        )
        assert loads(registered.data)["status"] == "registered", registered.data
        yield router
    finally:
        await worker.stop()
        await router.stop()


def violations(server: NatsServer) -> list[str]:
    return [line for line in server.log_tail(200).splitlines() if "Violation" in line]


async def test_a_limited_service_is_routed_to_under_these_permissions(
    secure_server: NatsServer, deployment: Router, connect: Connect
) -> None:
    alice = await connect("caller-alice")
    routed = loads((await alice.nc.request("caio.route.echo", b'{"context": {}}', WAIT_S)).data)
    assert routed["status"] == "ok", routed
    assert violations(secure_server) == []


async def test_a_caller_submits_a_job_and_reads_its_result_leaving_nothing_behind(
    secure_server: NatsServer, deployment: Router, connect: Connect
) -> None:
    alice = await connect("caller-alice")
    subjects = Subjects("caio")
    body = job_body({"n": 7}, "pr-4711")

    request_id, duplicate = await submit_job(alice.nc, subjects, None, "echo", body)
    result = await wait_result(alice.nc, subjects, request_id, timeout_s=WAIT_S)

    assert (request_id, duplicate) == ("pr-4711", False)
    assert result["status"] == "ok", result
    assert result["result"]["context"] == {"n": 7}
    assert await get_result(alice.nc, subjects, "pr-4711") == result
    assert await get_result(alice.nc, subjects, "pr-4712") is None
    admin = (await connect("caio-admin")).nc.jetstream()
    assert (await admin.stream_info(subjects.results_stream)).state.consumer_count == 0
    assert violations(secure_server) == []


async def test_a_caller_cannot_watch_results_or_replay_the_audit(connect: Connect) -> None:
    alice = await connect("caller-alice")
    for subject in ("caio_integration.wire.*", "caio_integration.wire.pr-4711", "caio.audit.>"):
        await alice.nc.subscribe(subject)
        assert "subscription" in await alice.violation(subject)


async def test_known_limit_a_wildcard_in_the_result_id_reads_the_newest_result(
    connect: Connect,
) -> None:
    """docs/security.md, "Reading job results": NATS permissions cannot tell a literal
    ``*`` token from a request id, so the results grant also reads the NEWEST result of
    anyone. If this ever fails (the server refuses wildcards here), update the docs."""
    admin = await connect("caio-admin")
    subjects = Subjects("caio")
    await admin.nc.jetstream().add_stream(
        StreamConfig(
            name=subjects.results_stream, subjects=[subjects.results_all], allow_direct=True
        )
    )
    await admin.nc.jetstream().publish(subjects.result("someone-elses"), b'{"secret": 1}')
    alice = await connect("caller-alice")

    newest = await alice.nc.request(
        f"$JS.API.DIRECT.GET.{subjects.results_stream}.{subjects.results_all}", b"", WAIT_S
    )

    assert loads(newest.data) == {"secret": 1}
