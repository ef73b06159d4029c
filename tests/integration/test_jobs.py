"""Durable jobs against real routers: stored, run once, retried, dead-lettered, one result."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from typer.testing import CliRunner

from caio.cli.jobs import jobs_app
from caio_broker.jobs import JobSettings
from caio_broker.router import Router
from caio_integration.client import CAIOClient
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, StartRouter, audit_records, contract, request

# Fast settings: no warm-up (tests beat before submitting), quick retries.
FAST = JobSettings(warmup_s=0, max_attempts=3, retry_backoff_s=(0.05,), fetch_timeout_s=0.5)


@pytest.fixture
def start_router(start_router: StartRouter) -> StartRouter:
    """Routers whose job runners start at once and retry fast."""
    return functools.partial(start_router, jobs=FAST)


async def serve(
    nc: NATS, subjects: Subjects, routers: list[Router], service_id: str, key: str | None = None
) -> FakeService:
    """Register (with ``key`` if given) and start a heartbeating fake service."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    msg = await nc.request(
        subjects.registry("register"),
        orjson.dumps({"contract": contract(service_id, ["code_review"])}),
        timeout=10,
        headers=headers,
    )
    assert orjson.loads(msg.data)["status"] == "registered"
    service = await FakeService(nc, subjects, service_id, ["code_review"]).start()
    await service.beat()
    for router in routers:
        assert await router.liveness.wait_available(service_id, timeout_s=5)
    return service


async def publish_job(
    nc: NATS, subjects: Subjects, body: Any, headers: dict[str, str] | None = None
) -> None:
    """A job as a bare JetStream client publishes it."""
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    await nc.jetstream().publish(subjects.job("code_review"), payload, headers=headers)


async def dead_letters(nc: NATS, subjects: Subjects) -> list[dict[str, Any]]:
    js = nc.jetstream()
    info = await js.stream_info(subjects.dead_letter_stream)
    return [
        orjson.loads((await js.get_msg(subjects.dead_letter_stream, seq)).data or b"{}")
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
        if info.state.messages
    ]


async def test_a_job_runs_once_and_its_result_is_stored(
    nc: NATS, nats_url: str, prefix: str, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router()
    service = await serve(nc, subjects, [router], "reviewer")
    async with CAIOClient(nats_url, prefix=prefix) as caio:
        request_id = await caio.submit_job("code_review", {"code": "x"})
        result = await caio.wait_result(request_id, timeout_s=10)
        stored = await caio.get_result(request_id)
        assert await caio.get_result("nothing-here") is None

    assert result == stored
    assert result["status"] == "ok"
    assert result["request_id"] == request_id
    assert result["result"] == {"served_by": "reviewer", "echo": {"code": "x"}}
    assert result["job"]["deliveries"] == 1
    assert not result["job"]["dead_letter"]
    assert [r["request_id"] for r in service.received] == [request_id]
    records = [r for r in await audit_records(nc, subjects) if r["request_id"] == request_id]
    assert [(r["kind"], r["outcome"]) for r in records] == [("route", "ok")]
    jobs = await nc.jetstream().stream_info(subjects.jobs_stream)
    assert jobs.state.messages == 0  # a work queue: the acked job is gone


async def test_a_resubmitted_request_id_is_one_job_with_one_result(
    nc: NATS, nats_url: str, prefix: str, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router()
    service = await serve(nc, subjects, [router], "reviewer")
    async with CAIOClient(nats_url, prefix=prefix) as caio:
        ids = {await caio.submit_job("code_review", {"n": 1}, request_id="job-1") for _ in range(3)}
        first = await caio.wait_result("job-1", timeout_s=10)
        # Past the duplicate window (here: another Nats-Msg-Id) the stored
        # result still stops a second run.
        await publish_job(
            nc, subjects, {"request_id": "job-1", "context": {"n": 2}}, {"Nats-Msg-Id": "other"}
        )
        await caio.submit_job("code_review", {"n": 3}, request_id="job-2")
        await caio.wait_result("job-2", timeout_s=10)
        again = await caio.get_result("job-1")

    assert ids == {"job-1"}
    assert again == first
    assert [r["request_id"] for r in service.received] == ["job-1", "job-2"]
    assert router.jobs is not None and router.jobs.stats.already_done == 1
    results = await nc.jetstream().stream_info(subjects.results_stream)
    assert results.state.messages == 2


async def test_a_retryable_failure_is_retried_then_dead_lettered(
    nc: NATS, nats_url: str, prefix: str, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router()
    service = await serve(nc, subjects, [router], "flaky")
    service.mode = "error"  # answers service_error, retryable
    async with CAIOClient(nats_url, prefix=prefix) as caio:
        request_id = await caio.submit_job("code_review", {}, request_id="doomed")
        result = await caio.wait_result(request_id, timeout_s=10)

    assert result["status"] == "error"
    assert result["error"]["code"] == "service_error", result
    assert result["job"]["dead_letter"], orjson.dumps(result).decode()
    assert result["job"]["deliveries"] == FAST.max_attempts
    assert "still failing after 3 attempts: service_error" in result["job"]["reason"]
    assert len(service.received) >= FAST.max_attempts  # a route may try a service again
    records = [r for r in await audit_records(nc, subjects) if r["request_id"] == "doomed"]
    assert [r["outcome"] for r in records] == ["error"] * FAST.max_attempts  # one per delivery
    [dead] = await dead_letters(nc, subjects)
    assert dead["request_id"] == "doomed"
    assert dead["deliveries"] == FAST.max_attempts
    assert dead["reason"] == result["job"]["reason"]
    assert dead["job"]["context"] == {}


async def test_a_non_retryable_error_is_final_at_once(
    nc: NATS, nats_url: str, prefix: str, subjects: Subjects, start_router: StartRouter
) -> None:
    await start_router()
    async with CAIOClient(nats_url, prefix=prefix) as caio:
        nobody = await caio.submit_job("translation", {})  # no service offers it
        await publish_job(nc, subjects, b"not json", {"Nats-Msg-Id": "broken"})
        no_match = await caio.wait_result(nobody, timeout_s=10)
        broken = await caio.wait_result("broken", timeout_s=10)

    assert no_match["error"]["code"] == "no_matching_service"
    assert broken["error"]["code"] == "invalid_request"
    for result in (no_match, broken):
        assert result["job"]["deliveries"] == 1
        assert not result["job"]["dead_letter"]
    assert await dead_letters(nc, subjects) == []


async def test_a_job_without_a_usable_request_id_is_dead_lettered_and_audited(
    nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    await start_router()
    await publish_job(nc, subjects, {"request_id": "a.b>", "context": {}})
    for _ in range(100):
        if dead := await dead_letters(nc, subjects):
            break
        await asyncio.sleep(0.05)
    assert len(dead) == 1
    assert dead[0]["request_id"] is None
    assert "'a.b>' is not safe" in dead[0]["reason"]
    invalid = [r for r in await audit_records(nc, subjects) if r["kind"] == "invalid"]
    assert len(invalid) == 1
    results = await nc.jetstream().stream_info(subjects.results_stream)
    assert results.state.messages == 0


async def test_a_job_needs_an_api_key_like_a_route_request(
    nc: NATS, nats_url: str, prefix: str, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router(auth=True)
    assert router.keys is not None
    admin, _ = await router.keys.create("root", "admin")
    caller, _ = await router.keys.create("alice", "caller")
    await serve(nc, subjects, [router], "reviewer", key=admin)

    async with CAIOClient(nats_url, prefix=prefix, api_key="") as anonymous:
        denied_id = await anonymous.submit_job("code_review", {})
        denied = await anonymous.wait_result(denied_id, timeout_s=10)
    async with CAIOClient(nats_url, prefix=prefix, api_key=caller) as alice:
        allowed = await alice.wait_result(await alice.submit_job("code_review", {}), 10)

    assert denied["error"]["code"] == "unauthenticated"
    assert not denied["job"]["dead_letter"]
    assert allowed["status"] == "ok"
    records = {r["request_id"]: r for r in await audit_records(nc, subjects)}
    assert records[allowed["request_id"]]["caller"] == "alice"
    # The dead-letter and result streams never hold the caller's key.
    stored = orjson.dumps(allowed).decode()
    assert caller not in stored


async def test_two_routers_finishing_one_job_store_one_result(
    nc: NATS, prefix: str, subjects: Subjects, start_router: StartRouter
) -> None:
    routers = [await start_router(), await start_router()]
    await request(nc, subjects.registry("register"), {"contract": contract("twice")})
    held: list[Msg] = []
    answering: list[asyncio.Task[None]] = []
    both_in = asyncio.Event()

    async def answer(msg: Msg) -> None:
        await both_in.wait()  # both runs are in the service before either answers
        await msg.respond(orjson.dumps({"status": "ok", "result": {"run": held.index(msg)}}))

    async def on_request(msg: Msg) -> None:
        held.append(msg)
        if len(held) == 2:
            both_in.set()
        answering.append(asyncio.create_task(answer(msg)))  # callbacks run one at a time

    await nc.subscribe(subjects.service("twice", "code_review"), queue="twice", cb=on_request)
    await FakeService(nc, subjects, "twice", []).beat()
    for router in routers:
        assert await router.liveness.wait_available("twice", timeout_s=5)

    # The same request id twice, as a re-submission after the duplicate window:
    # neither run finds a result, so both run to the end.
    for msg_id in ("first", "second"):
        await publish_job(
            nc, subjects, {"request_id": "once", "context": {}}, {"Nats-Msg-Id": msg_id}
        )
    await asyncio.wait_for(both_in.wait(), 10)
    js = nc.jetstream()
    for _ in range(100):
        if (await js.stream_info(subjects.jobs_stream)).state.messages == 0:
            break
        await asyncio.sleep(0.05)

    results = await js.stream_info(subjects.results_stream)
    assert (results.state.messages, results.state.last_seq) == (1, 1)
    assert sum(r.jobs.stats.store_refused for r in routers if r.jobs) == 1
    assert sum(r.jobs.stats.done for r in routers if r.jobs) == 2


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(jobs_app, list(args))
    return result.exit_code, result.stdout


async def test_the_cli_submits_gets_and_waits(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router()
    await serve(nc, subjects, [router], "reviewer")
    common = ("--nats-url", nats_url, "--prefix", prefix, "--json")

    code, out = await asyncio.to_thread(
        run_cli, "submit", "code_review", "--context", '{"code": "y"}', "--wait", *common
    )
    waited = orjson.loads(out)
    code_get, out_get = await asyncio.to_thread(run_cli, "get", waited["request_id"], *common)
    code_wait, out_wait = await asyncio.to_thread(
        run_cli, "wait", waited["request_id"], "--timeout", "5", *common
    )
    code_sub, out_sub = await asyncio.to_thread(
        run_cli, "submit", "translation", "--request-id", "cli-2", *common
    )
    code_none, out_none = await asyncio.to_thread(
        run_cli, "wait", "never-submitted", "--timeout", "0.3", *common
    )

    assert code == 0
    assert waited["status"] == "ok"
    assert waited["result"]["echo"] == {"code": "y"}
    assert (code_get, orjson.loads(out_get)) == (0, waited)
    assert (code_wait, orjson.loads(out_wait)) == (0, waited)
    assert (code_sub, orjson.loads(out_sub)) == (0, {"status": "submitted", "request_id": "cli-2"})
    assert code_none == 2
    assert orjson.loads(out_none) == {"status": "pending", "request_id": "never-submitted"}
    code_failed, _ = await asyncio.to_thread(run_cli, "wait", "cli-2", "--timeout", "5", *common)
    assert code_failed == 1  # no service for translation: an error result
