"""The SDK, the CLI and audit replay against a real router."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.audit import ReplayFilter, replay_audit
from caio_integration.client import CAIOClient, SyncCAIOClient
from caio_integration.errors import Conflict, InvalidContract, NoMatchingService, NotFound
from caio_integration.subjects import Subjects
from tests.integration.conftest import ServiceFactory, contract, request

REPO = Path(__file__).parents[2]
CAIO = str(Path(sys.executable).parent / "caio")


async def test_the_sdk_covers_the_registry_and_routing(
    nats_url: str, prefix: str, live_service: ServiceFactory
) -> None:
    await live_service("reviewer")
    async with CAIOClient(nats_url, prefix=prefix) as caio:
        registration = await caio.register_service(REPO / "contracts" / "codex.yaml")
        info = await caio.get_service("codex-bridge-001")
        listed = await caio.list_services("code_review")
        discovered = await caio.discover_services(["code_review"])
        valid = await caio.validate_contract(contract("fine"))
        answer = await caio.route_request("code_review", {"code": "x"}, timeout_ms=5000)
        decision = await caio.route_request("code_review", {}, dry_run=True)
        await caio.deregister_service("codex-bridge-001")

    assert registration.service_id == "codex-bridge-001"
    assert info.contract["service"]["id"] == "codex-bridge-001"
    assert {s.service_id for s in listed} == {"reviewer", "codex-bridge-001"}
    assert [s.service_id for s in discovered.services] == ["reviewer"]
    assert "codex-bridge-001" in discovered.excluded
    assert valid.is_valid
    assert answer.service_id == "reviewer"
    assert answer.result == {"served_by": "reviewer", "echo": {"code": "x"}}
    assert decision.dry_run
    assert decision.candidates[0].service_id == "reviewer"


async def test_the_sdk_raises_the_error_class_of_each_code(
    nats_url: str, prefix: str, router: Router
) -> None:
    async with CAIOClient(nats_url, prefix=prefix) as caio:
        await caio.register_service(contract("taken", accuracy=0.5))
        with pytest.raises(Conflict):
            await caio.register_service(contract("taken", accuracy=0.6))
        with pytest.raises(InvalidContract) as invalid:
            await caio.register_service({"service": {"id": "Bad Id"}})
        with pytest.raises(NotFound):
            await caio.get_service("nobody")
        with pytest.raises(NoMatchingService):
            await caio.route_request("translation", {})

    assert invalid.value.details["errors"]


async def test_the_sync_client_makes_the_same_calls(
    nats_url: str, prefix: str, router: Router
) -> None:
    def use_it() -> list[str]:
        with SyncCAIOClient(nats_url, prefix=prefix) as caio:
            caio.register_service(contract("sync-one"))
            return [s.service_id for s in caio.list_services()]

    assert await asyncio.to_thread(use_it) == ["sync-one"]


async def caio_cli(nats_url: str, prefix: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        CAIO,
        *args,
        "--nats-url",
        nats_url,
        "--prefix",
        prefix,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_registers_lists_routes_and_replays(
    nats_url: str, prefix: str, live_service: ServiceFactory, tmp_path: Path
) -> None:
    await live_service("reviewer")
    broken = tmp_path / "broken.yaml"
    broken.write_text("service:\n  id: Not.Safe\n")

    registered = await caio_cli(
        nats_url, prefix, "register", str(REPO / "contracts" / "codex.yaml"), "--json"
    )
    rejected = await caio_cli(nats_url, prefix, "register", str(broken))
    services = await caio_cli(nats_url, prefix, "services", "--json")
    routed = await caio_cli(
        nats_url, prefix, "route", "code_review", "--context", '{"code": "x"}', "--json"
    )
    dry = await caio_cli(nats_url, prefix, "route", "code_review", "--dry-run")
    audit = await caio_cli(nats_url, prefix, "audit", "replay", "--json", "--kind", "route")

    assert registered[0] == 0
    assert json.loads(registered[1])[0]["service_id"] == "codex-bridge-001"
    assert rejected[0] == 1
    assert "$.service.id" in rejected[1] or "id" in rejected[1]
    assert {s["service_id"] for s in json.loads(services[1])} == {"reviewer", "codex-bridge-001"}
    assert routed[0] == 0
    assert json.loads(routed[1])["result"]["served_by"] == "reviewer"
    assert dry[0] == 0
    assert "reviewer" in dry[1]
    assert audit[0] == 0
    assert '"outcome": "ok"' in audit[1]


async def test_the_cli_explains_an_unreachable_server(prefix: str) -> None:
    code, _, err = await caio_cli("nats://127.0.0.1:1", prefix, "services")

    assert code == 1
    assert "cannot reach NATS" in err or "NATS" in err


def test_validate_needs_no_server_and_names_the_path(tmp_path: Path) -> None:
    import subprocess

    bad = tmp_path / "bad.yaml"
    bad.write_text("service_id: ok\nname: n\nversion: '1'\ncapabilities: ['BAD']\n")
    good = subprocess.run(
        [CAIO, "validate", str(REPO / "contracts" / "codex.yaml")], capture_output=True, text=True
    )
    wrong = subprocess.run([CAIO, "validate", str(bad)], capture_output=True, text=True)

    assert good.returncode == 0
    assert "codex-bridge-001" in good.stdout
    assert wrong.returncode == 1
    assert "capabilities" in wrong.stdout


async def test_audit_replay_filters_by_kind_service_outcome_and_time(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("svc")
    await request(nc, subjects.route("code_review"), {"request_id": "hit", "context": {}})
    await request(nc, subjects.route("translation"), {"request_id": "miss", "context": {}})

    async def collect(wanted: ReplayFilter) -> list[str]:
        return [r["request_id"] async for r in replay_audit(nc, subjects, wanted)]

    routes = await collect(ReplayFilter(kind="route"))
    of_svc = await collect(ReplayFilter(kind="route", service_id="svc"))
    misses = await collect(ReplayFilter(outcome="no_match"))
    future = await collect(ReplayFilter(since=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))

    assert routes == ["hit", "miss"]
    assert of_svc == ["hit"]
    assert misses == ["miss"]
    assert future == []


async def test_audit_replay_follows_new_records(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("svc")
    seen: list[str] = []

    async def follow() -> None:
        async for record in replay_audit(nc, subjects, ReplayFilter(kind="route", follow=True)):
            seen.append(record["request_id"])
            if len(seen) == 2:
                return

    follower = asyncio.create_task(follow())
    for rid in ("one", "two"):
        await request(nc, subjects.route("code_review"), {"request_id": rid, "context": {}})
    await asyncio.wait_for(follower, timeout=10)

    assert seen == ["one", "two"]
