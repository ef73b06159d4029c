"""The example workers in examples/ are routed to by a real, authenticated CAIO router.

Each example (JavaScript, Go) is written from docs/protocol.md alone and runs
as its own process, configured only by environment variables. The test gives
it a publisher key, waits for the router to hear its heartbeat, routes a
request to it with bare nats-py as any caller would, checks the audit trail,
and stops it with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.integration.conftest import audit_records
from tests.security.conftest import MakeKey, ask

CAPABILITY = "text_echo"
EXAMPLES = {"javascript": "js_worker_argv", "go": "go_worker_argv"}


@contextlib.asynccontextmanager
async def worker_process(
    argv: list[str], nats_url: str, prefix: str, service_id: str, key: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The example as a user would start it: its config in the environment only."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CAIO_")}
    env.update(
        CAIO_NATS_URL=nats_url, CAIO_PREFIX=prefix, CAIO_SERVICE_ID=service_id, CAIO_API_KEY=key
    )
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def output_of(process: asyncio.subprocess.Process) -> str:
    """Everything the worker printed (it is killed first if still running)."""
    if process.returncode is None:
        process.kill()
    assert process.stdout is not None
    return (await process.stdout.read()).decode(errors="replace")


async def wait_live(router: Router, process: asyncio.subprocess.Process, service_id: str) -> None:
    if not await router.liveness.wait_available(service_id, timeout_s=15):
        pytest.fail(
            f"the router never saw {service_id} live; it printed:\n{await output_of(process)}"
        )


async def next_beat(sub: Any) -> dict[str, Any]:
    beat = orjson.loads((await sub.next_msg(timeout=15)).data)
    assert isinstance(beat, dict)
    return beat


@pytest.mark.parametrize("language", sorted(EXAMPLES))
async def test_an_example_worker_serves_routed_requests_and_stops_cleanly_on_sigterm(
    language: str,
    request: pytest.FixtureRequest,
    nats_url: str,
    prefix: str,
    subjects: Subjects,
    nc: NATS,
    secure_router: Router,
    make_key: MakeKey,
) -> None:
    argv: list[str] = request.getfixturevalue(EXAMPLES[language])
    service_id = f"{language[:2]}-{prefix}"  # micro names ($SRV.*.<name>) span prefixes
    worker_key = await make_key(f"{language}-worker", "publisher", services=[service_id])
    app_key = await make_key("app", "caller")
    beats = await nc.subscribe(subjects.heartbeat(service_id))
    await nc.flush()

    async with worker_process(argv, nats_url, prefix, service_id, worker_key) as worker:
        await wait_live(secure_router, worker, service_id)
        first_beat = await next_beat(beats)
        text = "hello from nats-py"
        ok = await ask(nc, subjects.route(CAPABILITY), {"context": {"text": text}}, app_key)
        bad = await ask(nc, subjects.route(CAPABILITY), {"context": {"text": 42}}, app_key)

        worker.send_signal(signal.SIGTERM)
        last_beat = first_beat
        while not last_beat.get("stopping"):
            last_beat = await next_beat(beats)
        await asyncio.wait_for(worker.wait(), 15)
        printed = await output_of(worker)

    assert worker.returncode == 0, printed
    assert first_beat["service_id"] == service_id
    assert first_beat["instance_id"].startswith(f"{service_id}-")
    assert dt.datetime.fromisoformat(first_beat["ts"]).tzinfo is not None  # RFC 3339, zoned
    assert last_beat["instance_id"] == first_beat["instance_id"]

    assert ok["status"] == "ok", ok
    assert (ok["service_id"], ok["capability"]) == (service_id, CAPABILITY)
    expected = {"text": text, "served_by": service_id, "instance_id": first_beat["instance_id"]}
    assert ok["result"] == expected
    assert ok["usage"] == {"chars": len(text)}
    assert bad["status"] == "error"
    assert bad["error"]["code"] == "invalid_request"

    records = await audit_records(nc, subjects)
    registered = [r for r in records if r["kind"] == "registry" and r["service_id"] == service_id]
    assert [(r["caller"], r["outcome"]) for r in registered] == [(f"{language}-worker", "ok")]
    routed = [r for r in records if r["request_id"] == ok["request_id"]]
    assert [(r["kind"], r["outcome"], r["caller"], r["service_id"]) for r in routed] == [
        ("route", "ok", "app", service_id)
    ]


async def test_the_javascript_worker_is_a_nats_micro_service(
    js_worker_argv: list[str],
    nats_url: str,
    prefix: str,
    subjects: Subjects,
    nc: NATS,
    secure_router: Router,
    make_key: MakeKey,
) -> None:
    service_id = f"js-{prefix}"
    key = await make_key("js-worker", "publisher", services=[service_id])

    async with worker_process(js_worker_argv, nats_url, prefix, service_id, key) as worker:
        await wait_live(secure_router, worker, service_id)
        info = orjson.loads((await nc.request(f"$SRV.INFO.{service_id}", b"", timeout=5)).data)
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 15)

    assert info["name"] == service_id
    assert info["metadata"]["service_id"] == service_id
    assert [(e["name"], e["subject"], e["queue_group"]) for e in info["endpoints"]] == [
        (CAPABILITY, subjects.service(service_id, CAPABILITY), service_id)
    ]
    assert worker.returncode == 0
