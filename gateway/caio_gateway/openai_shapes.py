"""A service's result in the shapes OpenAI's SDKs parse.

The rule, for chat (docs/gateway.md): a result that already is a chat
completion (it has a ``choices`` list; an HTTP bridge passes an upstream's
JSON through as its result) is returned as it is, with ``id``, ``object``,
``created`` and ``model`` filled in only where missing. Any other result is
wrapped as one assistant message whose content is ``result["text"]`` when
that is a string, else the result as JSON text. Streamed chunks follow the
same rule as ``chat.completion.chunk`` objects. Embeddings accept an OpenAI
embedding list (``data``), or ``embeddings`` (a list of vectors) or
``embedding`` (one vector).
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

import orjson

from caio_integration.errors import ServiceError
from caio_integration.wire import RouteReply, ServiceSummary

__all__ = [
    "chunk_from",
    "chunk_from_completion",
    "completion_from",
    "embeddings_from",
    "model_list",
]

_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


def _text(result: dict[str, Any]) -> str:
    for key in ("text", "content"):
        value = result.get(key)
        if isinstance(value, str):
            return value
    return orjson.dumps(result).decode()


def _usage(reply: RouteReply) -> dict[str, Any] | None:
    """The reply's usage when it counts tokens as OpenAI does, else None."""
    usage = reply.usage or {}
    if "prompt_tokens" not in usage:
        return None
    counts = {name: usage.get(name, 0) for name in _USAGE_FIELDS}
    if not all(isinstance(value, int) for value in counts.values()):
        return None
    if "total_tokens" not in usage:
        counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
    return counts


def _stamp(obj: dict[str, Any], kind: str, request_id: str, model: str) -> dict[str, Any]:
    # Only where missing: an upstream's own id and model name say who really answered.
    obj.setdefault("id", f"chatcmpl-{request_id}")
    obj.setdefault("object", kind)
    obj.setdefault("created", int(time.time()))
    obj.setdefault("model", model)
    return obj


def completion_from(reply: RouteReply, model: str) -> dict[str, Any]:
    """The reply's result as a ``chat.completion`` object."""
    result = reply.result or {}
    if isinstance(result.get("choices"), list):
        completion = dict(result)
    else:
        message = {"role": "assistant", "content": _text(result)}
        completion = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    if "usage" not in completion and (usage := _usage(reply)) is not None:
        completion["usage"] = usage
    return _stamp(completion, "chat.completion", reply.request_id, model)


def chunk_from(data: dict[str, Any], request_id: str, model: str) -> dict[str, Any]:
    """One streamed piece as a ``chat.completion.chunk`` object."""
    if isinstance(data.get("choices"), list):
        chunk = dict(data)
    else:
        delta = {"content": _text(data)}
        chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return _stamp(chunk, "chat.completion.chunk", request_id, model)


def chunk_from_completion(completion: dict[str, Any]) -> dict[str, Any]:
    """A whole completion as one chunk: the stream of a service that does not stream."""
    choices = []
    for position, choice in enumerate(completion.get("choices") or []):
        message = choice.get("message") if isinstance(choice, dict) else None
        delta = dict(message) if isinstance(message, dict) else {}
        index = choice.get("index", position) if isinstance(choice, dict) else position
        finish = choice.get("finish_reason", "stop") if isinstance(choice, dict) else "stop"
        choices.append({"index": index, "delta": delta, "finish_reason": finish})
    chunk = {key: value for key, value in completion.items() if key not in ("choices", "object")}
    chunk["object"] = "chat.completion.chunk"
    chunk["choices"] = choices
    return chunk


def _vector(embedding: Any, base64_wanted: bool) -> Any:
    if base64_wanted and isinstance(embedding, list):
        return base64.b64encode(struct.pack(f"<{len(embedding)}f", *embedding)).decode()
    return embedding


def embeddings_from(reply: RouteReply, model: str, encoding_format: str | None) -> dict[str, Any]:
    """The reply's result as OpenAI's embedding list; ``ServiceError`` if it holds none."""
    result = reply.result or {}
    as_base64 = encoding_format == "base64"
    if isinstance(result.get("data"), list):
        out = dict(result)
        out["data"] = [
            {**item, "embedding": _vector(item.get("embedding"), as_base64)}
            if isinstance(item, dict)
            else item
            for item in result["data"]
        ]
    else:
        vectors = result.get("embeddings")
        if vectors is None and isinstance(result.get("embedding"), list):
            vectors = [result["embedding"]]
        if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
            raise ServiceError(
                f"service {reply.service_id} answered without embeddings"
                " (expected data, embeddings or embedding)",
                details={"reason": "not_embeddings", "service_id": reply.service_id},
                request_id=reply.request_id,
            )
        out = {
            "data": [
                {"object": "embedding", "index": i, "embedding": _vector(v, as_base64)}
                for i, v in enumerate(vectors)
            ]
        }
    out.setdefault("object", "list")
    out.setdefault("model", model)
    if "usage" not in out:
        usage = _usage(reply) or {"prompt_tokens": 0, "total_tokens": 0}
        out["usage"] = {
            "prompt_tokens": usage["prompt_tokens"],
            "total_tokens": usage["total_tokens"],
        }
    return out


def model_list(services: list[ServiceSummary]) -> dict[str, Any]:
    """``caio/<capability>`` for each capability offered, then each service id."""
    capabilities = sorted({cap for service in services for cap in service.capabilities})
    data = [
        {"id": f"caio/{cap}", "object": "model", "created": 0, "owned_by": "caio"}
        for cap in capabilities
    ]
    data += [
        {"id": service.service_id, "object": "model", "created": 0, "owned_by": "caio"}
        for service in sorted(services, key=lambda s: s.service_id)
    ]
    return {"object": "list", "data": data}
