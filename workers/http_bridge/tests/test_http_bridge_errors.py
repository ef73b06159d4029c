"""An upstream's failure reaches the caller as the protocol code the router acts on.

The rules (upstream_errors.py) hold for every status and body, which
Hypothesis checks on the mapping itself; the cases after it go through the
bridge over real HTTP, to a fake upstream answering each status.
"""

from __future__ import annotations

import email.utils
import socket
from typing import Any

import pytest
from fake_upstream import FakeUpstream, Reply, json_reply
from http_bridge_support import EXAMPLES, SECRET, StartBridge
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from caio_http_bridge import error_for_status, retry_after_s
from caio_integration.testing import ask_service

PROPERTY = settings(max_examples=200, deadline=None, database=None)
CHAT = EXAMPLES / "openai-compatible-chat.yaml"
HELLO = {"messages": [{"role": "user", "content": "hello"}]}

statuses = st.integers(100, 599).filter(lambda s: not 200 <= s < 300)
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400)
# Bodies an upstream might send: JSON errors in the common shapes, text, nothing.
bodies = st.one_of(
    words.map(lambda m: {"error": {"message": m, "type": "x"}}),
    words.map(lambda m: {"type": "error", "error": {"type": "x", "message": m}}),
    words.map(lambda m: {"error": m}),
    words.map(lambda m: {"detail": m}),
    words,
    st.just(""),
)


def _encoded(body: object) -> bytes:
    import json

    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


@PROPERTY
@given(status=statuses, body=bodies)
def test_every_upstream_status_maps_to_one_code_by_the_rules(status: int, body: object) -> None:
    error = error_for_status(status, {}, _encoded(body))

    if status == 429:
        expected, retryable = "rate_limited", True
    elif status >= 500:
        expected, retryable = "service_error", True
    elif status == 408:
        expected, retryable = "timeout", True
    elif status in (401, 403, 407):
        expected, retryable = "service_unavailable", False
    elif status == 413:
        expected, retryable = "payload_too_large", False
    elif status >= 400:
        expected, retryable = "invalid_request", False
    else:
        expected, retryable = "service_error", False
    assert (error.code, error.retryable) == (expected, retryable)
    assert error.details["status"] == status
    assert "\n" not in error.message
    assert len(error.message) < 420  # the upstream's part is bounded


@PROPERTY
@given(status=statuses, before=words, after=words)
def test_the_credential_never_survives_into_a_message(status: int, before: str, after: str) -> None:
    body = {"error": {"message": f"{before}Incorrect API key provided: {SECRET}{after}"}}

    error = error_for_status(status, {}, _encoded(body), secrets=[SECRET])

    assert SECRET not in error.message
    assert SECRET not in repr(error.details)


@PROPERTY
@given(seconds=st.integers(0, 10**6))
def test_retry_after_reads_seconds_and_http_dates_alike(seconds: int) -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + seconds, usegmt=True)

    assert retry_after_s({"retry-after": str(seconds)}) == seconds
    assert retry_after_s({"retry-after": date}, now=now) == seconds
    assert retry_after_s({"retry-after-ms": str(seconds * 1000)}) == seconds


@pytest.mark.parametrize("value", ["soon", "", "NaN", "inf", "Thu, 99 Foo"])
def test_a_retry_after_that_says_nothing_usable_is_left_out(value: str) -> None:
    assert retry_after_s({"retry-after": value}) is None


# -- through the bridge, over real HTTP ---------------------------------------------------


async def ask_chat(caio_nc: NATS, caio_prefix: str) -> Any:
    return await ask_service(
        caio_nc, "openai-compatible-chat", "chat_completion", HELLO, prefix=caio_prefix
    )


async def test_a_429_with_retry_after_is_rate_limited_with_the_wait(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    upstream.answer_with(
        json_reply(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "7"})
    )
    await bridge(CHAT, path="/v1", env={"OPENAI_API_KEY": SECRET})

    answer = await ask_chat(caio_nc, caio_prefix)

    assert answer.error["code"] == "rate_limited"
    assert answer.error["retryable"] is True
    assert answer.error["details"]["retry_after_s"] == 7
    assert "Rate limit reached" in answer.error["message"]
    assert answer.headers["Nats-Service-Error-Code"] == "429"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_is_a_retryable_service_error(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str, status: int
) -> None:
    upstream.answer_with(Reply(status, {"content-type": "text/html"}, b"<h1>Bad Gateway</h1>"))
    await bridge(CHAT, path="/v1", env={"OPENAI_API_KEY": SECRET})

    answer = await ask_chat(caio_nc, caio_prefix)

    assert answer.error["code"] == "service_error"
    assert answer.error["retryable"] is True
    assert answer.error["details"] == {"status": status, "reason": "upstream_error"}


async def test_a_refused_connection_is_a_retryable_service_error(
    bridge: StartBridge, caio_nc: NATS, caio_prefix: str
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    await bridge(
        CHAT, base_url=f"http://127.0.0.1:{closed_port}/v1", env={"OPENAI_API_KEY": SECRET}
    )

    answer = await ask_chat(caio_nc, caio_prefix)

    assert answer.error["code"] == "service_error"
    assert answer.error["retryable"] is True
    assert answer.error["details"]["reason"] == "upstream_unreachable"


async def test_a_400_is_invalid_request_carrying_the_upstreams_message(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    said = "max_tokens is too large: 99999. This model's maximum context length is 8192"
    upstream.answer_with(json_reply(400, {"error": {"message": said, "type": "invalid"}}))
    await bridge(CHAT, path="/v1", env={"OPENAI_API_KEY": SECRET})

    answer = await ask_chat(caio_nc, caio_prefix)

    assert answer.error["code"] == "invalid_request"
    assert answer.error["message"] == f"the upstream rejected the request: {said}"
    assert "retryable" not in answer.error


async def test_a_refused_credential_is_unavailable_and_keeps_the_upstreams_words_out(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    upstream.answer_with(
        lambda seen: json_reply(
            401, {"error": {"message": f"Incorrect API key: {seen.headers['authorization']}"}}
        )
    )
    await bridge(CHAT, path="/v1", env={"OPENAI_API_KEY": SECRET})

    answer = await ask_chat(caio_nc, caio_prefix)

    assert answer.error["code"] == "service_unavailable"
    assert answer.error["details"]["reason"] == "upstream_unauthorized"
    assert SECRET not in str(answer.body)


async def test_an_answer_that_is_not_json_is_a_service_error(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    upstream.answer_with(Reply(200, {"content-type": "text/plain"}, b"all good"))
    await bridge(CHAT, path="/v1", env={"OPENAI_API_KEY": SECRET})

    answer = await ask_chat(caio_nc, caio_prefix)

    assert answer.error["code"] == "service_error"
    assert answer.error["details"]["reason"] == "invalid_upstream_response"


async def test_a_redirect_is_reported_not_followed(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    upstream.answer_with(Reply(307, {"location": "http://elsewhere.invalid/"}))
    await bridge(CHAT, path="/v1", env={"OPENAI_API_KEY": SECRET})

    answer = await ask_chat(caio_nc, caio_prefix)

    assert answer.error["code"] == "service_error"
    assert answer.error["details"] == {"status": 307, "reason": "unexpected_status"}
    assert upstream.count() == 1
