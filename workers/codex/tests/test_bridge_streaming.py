"""``BridgeWorker.handle_stream``: a handler-style worker streams as an ``AIUCPService`` does.

Real nats-server, requests straight on the worker's service subject. (These
test the SDK's ``caio_integration.bridge``; they live beside the Codex
worker, its main user, until sdk/tests takes them.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from nats.aio.client import Client as NATS

from caio_integration.bridge import BridgeWorker, WorkResult
from caio_integration.contracts.model import ServiceContract
from caio_integration.errors import ServiceError
from caio_integration.testing import ask_service
from caio_integration.wire import ServiceRequest

WORDS = ["once", "upon", "a", "time"]


@pytest.fixture
def story_contract(service_id: str) -> ServiceContract:
    return ServiceContract.model_validate(
        {
            "id": service_id,
            "name": "Storyteller",
            "version": "1.0.0",
            "capabilities": [{"type": "story"}],
        }
    )


class PlainTeller(BridgeWorker):
    implemented_capabilities: ClassVar[frozenset[str]] = frozenset({"story"})

    async def handle(self, capability: str, request: ServiceRequest) -> WorkResult:
        return WorkResult({"text": " ".join(WORDS), "by": "handle"})


class StreamingTeller(PlainTeller):
    seen: ClassVar[list[ServiceRequest]] = []

    async def handle_stream(
        self, capability: str, request: ServiceRequest
    ) -> AsyncIterator[dict[str, Any] | WorkResult]:
        self.seen.append(request)
        for index, word in enumerate(WORDS):
            if index == request.context.get("fail_after"):
                raise ServiceError("the storyteller lost the thread", details={"reason": "lost"})
            yield {"word": word}
        yield WorkResult({"text": " ".join(WORDS), "by": "handle_stream"}, {"words": len(WORDS)})


class CoroutineTeller(PlainTeller):
    async def handle_stream(  # type: ignore[override]  # the mistake under test: no yield
        self, capability: str, request: ServiceRequest
    ) -> WorkResult:
        return WorkResult({})


async def test_handle_stream_sends_chunks_then_its_work_result(
    start_worker, story_contract, ask_stream, service_id: str
) -> None:
    StreamingTeller.seen = []
    await start_worker(StreamingTeller, story_contract)

    answer = await ask_stream(service_id, "story", {"topic": "dragons"})

    assert answer.chunks == [{"word": word} for word in WORDS]
    assert answer.final.result == {"text": "once upon a time", "by": "handle_stream"}
    assert answer.final.body["usage"] == {"words": 4}
    (request,) = StreamingTeller.seen
    assert request.stream is True
    assert request.capability == "story"
    assert request.context == {"topic": "dragons"}


async def test_a_plain_request_to_a_streaming_worker_goes_to_handle(
    start_worker, story_contract, caio_nc: NATS, caio_prefix: str, service_id: str
) -> None:
    await start_worker(StreamingTeller, story_contract)

    answer = await ask_service(caio_nc, service_id, "story", {}, prefix=caio_prefix)

    assert answer.result["by"] == "handle"


async def test_a_worker_without_handle_stream_answers_a_stream_once(
    start_worker, story_contract, ask_stream, service_id: str
) -> None:
    await start_worker(PlainTeller, story_contract)

    answer = await ask_stream(service_id, "story", {})

    assert answer.chunks == []
    assert answer.final.result["by"] == "handle"


async def test_an_error_after_some_chunks_ends_the_stream_with_it(
    start_worker, story_contract, ask_stream, service_id: str
) -> None:
    await start_worker(StreamingTeller, story_contract)

    answer = await ask_stream(service_id, "story", {"fail_after": 2})

    assert answer.chunks == [{"word": "once"}, {"word": "upon"}]
    assert answer.final.error["code"] == "service_error"
    assert answer.final.error["details"] == {"reason": "lost"}


async def test_a_handle_stream_without_yield_is_answered_as_a_bug(
    start_worker, story_contract, ask_stream, service_id: str
) -> None:
    await start_worker(CoroutineTeller, story_contract)

    answer = await ask_stream(service_id, "story", {})

    assert answer.chunks == []
    assert answer.final.error["code"] == "service_error"
    assert answer.final.error["details"]["reason"] == "unexpected_error"
