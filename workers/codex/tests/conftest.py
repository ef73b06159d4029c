"""The Codex worker's own tests: a real nats-server from ``caio_integration.testing``.

These tests install with the worker alone (``pip install -e sdk[testing] -e
workers/codex``), so they import nothing from the repository's ``tests``
package: the upstream is ``fake_openai.py`` beside them, a real HTTP server
the real openai SDK talks to. Each worker connects under the test's own
subject prefix and gets a service id derived from it, so the micro service
names (``$SRV.*.<service_id>``) never meet between tests either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from fake_openai import FakeOpenAIServer
from nats.aio.client import Client as NATS

from caio_integration.bridge import WorkerConfig
from caio_integration.contracts.model import ServiceContract
from caio_integration.subjects import Subjects

if TYPE_CHECKING:  # imported where used: pytest must load the plugin module first
    from caio_integration.testing import ServiceAnswer

# Fixtures caio_nats_server, caio_nats_url, caio_prefix, caio_nc, caio_host.
pytest_plugins = ["caio_integration.testing"]

StartWorker = Callable[..., Awaitable[Any]]
CapturedLogs = Callable[[], contextlib.AbstractContextManager[list[dict[str, Any]]]]
CODEX_CAPABILITIES = [
    "code_generation",
    "code_review",
    "code_execution",
    "file_operations",
    "command_execution",
    "web_search",
]


@pytest.fixture(autouse=True)
def _without_the_callers_caio(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CAIO_* or OPENAI_* variable exported in the shell must not change a test."""
    for name in list(os.environ):
        if name.startswith(("CAIO_", "OPENAI_")) and not name.startswith("CAIO_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def service_id(caio_prefix: str) -> str:
    return f"svc-{caio_prefix}"


@pytest.fixture
def codex_contract(service_id: str) -> ServiceContract:
    """Seed 001's Codex contract, under this test's service id."""
    return ServiceContract.model_validate(
        {
            "id": service_id,
            "name": "Codex Bridge Service",
            "version": "1.0.0",
            "capabilities": [{"type": cap} for cap in CODEX_CAPABILITIES],
            "constraints": {"max_concurrent_requests": 10},
        }
    )


@pytest.fixture
def worker_config(caio_nats_url: str, caio_prefix: str) -> Callable[..., WorkerConfig]:
    """A ``WorkerConfig`` for the session's server and this test's prefix, with overrides."""
    return lambda **overrides: WorkerConfig(
        **{"nats_url": caio_nats_url, "prefix": caio_prefix, **overrides}
    )


@pytest.fixture
def start_worker(caio_worker: StartWorker) -> StartWorker:
    """``await start_worker(cls, contract, worker_kwargs=..., **config)``: the SDK's
    ``caio_worker``; every worker is stopped after the test."""
    return caio_worker


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (see fake_openai.py)."""
    with FakeOpenAIServer(slow_max_s=10.0) as server:
        yield server


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> CapturedLogs:
    """``with captured_logs() as logs``: the entries logged inside, each a dict with an
    ``event``. The SDK logs through structlog when it is installed (the repository's
    environment), else through the standard ``logging`` module (the worker alone)."""

    @contextlib.contextmanager
    def capture() -> Iterator[list[dict[str, Any]]]:
        try:
            from structlog.testing import capture_logs
        except ImportError:
            logs: list[dict[str, Any]] = []
            with caplog.at_level(logging.DEBUG):
                yield logs
            for record in caplog.records:  # every logger's, the openai SDK's too
                # The SDK's stdlib logger writes "%s %s" % (event, "key=value ...").
                sdk_line = record.msg == "%s %s" and isinstance(record.args, tuple)
                event = record.args[0] if sdk_line else record.msg
                logs.append({"event": event, "line": record.getMessage()})
        else:
            with capture_logs() as entries:
                yield entries

    return capture


# -- streamed answers ------------------------------------------------------------------
# caio_integration.testing has ask_service for one reply; a streamed answer is
# several messages on one reply subject, read here.


@dataclass(frozen=True, slots=True)
class StreamedAnswer:
    """A service's streamed answer: each chunk's ``data`` in order, then the final reply."""

    chunks: list[dict[str, Any]]
    final: ServiceAnswer
    raw: list[bytes]  # every message as it came, to look for what must not be there


AskStream = Callable[..., Awaitable[StreamedAnswer]]


async def read_service_stream(
    nc: NATS, subject: str, body: dict[str, Any], *, timeout_s: float = 10.0
) -> StreamedAnswer:
    """Send ``body`` (with ``stream: true``) to ``subject`` with a reply subject of its own;
    read chunks until the final reply. Checks what every chunk must be on the way."""
    from caio_integration.testing import ServiceAnswer

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    chunks: list[dict[str, Any]] = []
    raw: list[bytes] = []
    try:
        await nc.publish(subject, json.dumps({**body, "stream": True}).encode(), reply=inbox)
        while True:
            msg = await sub.next_msg(timeout=timeout_s)
            if msg.headers and msg.headers.get("Status") == "503":
                raise AssertionError(f"no responders on {subject}")
            raw.append(msg.data)
            message = json.loads(msg.data)
            assert isinstance(message, dict), message
            if message.get("status") != "chunk":
                return StreamedAnswer(chunks, ServiceAnswer(message, dict(msg.headers or {})), raw)
            assert message["seq"] == len(chunks), f"seq {message['seq']} after {len(chunks)}"
            assert message["request_id"] == body["request_id"]
            assert isinstance(message["data"], dict)
            chunks.append(message["data"])
    finally:
        await sub.unsubscribe()


@pytest.fixture
def ask_stream(caio_nc: NATS, caio_prefix: str) -> AskStream:
    """``await ask_stream(service_id, capability, context, **request fields)``: a
    router-shaped ``stream: true`` request straight to a worker, read to its end."""

    async def ask(
        service_id: str,
        capability: str,
        context: dict[str, Any] | None = None,
        *,
        timeout_s: float = 10.0,
        **fields: Any,
    ) -> StreamedAnswer:
        from caio_integration.testing import service_request

        subject = Subjects(caio_prefix).service(service_id, capability)
        body = service_request(capability, context, **fields)
        return await read_service_stream(caio_nc, subject, body, timeout_s=timeout_s)

    return ask
