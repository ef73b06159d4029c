"""A service written on ``AIUCPService`` streams its answer through a real router.

``execute_stream`` yields chunks, then its final result; the caller reads
them with ``CAIOClient.stream``. Plain requests to the same service still
go to ``execute``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from caio_integration import AIUCPService, WorkResult, parse_contract
from caio_integration.client import CAIOClient
from caio_integration.errors import InvalidRequest, ServiceError


def story_contract(service_id: str) -> dict[str, Any]:
    return {
        "service": {
            "id": service_id,
            "name": "Tells a story word by word",
            "version": "1.0.0",
            "capabilities": [{"type": "story"}],
        }
    }


class Storyteller(AIUCPService):
    def __init__(self, service_id: str, words: list[str], *, fail_after: int | None = None):
        self.contract = parse_contract(story_contract(service_id))
        self.words = words
        self.fail_after = fail_after

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"text": " ".join(self.words)}

    async def execute_stream(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any] | WorkResult]:
        if request.get("topic") == "":
            raise InvalidRequest("a story needs a topic")
        for index, word in enumerate(self.words):
            if index == self.fail_after:
                raise ServiceError("the storyteller lost the thread")
            yield {"word": word}
        yield WorkResult({"text": " ".join(self.words)}, {"words": len(self.words)})


async def listen(caio: CAIOClient, topic: str, told: list[str]) -> None:
    """Read a story into ``told`` word by word, as far as it goes."""
    async with caio.stream("story", {"topic": topic}) as stream:
        async for chunk in stream:
            told.append(chunk.data["word"])


@pytest.fixture
async def caio(caio_nats_url: str, caio_prefix: str, make_key: Any) -> AsyncIterator[CAIOClient]:
    key = await make_key("reader", "caller")
    async with CAIOClient(caio_nats_url, prefix=caio_prefix, api_key=key) as client:
        yield client


@pytest.fixture
async def storyteller(caio_host: Any, router: Any, caio_prefix: str, make_key: Any) -> Any:
    publisher = await make_key("storyteller", "publisher")

    async def start(words: list[str], **options: Any) -> Storyteller:
        service = Storyteller(f"story-{caio_prefix}", words, **options)
        await caio_host(service, register=True, api_key=publisher)
        assert await router.liveness.wait_available(service.contract.id, timeout_s=10)
        return service

    return start


async def test_the_words_arrive_one_by_one_and_the_reply_carries_the_final_result(
    caio: CAIOClient, storyteller: Any
) -> None:
    await storyteller(["once", "upon", "a", "time"])

    async with caio.stream("story", {"topic": "dragons"}) as stream:
        words = [chunk.data["word"] async for chunk in stream]

    assert words == ["once", "upon", "a", "time"]
    assert stream.reply is not None
    assert stream.reply.result == {"text": "once upon a time"}
    assert stream.reply.usage == {"words": 4}
    assert stream.reply.stream is not None
    assert stream.reply.stream.chunks == 4


async def test_a_plain_request_to_the_same_service_is_answered_by_execute(
    caio: CAIOClient, storyteller: Any
) -> None:
    await storyteller(["the", "end"])

    reply = await caio.route("story", {"topic": "endings"})

    assert reply.result == {"text": "the end"}
    assert not reply.usage
    assert reply.stream is None


async def test_bad_input_is_refused_before_any_chunk(caio: CAIOClient, storyteller: Any) -> None:
    await storyteller(["never", "told"])

    told: list[str] = []
    with pytest.raises(InvalidRequest, match="needs a topic"):
        await listen(caio, "", told)

    assert told == []


async def test_an_error_after_some_words_ends_the_stream_with_that_error(
    caio: CAIOClient, storyteller: Any
) -> None:
    await storyteller(["it", "was", "a", "dark"], fail_after=2)

    told: list[str] = []
    with pytest.raises(ServiceError, match="lost the thread"):
        await listen(caio, "night", told)

    assert told == ["it", "was"]


class Counter(AIUCPService):
    """Streams numbers; its contract's output schema describes a whole (plain) answer."""

    def __init__(self, service_id: str) -> None:
        self.contract = parse_contract(
            {
                "service": {
                    "id": service_id,
                    "name": "Counts",
                    "version": "1.0.0",
                    "capabilities": [
                        {
                            "type": "count",
                            "output_schema": {"type": "object", "required": ["numbers"]},
                        }
                    ],
                }
            }
        )

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"numbers": [1, 2]}

    async def execute_stream(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any] | WorkResult]:
        for number in (1, 2):
            yield {"number": number}


async def test_a_stream_is_not_held_to_the_output_schema_of_a_whole_answer(
    caio: CAIOClient, caio_host: Any, router: Any, caio_prefix: str, make_key: Any
) -> None:
    service = Counter(f"count-{caio_prefix}")
    await caio_host(service, register=True, api_key=await make_key("counter", "publisher"))
    assert await router.liveness.wait_available(service.contract.id, timeout_s=10)

    async with caio.stream("count", {}) as stream:
        numbers = [chunk.data["number"] async for chunk in stream]
    whole = await caio.route("count", {})

    assert numbers == [1, 2]
    assert stream.reply is not None
    assert stream.reply.result == {}
    assert whole.result == {"numbers": [1, 2]}
