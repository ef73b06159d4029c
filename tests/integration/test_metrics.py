"""``/metrics`` on a router: the caio_* series, scraped while routed requests run.

A real router with ``metrics.port = 0`` (any free port), services on bare
nats-py, and a real HTTP scrape parsed with prometheus-client's own parser.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from prometheus_client.parser import text_string_to_metric_families

from caio_broker.metrics import MetricsSettings
from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, StartRouter, contract, request


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(router: Router) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert router.metrics is not None
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{router.metrics.port}/metrics")
    response.raise_for_status()
    return samples(response.text)


async def serving(nc: NATS, subjects: Subjects, router: Router, service_id: str) -> FakeService:
    registered = await request(
        nc, subjects.registry("register"), {"contract": contract(service_id)}
    )
    assert registered["status"] == "registered"
    service = await FakeService(nc, subjects, service_id, ["code_review"]).start()
    await service.beat()
    assert await router.liveness.wait_available(service_id, timeout_s=5)
    return service


async def route(nc: NATS, subjects: Subjects, body: dict[str, Any]) -> dict[str, Any]:
    return await request(nc, subjects.route("code_review"), body)


async def test_a_scrape_during_routed_load_shows_requests_exclusions_and_timings(
    nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router(metrics=MetricsSettings(port=0))
    await serving(nc, subjects, router, "reviewer")
    on_prem_only = {"context": {}, "constraints": {"data_locality": ["on_prem"]}}

    load = [route(nc, subjects, {"context": {"n": n}}) for n in range(20)]
    during, *replies = await asyncio.gather(scrape(router), *load)
    refused = await route(nc, subjects, on_prem_only)
    after = await scrape(router)

    assert all(reply["status"] == "ok" for reply in replies)
    assert refused["error"]["code"] == "no_matching_service"
    ok = (("capability", "code_review"), ("kind", "route"), ("outcome", "ok"))
    assert after["caio_requests_total", (*ok, ("service", "reviewer"))] == 20
    assert during.get(("caio_requests_total", (*ok, ("service", "reviewer"))), 0) <= 20
    no_match = (("capability", "code_review"), ("kind", "route"), ("outcome", "no_match"))
    assert after["caio_requests_total", (*no_match, ("service", "_"))] == 1
    assert after["caio_exclusions_total", (("capability", "code_review"), ("code", "privacy"))] == 1
    assert after["caio_attempts_total", (("service", "reviewer"), ("status", "ok"))] == 20
    timed = (("capability", "code_review"), ("outcome", "ok"))
    assert after["caio_request_duration_seconds_count", timed] == 20
    assert after["caio_decision_duration_seconds_count", ()] == 21
    assert after["caio_audit_publish_duration_seconds_count", ()] >= 22  # + the registration
    assert after["caio_audit_failures_total", ()] == 0


async def test_an_open_circuit_shows_once_the_service_keeps_failing(
    nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router(metrics=MetricsSettings(port=0))
    service = await serving(nc, subjects, router, "flaky")
    service.mode = "error"
    service.retryable = False
    before = await scrape(router)

    for _ in range(router.config.breaker.threshold):
        await route(nc, subjects, {"context": {}})
    opened = await scrape(router)

    assert ("caio_circuit_open", (("service", "flaky"),)) not in before
    assert opened["caio_circuit_open", (("service", "flaky"),)] == 1
