"""A call gets the tighter of two times: the contract's latency promise, and the deadline.

The fake upstream holds its answers (``upstream.hold()``) until the test
ends, so every timeout here is the bridge's own, measured on a real call.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fake_upstream import FakeUpstream
from http_bridge_support import EXAMPLES, Route, StartBridge, serving
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from caio_http_bridge import Budget
from caio_http_bridge.calls import DEFAULT_BUDGET_S, LATENCY_FACTOR, MIN_BUDGET_S
from caio_integration.testing import ask_service

SENTIMENT = EXAMPLES / "sentiment-model.yaml"  # promises p95 <= 300 ms
TEXTS = {"texts": ["I love it"]}
NOW = 1_700_000_000_000.0


@settings(max_examples=300, deadline=None, database=None)
@given(
    p95_ms=st.none() | st.floats(0, 10**6),
    left_ms=st.none() | st.integers(1, 10**7),
)
def test_the_budget_is_never_more_than_either_bound_allows(
    p95_ms: float | None, left_ms: int | None
) -> None:
    budget = Budget.for_request(p95_ms, None if left_ms is None else int(NOW) + left_ms, NOW)

    assert budget.seconds > 0
    if left_ms is not None:
        assert budget.seconds <= left_ms / 1000
    if p95_ms is not None:
        assert budget.seconds <= max(MIN_BUDGET_S, p95_ms * LATENCY_FACTOR / 1000)
    if p95_ms is None and left_ms is None:
        assert budget == Budget(DEFAULT_BUDGET_S, "default")


def test_the_bridge_gives_up_before_the_router_would() -> None:
    # The router gives an attempt 2 x p95 (caio_broker.forwarding): the bridge's
    # timeout reply must reach it while it still listens.
    assert LATENCY_FACTOR < 2


async def test_a_request_whose_deadline_is_near_times_out_by_its_deadline(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    upstream.hold()
    await bridge(EXAMPLES / "text-embeddings.yaml", path="/v1")  # p95 2000 ms: looser
    started = time.monotonic()

    answer = await ask_service(
        caio_nc,
        "text-embeddings",
        "text_embedding",
        {"input": "hi"},
        prefix=caio_prefix,
        deadline_ms=int(time.time() * 1000) + 400,
    )

    elapsed = time.monotonic() - started
    assert answer.error["code"] == "timeout"
    assert answer.error["details"]["reason"] == "upstream_timeout"
    assert answer.error["details"]["bound"] == "deadline"
    assert elapsed < 0.4  # answered before the deadline, while the caller still listens
    assert upstream.count() == 1


async def test_a_request_with_time_to_spare_times_out_by_the_contracts_promise(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    upstream.hold()
    await bridge(SENTIMENT)

    answer = await ask_service(
        caio_nc,
        "sentiment-model",
        "sentiment_analysis",
        TEXTS,
        prefix=caio_prefix,
        deadline_ms=int(time.time() * 1000) + 10_000,
    )

    assert answer.error["code"] == "timeout"
    assert answer.error["retryable"] is True
    assert answer.error["details"]["bound"] == "latency"
    assert answer.error["details"]["timeout_s"] == pytest.approx(0.3 * LATENCY_FACTOR)


async def test_a_held_upstream_costs_the_caller_the_promise_not_the_whole_deadline(
    bridge: StartBridge, router: Any, route: Route, upstream: FakeUpstream
) -> None:
    upstream.hold()
    service = await bridge(SENTIMENT, register=True)
    await serving(router, service)
    started = time.monotonic()

    reply = await route("sentiment_analysis", TEXTS, timeout_ms=20_000)

    elapsed = time.monotonic() - started
    assert reply["error"]["code"] == "timeout", reply
    attempts = reply["attempts"]
    assert attempts, reply
    assert all(a["error"]["details"]["bound"] == "latency" for a in attempts), attempts
    assert elapsed < 5  # a few latency budgets (the router retries once), far from 20 s
