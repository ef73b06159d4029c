"""The registry subjects, as a bare NATS client sees them."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from caio_broker.router import AuthSettings, Router, RouterConfig
from caio_integration.subjects import Subjects
from tests.integration.conftest import ServiceFactory, audit_records, contract, request

CODEX_YAML = (Path(__file__).parents[1] / "fixtures" / "seeds" / "codex-seed-001.yaml").read_text()


async def register(nc: NATS, subjects: Subjects, body: dict) -> dict:
    return await request(nc, subjects.registry("register"), body)


async def test_the_seed_codex_contract_registers_verbatim(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    reply = await register(nc, subjects, {"contract_yaml": CODEX_YAML})

    assert reply["status"] == "registered"
    assert reply["service_id"] == "codex-bridge-001"
    assert reply["revision"] >= 1
    assert reply["message"]
    stored = await request(nc, subjects.registry("get"), {"service_id": "codex-bridge-001"})
    service = stored["contract"]["service"]
    assert service["name"] == "Codex Bridge Service"
    assert [c["type"] for c in service["capabilities"]][:2] == ["code_generation", "code_review"]
    assert service["guarantees"]["latency"]["bound"]["max"] == 5000
    assert service["constraints"]["rate_limit"] == {"per_minute": 60, "per_hour": 1000}
    assert stored["revision"] == reply["revision"]
    assert stored["availability"] == "unavailable"


async def test_registering_the_same_contract_again_is_idempotent(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    first = await register(nc, subjects, {"contract": contract("same")})
    again = await register(nc, subjects, {"contract": contract("same")})

    assert again["status"] == "registered"
    assert again["revision"] == first["revision"]


async def test_the_flat_dialect_registers_and_normalizes(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    flat = {
        "service_id": "flat-one",
        "name": "Flat",
        "version": "1.0.0",
        "capabilities": ["text_generation"],
        "guarantees": {"latency": {"p95_ms": 100}},
    }

    await register(nc, subjects, {"contract": flat})
    stored = await request(nc, subjects.registry("get"), {"service_id": "flat-one"})

    service = stored["contract"]["service"]
    assert service["id"] == "flat-one"
    assert service["capabilities"] == [{"type": "text_generation"}]
    assert service["guarantees"]["latency"]["bound"]["max"] == 100


async def test_a_different_contract_for_a_registered_id_conflicts_unless_replaced(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    first = await register(nc, subjects, {"contract": contract("svc", accuracy=0.8)})

    conflict = await register(nc, subjects, {"contract": contract("svc", accuracy=0.9)})
    unchanged = await request(nc, subjects.registry("get"), {"service_id": "svc"})
    replaced = await register(
        nc, subjects, {"contract": contract("svc", accuracy=0.9), "replace": True}
    )
    after = await request(nc, subjects.registry("get"), {"service_id": "svc"})

    assert conflict["error"]["code"] == "conflict"
    assert unchanged["contract"]["service"]["guarantees"]["accuracy"]["bound"]["min"] == 0.8
    assert replaced["status"] == "registered" and replaced["revision"] > first["revision"]
    assert after["contract"]["service"]["guarantees"]["accuracy"]["bound"]["min"] == 0.9


@pytest.mark.parametrize(
    ("body", "path_fragment"),
    [
        (
            {
                "contract": {
                    "service": {"name": "x", "version": "1", "capabilities": [{"type": "a"}]}
                }
            },
            "id",
        ),
        ({"contract": contract("Bad.Id")}, "id"),
        ({"contract": contract("ok", ["code review"])}, "capabilities"),
        ({"contract": contract("ok", ["code.>"])}, "capabilities"),
        ({"contract": contract("ok", p95_ms=-5)}, "max"),
        ({"contract": {"service": {**contract("ok")["service"], "version": 1}}}, "version"),
        ({"contract": {}}, "$"),
        ({"contract_yaml": ""}, ""),
        ({"contract_yaml": "service: [unclosed"}, "yaml"),
    ],
    ids=[
        "missing-id",
        "unsafe-id",
        "space-in-capability",
        "wildcard-capability",
        "negative-bound",
        "wrong-type",
        "empty-object",
        "empty-yaml",
        "broken-yaml",
    ],
)
async def test_an_invalid_contract_is_rejected_with_its_path_and_changes_nothing(
    nc: NATS, subjects: Subjects, router: Router, body: dict, path_fragment: str
) -> None:
    await register(nc, subjects, {"contract": contract("ok")})
    before = await request(nc, subjects.registry("list"), {})

    reply = await register(nc, subjects, body)
    after = await request(nc, subjects.registry("list"), {})

    assert reply["status"] == "error"
    assert reply["error"]["code"] == "invalid_contract"
    errors = reply["error"]["details"]["errors"]
    assert errors and all(": " in line for line in errors)
    assert any(path_fragment in line.split(": ")[0] for line in errors), errors
    assert after == before


async def test_deregistering_removes_the_service_and_unknown_ids_are_not_found(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    await register(nc, subjects, {"contract": contract("gone")})

    reply = await request(nc, subjects.registry("deregister"), {"service_id": "gone"})
    again = await request(nc, subjects.registry("deregister"), {"service_id": "gone"})
    get = await request(nc, subjects.registry("get"), {"service_id": "gone"})
    listed = await request(nc, subjects.registry("list"), {})

    assert reply == {"status": "deregistered", "service_id": "gone", "revision": reply["revision"]}
    assert again["error"]["code"] == "not_found"
    assert get["error"]["code"] == "not_found"
    assert listed["count"] == 0


async def test_a_deregistered_id_can_be_registered_again(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    await register(nc, subjects, {"contract": contract("phoenix")})
    await request(nc, subjects.registry("deregister"), {"service_id": "phoenix"})

    reply = await register(nc, subjects, {"contract": contract("phoenix", accuracy=0.5)})
    listed = await request(nc, subjects.registry("list"), {})

    assert reply["status"] == "registered"
    assert [s["service_id"] for s in listed["services"]] == ["phoenix"]


async def test_list_shows_services_with_availability_and_filters_by_capability(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("reviewer", ["code_review"])
    await register(nc, subjects, {"contract": contract("writer", ["code_generation"])})

    everything = await request(nc, subjects.registry("list"), {})
    reviewers = await request(nc, subjects.registry("list"), {"capability": "code_review"})

    assert everything["count"] == 2
    by_id = {s["service_id"]: s for s in everything["services"]}
    assert by_id["reviewer"]["availability"] == "available"
    assert by_id["writer"]["availability"] == "unavailable"
    assert set(by_id["writer"]) >= {
        "service_id",
        "service_name",
        "version",
        "capabilities",
        "availability",
    }
    assert [s["service_id"] for s in reviewers["services"]] == ["reviewer"]


async def test_discover_ranks_matching_services_and_explains_the_rest(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("fast", p95_ms=100, accuracy=0.9)
    await live_service("slow", p95_ms=8000, accuracy=0.95)
    await live_service("cheap", p95_ms=200, accuracy=0.7, token_cost=0.0)

    reply = await request(
        nc,
        subjects.registry("discover"),
        {
            "capabilities": ["code_review"],
            "guarantees": {"max_p95_latency_ms": 1000},
            "constraints": {},
        },
    )

    assert reply["status"] == "ok"
    assert [s["service_id"] for s in reply["services"]] == ["fast", "cheap"]
    assert all("score" in s for s in reply["services"])
    assert reply["count"] == 2
    assert "p95 latency" in reply["excluded"]["slow"]


async def test_validate_reports_errors_without_storing_anything(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    good = await request(nc, subjects.registry("validate"), {"contract_yaml": CODEX_YAML})
    bad = await request(nc, subjects.registry("validate"), {"contract": contract("x", p95_ms=-1)})
    listed = await request(nc, subjects.registry("list"), {})

    assert good == {"status": "ok", "is_valid": True, "errors": []}
    assert bad["status"] == "ok" and bad["is_valid"] is False
    assert any("max" in e for e in bad["errors"])
    assert listed["count"] == 0


async def test_every_registry_change_is_audited(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    await register(nc, subjects, {"contract": contract("audited")})
    await register(nc, subjects, {"contract": contract("audited", accuracy=0.1), "replace": True})
    await request(nc, subjects.registry("deregister"), {"service_id": "audited"})

    records = [r for r in await audit_records(nc, subjects) if r["kind"] == "registry"]

    assert [r["decision"]["action"] for r in records] == ["registered", "replaced", "deregistered"]
    assert all(r["service_id"] == "audited" and r["outcome"] == "ok" for r in records)


async def test_the_registry_survives_a_router_restart(
    nats_url: str, nc: NATS, subjects: Subjects, prefix: str
) -> None:
    first = Router(
        RouterConfig(nats_url=nats_url, prefix=prefix, auth=AuthSettings(required=False))
    )
    await first.start()
    await register(nc, subjects, {"contract": contract("durable")})
    await first.stop()

    second = Router(
        RouterConfig(nats_url=nats_url, prefix=prefix, auth=AuthSettings(required=False))
    )
    await second.start()
    try:
        listed = await request(nc, subjects.registry("list"), {})
    finally:
        await second.stop()

    assert [s["service_id"] for s in listed["services"]] == ["durable"]


async def test_two_routers_share_one_registry(
    nats_url: str, nc: NATS, subjects: Subjects, prefix: str
) -> None:
    routers = [
        Router(RouterConfig(nats_url=nats_url, prefix=prefix, auth=AuthSettings(required=False)))
        for _ in range(2)
    ]
    for r in routers:
        await r.start()
    try:
        replies = [await register(nc, subjects, {"contract": contract(f"s{i}")}) for i in range(10)]
        # Whichever router took each registration, the other learns it through the KV watch.
        last = max(reply["revision"] for reply in replies)
        assert all([await r.catalog.wait_for_revision(last, timeout_s=5) for r in routers])
        revisions = {r.catalog.revision for r in routers}
        counts = {len(r.catalog) for r in routers}
    finally:
        for r in routers:
            await r.stop()

    assert counts == {10}
    assert len(revisions) == 1


async def test_a_registration_while_the_registry_store_is_gone_is_answered_service_unavailable(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    await nc.jetstream().delete_stream(f"KV_{subjects.registry_bucket}")

    reply = await request(nc, subjects.registry("register"), {"contract": contract("late")})

    assert reply["status"] == "error"
    assert reply["error"]["code"] == "service_unavailable", reply
    assert reply["error"]["retryable"] is True
    assert "nothing was changed" in reply["error"]["message"]
