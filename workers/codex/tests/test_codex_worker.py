"""The Codex worker generates and reviews code through the real openai SDK over real HTTP.

The upstream is fake_openai.py's server on 127.0.0.1; the model name
picks its behaviour, so each upstream failure is exercised for real and must
come back as its own CAIO code and reason, without the API key.
"""

from __future__ import annotations

import json
import socket

import pytest
from fake_openai import UPSTREAM_FAILURES, FakeOpenAIServer, fake_code_for
from nats.aio.client import Client as NATS

from caio_codex.worker import CodexSettings, CodexWorker, retry_after_s, strip_single_fence
from caio_integration.subjects import Subjects
from caio_integration.testing import ask_service, service_request
from caio_integration.wire import now_ms

API_KEY = "sk-caio-test-SECRET-0123456789abcdef"


@pytest.fixture
def codex(
    caio_nc: NATS, caio_prefix: str, service_id: str, start_worker, codex_contract, fake_openai
):
    """``await codex(model, capability, context, **settings)`` -> (reply, raw bytes)."""

    async def call(model: str, capability: str, context: dict, **settings) -> tuple[dict, bytes]:
        options = {"api_key": API_KEY, "base_url": fake_openai.base_url, "model": model}
        options.update(settings)
        deadline = options.pop("deadline_ms", None)
        await start_worker(
            CodexWorker, codex_contract, worker_kwargs={"settings": CodexSettings(**options)}
        )
        body = service_request(capability, context)
        if deadline is not None:
            body["deadline_ms"] = deadline
        subject = Subjects(caio_prefix).service(service_id, capability)
        raw = (await caio_nc.request(subject, json.dumps(body).encode(), timeout=15)).data
        return json.loads(raw), raw

    return call


async def test_code_generation_returns_the_code_without_its_fence(
    codex, fake_openai: FakeOpenAIServer
) -> None:
    prompt = "Write a function that adds two numbers"

    reply, _ = await codex("fake-ok", "code_generation", {"prompt": prompt, "language": "Go"})

    assert reply["status"] == "ok"
    result = reply["result"]
    assert result["code"] == fake_code_for(prompt)
    assert result["text"] == f"```python\n{fake_code_for(prompt)}```"
    assert result["model"] == "fake-ok"
    assert result["finish_reason"] == "stop"
    usage = reply["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    sent = fake_openai.last_body
    assert sent is not None
    assert sent["messages"][0]["role"] == "system"
    assert "Go" in sent["messages"][0]["content"]
    assert sent["messages"][-1] == {"role": "user", "content": prompt}
    assert sent["max_tokens"] == 4096
    assert fake_openai.last_headers["authorization"] == f"Bearer {API_KEY}"


async def test_a_caller_supplied_system_prompt_and_token_cap_are_passed_on(
    codex, fake_openai: FakeOpenAIServer
) -> None:
    context = {"prompt": "fizzbuzz", "system": "Answer in Rust.", "max_tokens": 64}

    reply, _ = await codex("fake-ok", "code_generation", context)

    assert reply["status"] == "ok"
    assert fake_openai.last_body is not None
    assert fake_openai.last_body["messages"][0] == {"role": "system", "content": "Answer in Rust."}
    assert fake_openai.last_body["max_tokens"] == 64


async def test_the_one_fenced_block_is_taken_from_a_reply_with_prose_around_it(codex) -> None:
    reply, _ = await codex("fake-prose", "code_generation", {"prompt": "p"})

    assert reply["result"]["code"] == fake_code_for("p")
    assert reply["result"]["text"].startswith("Here you go:")


async def test_code_review_returns_the_models_review(codex, fake_openai: FakeOpenAIServer) -> None:
    code = "def f(x):\n    return x / 0\n"

    reply, _ = await codex(
        "fake-ok", "code_review", {"code": code, "instructions": "look for crashes"}
    )

    assert reply["status"] == "ok"
    assert set(reply["result"]) == {"review", "model", "finish_reason"}
    assert reply["result"]["review"].startswith("```python")
    assert reply["usage"]["completion_tokens"] > 0
    assert fake_openai.last_body is not None
    user = fake_openai.last_body["messages"][-1]["content"]
    assert code in user
    assert "look for crashes" in user


@pytest.mark.parametrize(
    ("model", "code", "reason", "retryable"),
    UPSTREAM_FAILURES,
)
async def test_each_upstream_failure_maps_to_its_own_code_and_reason(
    codex, fake_openai: FakeOpenAIServer, model, code, reason, retryable
) -> None:
    reply, raw = await codex(model, "code_generation", {"prompt": "anything"})

    assert reply["status"] == "error"
    assert reply["error"]["code"] == code
    assert reply["error"]["details"]["reason"] == reason
    assert reply["error"].get("retryable", False) is retryable
    assert API_KEY.encode() not in raw
    assert b"SECRET" not in raw
    # No retries inside the worker: the router decides, with the deadline in view.
    assert fake_openai.requests[model] == 1


async def test_a_rate_limit_carries_the_upstreams_retry_after(codex) -> None:
    reply, _ = await codex("fake-429", "code_review", {"code": "x = 1"})

    assert reply["error"]["details"]["retry_after_s"] == 7.0


async def test_an_upstream_that_does_not_answer_in_time_is_a_retryable_timeout(codex) -> None:
    reply, _ = await codex("fake-slow", "code_generation", {"prompt": "p"}, timeout_s=0.3)

    assert reply["error"]["code"] == "timeout"
    assert reply["error"]["details"]["reason"] == "upstream_timeout"
    assert reply["error"]["retryable"] is True


async def test_the_request_deadline_cuts_a_slow_upstream_call_short(codex) -> None:
    reply, _ = await codex(
        "fake-slow", "code_generation", {"prompt": "p"}, deadline_ms=now_ms() + 300
    )

    assert reply["error"]["code"] == "timeout"
    assert reply["error"]["details"]["reason"] == "deadline_exceeded"


async def test_an_unreachable_upstream_is_a_retryable_service_unavailable(
    caio_nc: NATS, caio_prefix: str, service_id: str, start_worker, codex_contract
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = CodexSettings(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/v1")
    await start_worker(CodexWorker, codex_contract, worker_kwargs={"settings": settings})

    answer = await ask_service(
        caio_nc, service_id, "code_generation", {"prompt": "p"}, prefix=caio_prefix
    )

    assert answer.error["code"] == "service_unavailable"
    assert answer.error["details"]["reason"] == "upstream_unreachable"
    assert answer.error["retryable"] is True


async def test_the_api_key_is_not_logged_when_the_upstream_echoes_it(codex, captured_logs) -> None:
    with captured_logs() as logs:
        reply, _ = await codex("fake-401", "code_generation", {"prompt": "p"})

    assert reply["error"]["details"]["reason"] == "upstream_unauthorized"
    assert any(entry.get("event") == "upstream call failed" for entry in logs)
    assert API_KEY not in repr(logs)


@pytest.mark.parametrize(
    ("capability", "context", "field"),
    [
        ("code_generation", {}, "prompt"),
        ("code_generation", {"prompt": "  "}, "prompt"),
        ("code_generation", {"prompt": "p", "max_tokens": 10**6}, "max_tokens"),
        ("code_generation", {"prompt": "p", "max_tokens": True}, "max_tokens"),
        ("code_generation", {"prompt": ["p"]}, "prompt"),
        ("code_review", {"language": "python"}, "code"),
    ],
)
async def test_bad_contexts_are_refused_without_calling_the_upstream(
    codex, fake_openai: FakeOpenAIServer, capability, context, field
) -> None:
    reply, _ = await codex("fake-ok", capability, context)

    assert reply["error"]["code"] == "invalid_request"
    assert reply["error"]["details"]["field"] == field
    assert sum(fake_openai.requests.values()) == 0


async def test_contract_capabilities_the_bridge_does_not_offer_say_so(codex) -> None:
    reply, _ = await codex("fake-ok", "code_execution", {"command": "ls"})

    assert reply["error"]["code"] == "service_error"
    assert reply["error"]["details"]["reason"] == "capability_not_implemented"


def test_the_worker_refuses_to_start_without_an_api_key(codex_contract, worker_config) -> None:
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        CodexWorker(codex_contract, worker_config(), CodexSettings(api_key=""))


def test_settings_come_from_the_environment_and_never_print_the_key() -> None:
    settings = CodexSettings.from_env(
        {
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_BASE_URL": "http://llm.internal:8000/v1",
            "CAIO_CODEX_MODEL": "qwen2.5-coder",
            "CAIO_CODEX_TIMEOUT_S": "12.5",
            "CAIO_CODEX_MAX_TOKENS": "512",
            "CAIO_CODEX_TEMPERATURE": "0",
        }
    )

    assert settings.api_key == API_KEY
    assert settings.base_url == "http://llm.internal:8000/v1"
    assert settings.model == "qwen2.5-coder"
    assert settings.timeout_s == 12.5
    assert settings.max_tokens == 512
    assert settings.temperature == 0.0
    assert API_KEY not in repr(settings)


def test_defaults_apply_when_the_environment_is_silent() -> None:
    settings = CodexSettings.from_env({"OPENAI_API_KEY": "k"})

    assert settings.model == "gpt-4.1-mini"
    assert settings.base_url is None
    assert settings.temperature is None


def test_a_malformed_number_in_the_environment_is_named() -> None:
    with pytest.raises(ValueError, match="CAIO_CODEX_TIMEOUT_S"):
        CodexSettings.from_env({"OPENAI_API_KEY": "k", "CAIO_CODEX_TIMEOUT_S": "soon"})


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("```python\nx = 1\n```", "x = 1\n"),
        ("Sure:\n```\nx = 1\n```\nDone.", "x = 1\n"),
        ("x = 1\n", "x = 1\n"),
        ("```py\na\n```\nand\n```py\nb\n```", "```py\na\n```\nand\n```py\nb\n```"),
    ],
)
def test_only_a_single_fenced_block_is_unwrapped(content: str, code: str) -> None:
    assert strip_single_fence(content) == code


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Thu, 01 Jan 2026 00:00:30 GMT"}, 30.0),
        ({"retry-after": "later"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_seconds_millis_or_as_a_date(headers, seconds) -> None:
    assert retry_after_s(headers, now=1767225600.0) == seconds
