"""The services the gateway's tests route to: real ``AIUCPService`` workers.

``EchoModels`` answers as an OpenAI-compatible upstream does (an HTTP
bridge passes such JSON through as its result): chat completions, streamed
``chat.completion.chunk`` pieces, embeddings. ``PlainSummary`` answers in a
shape of its own (``{"text"}``) and does not stream, for the wrapping rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from caio_integration import AIUCPService, WorkResult, parse_contract
from caio_integration.errors import InvalidRequest, ServiceError

CREATED = 1_700_000_000


def contract(service_id: str, capabilities: list[str]) -> dict[str, Any]:
    return {
        "service": {
            "id": service_id,
            "name": f"Test service {service_id}",
            "version": "1.0.0",
            "capabilities": [{"type": name} for name in capabilities],
            "guarantees": {"latency": {"property": "p95_latency_ms", "bound": {"max": 2000}}},
            "cost": {"model": "free"},
            "privacy": {"data_locality": "on_prem"},
        }
    }


def _last_words(request: dict[str, Any]) -> str:
    # As an upstream would: a request it cannot read is the caller's error, not a crash.
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        raise InvalidRequest("messages must be a non-empty list of messages")
    return str(messages[-1].get("content"))


def _chunk(piece: str, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": piece} if piece else {}
    return {
        "id": "chatcmpl-echo",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "echo-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class EchoModels(AIUCPService):
    """chat: says the last message back; text_embedding: three numbers per input."""

    def __init__(self, service_id: str) -> None:
        super().__init__()
        self.contract = parse_contract(contract(service_id, ["chat", "text_embedding"]))
        self.contexts: list[dict[str, Any]] = []

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> WorkResult:
        self.contexts.append(request)
        assert context is not None
        if context["capability"] == "text_embedding":
            texts = request.get("input")
            texts = [texts] if isinstance(texts, str) else texts
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise InvalidRequest("input must be a string or a list of strings")
            data = [
                {"object": "embedding", "index": i, "embedding": [float(len(t)), 0.5, -1.0]}
                for i, t in enumerate(texts)
            ]
            usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
            return WorkResult({"object": "list", "data": data, "model": "echo-embed"}, usage)
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        completion = {
            "id": "chatcmpl-echo",
            "object": "chat.completion",
            "created": CREATED,
            "model": "echo-1",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"echo: {_last_words(request)}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        return WorkResult(completion, usage)

    async def execute_stream(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any] | WorkResult]:
        self.contexts.append(request)
        words = _last_words(request)
        if words == "break after one chunk":
            yield _chunk("echo")
            raise ServiceError("the upstream went away", details={"reason": "upstream_gone"})
        for piece in ("echo", ": ", words):
            yield _chunk(piece)
        yield _chunk("", "stop")
        yield WorkResult(
            {"text": f"echo: {words}"},
            {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
        )


class PlainSummary(AIUCPService):
    """summary: ``{"text": "..."}``, nothing like OpenAI's shapes; never streams."""

    def __init__(self, service_id: str) -> None:
        super().__init__()
        self.contract = parse_contract(contract(service_id, ["summary"]))

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"text": f"in short: {_last_words(request)}"}
