"""End to end: real workers behind a real router, and `caio up --demo` as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_codex.worker import CodexSettings, CodexWorker
from caio_integration.bridge import BridgeWorker, WorkerConfig
from caio_integration.contracts import load_contract_file
from caio_integration.natsserver import NatsServer, NatsServerConfig
from caio_integration.subjects import Subjects
from caio_local_review.worker import LocalReviewWorker
from tests.fakes.openai_server import FakeOpenAIServer
from tests.integration.conftest import ServiceFactory, request

REPO = Path(__file__).parents[2]
CAIO = str(Path(sys.executable).parent / "caio")
BUGGY = "import os\n\n\ndef f():\n    return undefined_name\n"


@pytest.fixture
async def workers(
    nats_url: str, prefix: str, nc: NATS, router: Router
) -> AsyncIterator[list[BridgeWorker]]:
    started: list[BridgeWorker] = []
    yield started
    for worker in started:
        await worker.stop()


async def start(
    workers: list[BridgeWorker], router: Router, worker: BridgeWorker, nc: NATS, subjects: Subjects
) -> None:
    await request(nc, subjects.registry("register"), {"contract": worker.contract.to_document()})
    await worker.start()
    workers.append(worker)
    assert await router.liveness.wait_available(worker.contract.id, timeout_s=5)


def codex(nats_url: str, prefix: str, fake: FakeOpenAIServer, model: str) -> CodexWorker:
    return CodexWorker(
        load_contract_file(REPO / "contracts" / "codex.yaml"),
        WorkerConfig(nats_url=nats_url, prefix=prefix),
        CodexSettings(api_key="sk-test-secret", base_url=fake.base_url, model=model),
    )


async def test_a_code_review_is_answered_by_the_local_reviewer_with_line_numbers(
    nats_url: str,
    prefix: str,
    nc: NATS,
    subjects: Subjects,
    router: Router,
    workers: list[BridgeWorker],
) -> None:
    contract = load_contract_file(REPO / "contracts" / "local-review.yaml")
    await start(
        workers,
        router,
        LocalReviewWorker(contract, WorkerConfig(nats_url=nats_url, prefix=prefix)),
        nc,
        subjects,
    )

    reply = await request(
        nc,
        subjects.route("code_review"),
        {
            "context": {"code": BUGGY, "language": "python"},
            "constraints": {"data_locality": ["on_prem"]},
        },
    )

    assert reply["status"] == "ok"
    assert reply["service_id"] == "local-review"
    findings = {(f["code"], f["line"]) for f in reply["result"]["findings"]}
    assert ("F401", 1) in findings
    assert ("F821", 5) in findings


async def test_code_generation_goes_through_the_codex_worker_and_the_openai_sdk(
    nats_url: str,
    prefix: str,
    nc: NATS,
    subjects: Subjects,
    router: Router,
    workers: list[BridgeWorker],
) -> None:
    with FakeOpenAIServer() as fake:
        await start(workers, router, codex(nats_url, prefix, fake, "fake-ok"), nc, subjects)

        reply = await request(
            nc,
            subjects.route("code_generation"),
            {"context": {"prompt": "add two numbers", "language": "python"}},
        )

    assert reply["status"] == "ok"
    assert reply["service_id"] == "codex-bridge-001"
    assert reply["result"]["code"]
    assert reply["usage"]
    assert sum(fake.requests.values()) == 1


async def test_a_codex_worker_with_a_rejected_key_falls_back_to_the_local_reviewer(
    nats_url: str,
    prefix: str,
    nc: NATS,
    subjects: Subjects,
    router: Router,
    workers: list[BridgeWorker],
) -> None:
    local = load_contract_file(REPO / "contracts" / "local-review.yaml")
    with FakeOpenAIServer() as fake:
        await start(workers, router, codex(nats_url, prefix, fake, "fake-401"), nc, subjects)
        await start(
            workers,
            router,
            LocalReviewWorker(local, WorkerConfig(nats_url=nats_url, prefix=prefix)),
            nc,
            subjects,
        )

        reply = await request(nc, subjects.route("code_review"), {"context": {"code": BUGGY}})

    assert reply["status"] == "ok"
    assert reply["service_id"] == "local-review"
    first, second = reply["attempts"]
    assert first["service_id"] == "codex-bridge-001"
    assert first["error"]["code"] == "service_unavailable"
    assert "sk-test-secret" not in json.dumps(reply)
    assert (second["service_id"], second["status"]) == ("local-review", "ok")


async def test_a_worker_process_killed_with_sigkill_is_replaced_by_the_next_service(
    nats_url: str,
    prefix: str,
    nc: NATS,
    subjects: Subjects,
    router: Router,
    live_service: ServiceFactory,
) -> None:
    worker = await asyncio.create_subprocess_exec(
        CAIO,
        "worker",
        "local-review",
        "--nats-url",
        nats_url,
        "--prefix",
        prefix,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert await router.liveness.wait_available("local-review", timeout_s=20)
        await live_service("backup", accuracy=0.1, p95_ms=None, token_cost=None)
        # local-review is deterministic, so its answers are cached: this test is about
        # failing over, so both ask the services themselves.
        ask = {"context": {"code": BUGGY}, "cache": False}
        before = await request(nc, subjects.route("code_review"), ask)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()

        after = await request(nc, subjects.route("code_review"), ask)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    assert before["service_id"] == "local-review"
    assert after["service_id"] == "backup"
    assert [(a["service_id"], a["status"]) for a in after["attempts"]] == [
        ("local-review", "no_responders"),
        ("backup", "ok"),
    ]


async def test_caio_up_with_the_demo_routes_real_work_and_audits_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["COLUMNS"] = "200"
    up = await asyncio.create_subprocess_exec(
        CAIO,
        "up",
        "--demo",
        "--port",
        "-1",
        "--data-dir",
        str(tmp_path / ".caio"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    assert up.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(90):
            while not any("CAIO is running" in line for line in lines):
                line = (await up.stdout.readline()).decode()
                assert line, "caio up exited early:\n" + "".join(lines)
                lines.append(line)
        up.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(up.communicate(), 30)
    finally:
        if up.returncode is None:
            up.kill()
            await up.wait()
    output = "".join(lines) + rest.decode()

    assert up.returncode == 0, output
    assert "registered codex-bridge-001" in output
    assert "registered local-review" in output
    assert "routed to local-review" in output
    assert "F401" in output
    assert "demo complete" in output
    assert "CAIO stopped" in output

    # Everything it decided is still in the audit stream after it stopped.
    with NatsServer(NatsServerConfig(store_dir=tmp_path / ".caio" / "jetstream")) as server:
        replay = await asyncio.create_subprocess_exec(
            CAIO,
            "audit",
            "replay",
            "--json",
            "--nats-url",
            server.url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await replay.communicate()
    assert replay.returncode == 0, err.decode()
    records = [
        json.loads(chunk)
        for chunk in out.decode().replace("}\n{", "}\x00{").split("\x00")
        if chunk.strip()
    ]
    routes = [r for r in records if r["kind"] == "route"]
    assert [r.get("dry_run", False) for r in routes] == [False, True]
    assert all(r["decision"]["candidates"] for r in routes)
    assert routes[0]["service_id"] == "local-review"
    assert {r["service_id"] for r in records if r["kind"] == "registry"} >= {
        "codex-bridge-001",
        "local-review",
    }
