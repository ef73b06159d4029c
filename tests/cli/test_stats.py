"""`caio stats` does not call a guarantee kept before the router has measured it."""

from __future__ import annotations

import json

from nats.aio.client import Client as NATS

from caio_integration.subjects import Subjects
from tests.cli.conftest import caio
from tests.integration.conftest import ServiceFactory, request

ENOUGH_TO_JUDGE = 20  # ObservedSettings.min_samples


async def test_a_service_never_called_is_unmeasured_not_kept(
    nats_url: str, prefix: str, live_service: ServiceFactory
) -> None:
    await live_service("fresh")

    as_json = await caio("stats", "--json", "--nats-url", nats_url, "--prefix", prefix)
    human = await caio("stats", "--nats-url", nats_url, "--prefix", prefix)

    [fresh] = json.loads(as_json.out)
    assert fresh["guarantee"] == "unmeasured"
    assert fresh["observed"]["samples"] == 0
    assert human.code == 0, human.text
    assert "unmeasured" in human.out
    assert "kept" not in human.out
    assert "too few recent calls" in human.out


async def test_a_service_is_unmeasured_until_there_are_enough_calls_to_judge(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("busy", p95_ms=60_000)

    async def guarantee() -> str:
        reply = await request(nc, subjects.registry("stats"), {})
        [busy] = reply["services"]
        return str(busy["guarantee"])

    for _ in range(ENOUGH_TO_JUDGE - 1):
        assert (await request(nc, subjects.route("code_review"), {"context": {}}))["status"] == "ok"
    too_few = await guarantee()
    await request(nc, subjects.route("code_review"), {"context": {}})
    judged = await guarantee()
    human = await caio("stats", "--nats-url", nats_url, "--prefix", prefix)

    assert too_few == "unmeasured"
    assert judged == "kept"
    assert "kept" in human.out
    assert "unmeasured" not in human.out
