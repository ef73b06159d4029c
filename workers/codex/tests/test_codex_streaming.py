"""The Codex worker streams its upstream's deltas over a real nats-server.

The upstream is fake_openai.py's server answering ``stream: true`` with real
Server-Sent Events; the worker is asked straight on its service subject with
``stream: true`` and a reply subject of the test's own (conftest's
``ask_stream``), as a router asks it. The model name picks the upstream's
behaviour, including streams that break.
"""

from __future__ import annotations

from typing import Any

import pytest
from fake_openai import UPSTREAM_FAILURES, FakeOpenAIServer, fake_code_for, fake_deltas
from nats.aio.client import Client as NATS

from caio_codex.worker import CodexSettings, CodexWorker
from caio_integration.testing import ask_service
from caio_integration.wire import now_ms

API_KEY = "sk-caio-test-SECRET-0123456789abcdef"
PROMPT = "Write a function that adds two numbers"
FENCED = f"```python\n{fake_code_for(PROMPT)}```"


@pytest.fixture
def start_codex(start_worker, codex_contract, fake_openai: FakeOpenAIServer):
    """``await start_codex(model, **settings)``: a started Codex worker on the fake."""

    async def start(model: str, **settings: Any) -> CodexWorker:
        options = {"api_key": API_KEY, "base_url": fake_openai.base_url, "model": model}
        options.update(settings)
        return await start_worker(
            CodexWorker, codex_contract, worker_kwargs={"settings": CodexSettings(**options)}
        )

    return start


@pytest.fixture
def streamed(start_codex, ask_stream, service_id: str):
    """``await streamed(model, capability, context, deadline_ms=None, **settings)``."""

    async def call(model: str, capability: str, context: dict[str, Any], **settings: Any):
        fields = {"deadline_ms": settings.pop("deadline_ms")} if "deadline_ms" in settings else {}
        await start_codex(model, **settings)
        return await ask_stream(service_id, capability, context, **fields)

    return call


def assert_no_key(answer) -> None:
    for message in answer.raw:
        assert API_KEY.encode() not in message
        assert b"SECRET" not in message


async def test_each_delta_is_a_chunk_and_the_final_reply_is_the_plain_result(
    streamed, fake_openai: FakeOpenAIServer
) -> None:
    answer = await streamed("fake-ok", "code_generation", {"prompt": PROMPT})

    assert answer.chunks == [{"delta": piece} for piece in fake_deltas(FENCED)]
    assert len(answer.chunks) > 1
    assert answer.final.ok
    assert answer.final.result == {
        "code": fake_code_for(PROMPT),  # the one fence stripped from the whole text
        "text": FENCED,
        "model": "fake-ok",
        "finish_reason": "stop",
    }
    usage = answer.final.body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    sent = fake_openai.last_body
    assert sent is not None
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][-1] == {"role": "user", "content": PROMPT}
    assert sent["max_tokens"] == 4096
    assert fake_openai.requests["fake-ok"] == 1


async def test_a_streamed_review_ends_with_the_review_result(streamed) -> None:
    answer = await streamed("fake-ok", "code_review", {"code": "x = 1 / 0"})

    assert answer.chunks
    assert answer.final.ok
    assert set(answer.final.result) == {"review", "model", "finish_reason"}
    assert answer.final.result["review"] == "".join(chunk["delta"] for chunk in answer.chunks)


async def test_the_same_worker_answers_plain_and_streamed_requests_alike(
    start_codex, ask_stream, caio_nc: NATS, caio_prefix: str, service_id: str
) -> None:
    await start_codex("fake-prose")
    context = {"prompt": PROMPT}

    plain = await ask_service(caio_nc, service_id, "code_generation", context, prefix=caio_prefix)
    answer = await ask_stream(service_id, "code_generation", context)

    assert plain.ok
    assert plain.body.get("stream") is None
    assert answer.final.result == plain.result
    assert answer.final.body["usage"] == plain.body["usage"]
    assert plain.result["code"] == fake_code_for(PROMPT)


async def test_an_upstream_without_usage_leaves_the_usage_empty(streamed) -> None:
    answer = await streamed("fake-nousage", "code_generation", {"prompt": PROMPT})

    assert answer.final.ok
    assert answer.final.result["code"] == fake_code_for(PROMPT)
    assert not answer.final.body.get("usage")


@pytest.mark.parametrize(
    ("model", "code", "reason", "retryable"),
    UPSTREAM_FAILURES,
)
async def test_a_failure_before_the_first_delta_maps_as_a_plain_calls_does(
    streamed, fake_openai: FakeOpenAIServer, model, code, reason, retryable
) -> None:
    answer = await streamed(model, "code_generation", {"prompt": "anything"})

    assert answer.chunks == []
    error = answer.final.error
    assert error["code"] == code
    assert error["details"]["reason"] == reason
    assert error.get("retryable", False) is retryable
    assert answer.final.headers["Nats-Service-Error-Code"]
    assert_no_key(answer)
    assert fake_openai.requests[model] == 1  # no retries inside the worker


async def test_a_rate_limit_before_any_chunk_carries_the_retry_after(streamed) -> None:
    answer = await streamed("fake-429", "code_review", {"code": "x = 1"})

    assert answer.chunks == []
    assert answer.final.error["code"] == "rate_limited"
    assert answer.final.error["details"]["retry_after_s"] == 7.0
    assert answer.final.error["retryable"] is True


async def test_a_stream_cut_mid_way_ends_with_an_error_after_the_chunks_sent(streamed) -> None:
    answer = await streamed("fake-cut-2", "code_generation", {"prompt": PROMPT})

    assert answer.chunks == [{"delta": piece} for piece in fake_deltas(FENCED)[:2]]
    error = answer.final.error
    assert error["code"] == "service_error"
    assert error["details"] == {"reason": "upstream_stream_broken", "chunks": 2}
    assert "retryable" not in error  # part of an answer is out: no fallback, no retry
    assert "connection was lost" in error["message"]


async def test_a_stream_cut_before_its_first_delta_is_retryable(streamed) -> None:
    answer = await streamed("fake-cut-0", "code_generation", {"prompt": PROMPT})

    assert answer.chunks == []
    assert answer.final.error["details"] == {"reason": "upstream_stream_broken", "chunks": 0}
    assert answer.final.error["retryable"] is True  # nothing sent: another service may try


async def test_an_in_band_error_event_ends_the_stream_without_the_key(
    streamed, captured_logs
) -> None:
    with captured_logs() as logs:
        answer = await streamed("fake-stream-error", "code_generation", {"prompt": PROMPT})

    assert len(answer.chunks) == 2
    error = answer.final.error
    assert error["details"] == {"reason": "upstream_stream_broken", "chunks": 2}
    assert error["message"].endswith("the upstream sent an error: overloaded serving key ***")
    assert_no_key(answer)
    assert any(entry.get("event") == "upstream stream broke" for entry in logs)
    assert API_KEY not in repr(logs)


async def test_a_stream_that_ends_without_a_finish_reason_is_broken(streamed) -> None:
    answer = await streamed("fake-unfinished", "code_generation", {"prompt": PROMPT})

    assert len(answer.chunks) == len(fake_deltas(FENCED))
    assert answer.final.error["details"]["reason"] == "upstream_stream_broken"
    assert "without a finish_reason" in answer.final.error["message"]


async def test_an_upstream_silent_longer_than_the_timeout_mid_stream_is_broken(streamed) -> None:
    answer = await streamed("fake-stall", "code_generation", {"prompt": PROMPT}, timeout_s=0.3)

    assert answer.chunks == [{"delta": fake_deltas(FENCED)[0]}]
    assert answer.final.error["details"] == {"reason": "upstream_stream_broken", "chunks": 1}
    assert "longer than the timeout" in answer.final.error["message"]


async def test_the_deadline_ends_a_stalled_stream_with_a_timeout(
    streamed, fake_openai: FakeOpenAIServer
) -> None:
    answer = await streamed(
        "fake-stall", "code_generation", {"prompt": PROMPT}, deadline_ms=now_ms() + 500
    )

    assert len(answer.chunks) == 1
    assert answer.final.error["code"] == "timeout"
    assert answer.final.error["details"]["reason"] == "deadline_exceeded"


@pytest.mark.parametrize(
    ("capability", "context", "field"),
    [
        ("code_generation", {}, "prompt"),
        ("code_generation", {"prompt": "p", "max_tokens": 0}, "max_tokens"),
        ("code_review", {"code": 7}, "code"),
    ],
)
async def test_bad_contexts_are_refused_before_streaming_anything(
    streamed, fake_openai: FakeOpenAIServer, capability, context, field
) -> None:
    answer = await streamed("fake-ok", capability, context)

    assert answer.chunks == []
    assert answer.final.error["code"] == "invalid_request"
    assert answer.final.error["details"]["field"] == field
    assert sum(fake_openai.requests.values()) == 0
