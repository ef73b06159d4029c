"""`caio route` says why services were left out, in its human output too."""

from __future__ import annotations

import json

from nats.aio.client import Client as NATS

from caio_integration.subjects import Subjects
from tests.cli.conftest import caio
from tests.integration.conftest import ServiceFactory, contract, request


async def test_no_match_lists_each_service_and_why_it_was_left_out(
    nats_url: str, prefix: str, live_service: ServiceFactory
) -> None:
    await live_service("in-the-cloud", locality="cloud")
    await live_service("too-slow", locality="on_prem", p95_ms=9000)

    ran = await caio(
        "route",
        "code_review",
        "--constraints",
        '{"data_locality": ["on_prem"]}',
        "--guarantees",
        '{"max_p95_latency_ms": 2000}',
        "--nats-url",
        nats_url,
        "--prefix",
        prefix,
    )

    assert ran.code == 1
    assert "no available service satisfies" in ran.err
    assert "(no_matching_service)" in ran.err
    assert "in-the-cloud" in ran.err
    assert "data locality cloud is not one of on_prem" in ran.err
    assert "too-slow" in ran.err
    assert "p95 latency bound 9000 ms is above 2000 ms" in ran.err
    assert "Traceback" not in ran.text


async def test_a_dry_run_shows_the_candidates_and_who_was_left_out(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("local", locality="on_prem")
    registered = await request(
        nc, subjects.registry("register"), {"contract": contract("asleep", locality="on_prem")}
    )
    assert registered["status"] == "registered"

    ran = await caio(
        "route", "code_review", "--dry-run", "--nats-url", nats_url, "--prefix", prefix
    )
    as_json = await caio(
        "route", "code_review", "--dry-run", "--json", "--nats-url", nats_url, "--prefix", prefix
    )

    assert ran.code == 0, ran.text
    assert "decision (dry run)" in ran.out
    assert "candidate" in ran.out
    assert "local" in ran.out
    assert "left out (1)" in ran.out
    assert "asleep" in ran.out
    assert "unavailable: no live worker" in ran.out
    assert json.loads(as_json.out)["excluded"] == {"asleep": "unavailable: no live worker"}


async def test_every_attempt_is_shown_when_all_candidates_fail(
    nats_url: str, prefix: str, live_service: ServiceFactory
) -> None:
    failing = await live_service("flaky")
    failing.mode = "error"
    failing.retryable = False

    ran = await caio(
        "route", "code_review", "--context", "{}", "--nats-url", nats_url, "--prefix", prefix
    )

    assert ran.code == 1
    assert "attempt flaky → error" in ran.err
    assert "flaky failed" in ran.err


async def test_a_capability_nobody_offers_is_named_as_such(
    nats_url: str, prefix: str, live_service: ServiceFactory
) -> None:
    await live_service("reviewer")

    ran = await caio("route", "translation", "--nats-url", nats_url, "--prefix", prefix)

    assert ran.code == 1
    assert "no registered service offers this capability" in ran.err
