"""Fuzzing the subjects a caller can reach: the router never crashes, never stays silent,
and a request it rejects changes nothing stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import nats
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from caio_broker.router import Router, RouterConfig
from caio_integration.errors import KNOWN_CODES
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, contract
from tests.security.conftest import ask, state

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
route_fields = st.fixed_dictionaries(
    {},
    optional={
        "request_id": json_values,
        "requirements": json_values,
        "guarantees": json_values
        | st.fixed_dictionaries({}, optional={"max_p95_latency_ms": json_values}),
        "constraints": json_values
        | st.fixed_dictionaries({}, optional={"service_ids": json_values}),
        "context": json_values,
        "timeout_ms": json_values,
        "dry_run": json_values,
    },
)
payloads = (
    st.binary(max_size=200)
    | st.just(b'{"timeout_ms": 99999999999999999999999999}')
    | json_values.map(orjson.dumps)
    | route_fields.map(orjson.dumps)
    | st.fixed_dictionaries({"contract": json_values}).map(orjson.dumps)
    | st.fixed_dictionaries({"service_id": json_values}).map(orjson.dumps)
)
REACHABLE = [
    "route.code_review",
    "route.Bad",
    "registry.register",
    "registry.deregister",
    "registry.get",
    "registry.list",
    "registry.discover",
    "registry.validate",
    "registry.nope",
    "keys.create",
    "keys.revoke",
]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


def well_formed(reply: dict[str, Any]) -> bool:
    if reply.get("status") == "error":
        return reply["error"]["code"] in KNOWN_CODES and bool(reply["error"]["message"])
    return isinstance(reply.get("status"), str)


@dataclass
class Arena:
    """A secure router, a client and keys, living on one loop that each example runs on."""

    runner: asyncio.Runner
    nc: NATS
    subjects: Subjects
    router: Router
    keys: dict[str, str]

    def ask(self, where: str, payload: bytes, key: str | None) -> dict[str, Any]:
        return self.runner.run(ask(self.nc, f"{self.subjects.prefix}.{where}", payload, key))


@pytest.fixture
def arena(nats_url: str, prefix: str) -> Iterator[Arena]:
    subjects = Subjects(prefix)

    async def setup() -> Arena:
        router = Router(RouterConfig(nats_url=nats_url, prefix=prefix))
        await router.start()
        nc = await nats.connect(nats_url)
        assert router.keys is not None
        admin, _ = await router.keys.create("root", "admin")
        caller, _ = await router.keys.create("fuzzer", "caller")
        reply = await ask(
            nc, subjects.registry("register"), {"contract": contract("anchor")}, admin
        )
        assert reply["status"] == "registered"
        service = await FakeService(nc, subjects, "anchor", ["code_review"]).start()
        await service.beat()
        assert await router.liveness.wait_available("anchor", timeout_s=5)
        return Arena(runner, nc, subjects, router, {"admin": admin, "caller": caller})

    with asyncio.Runner() as runner:
        ready = runner.run(setup())
        yield ready
        runner.run(ready.nc.drain())
        runner.run(ready.router.stop())


def test_random_input_with_a_valid_key_always_gets_a_well_formed_reply_and_changes_nothing(
    arena: Arena,
) -> None:
    before = arena.runner.run(state(arena.nc, arena.subjects))

    @FUZZ
    @given(st.sampled_from(REACHABLE), payloads)
    def one(where: str, payload: bytes) -> None:
        reply = arena.ask(where, payload, arena.keys["caller"])  # may route and read, not change
        assert well_formed(reply), reply

    one()
    after = arena.runner.run(state(arena.nc, arena.subjects))
    healthy = arena.ask("route.code_review", b'{"context": {}}', arena.keys["caller"])

    assert after.registry == before.registry
    assert healthy["status"] == "ok"


def test_random_input_without_a_key_is_always_unauthenticated(arena: Arena) -> None:
    @FUZZ
    @given(st.sampled_from(REACHABLE), payloads)
    def one(where: str, payload: bytes) -> None:
        reply = arena.ask(where, payload, None)
        assert reply["error"]["code"] == "unauthenticated", reply

    one()


def test_random_contracts_from_an_admin_never_break_the_registry(arena: Arena) -> None:
    before = arena.runner.run(state(arena.nc, arena.subjects))

    @FUZZ
    @given(json_values)
    def one(junk: Any) -> None:
        reply = arena.ask(
            "registry.register", orjson.dumps({"contract": {"service": junk}}), arena.keys["admin"]
        )
        assert reply["status"] == "error"
        assert reply["error"]["code"] in {"invalid_contract", "invalid_request"}, reply

    one()

    assert arena.runner.run(state(arena.nc, arena.subjects)).registry == before.registry
