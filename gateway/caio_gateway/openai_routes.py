"""``/v1``: the OpenAI-compatible API (chat completions, embeddings, models).

Each request becomes one CAIO route request sent with the caller's key
(``openai_models`` says how); each answer is put in the shape OpenAI's SDKs
parse (``openai_shapes``). Errors use OpenAI's error body with CAIO's code
(``errors``), installed for this prefix by ``app``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from caio_gateway.bus import Caller, CallerDep
from caio_gateway.errors import OPENAI_ERRORS, json_response, openai_error_response, reply_headers
from caio_gateway.openai_models import (
    CAIOOptions,
    ChatCompletionRequest,
    EmbeddingsRequest,
    route_options,
    service_context,
    target_of,
)
from caio_gateway.openai_shapes import (
    chunk_from,
    chunk_from_completion,
    completion_from,
    embeddings_from,
    model_list,
)
from caio_gateway.sse import DONE, StreamShape, event, open_stream, sse_response
from caio_integration.client import CAIOClient
from caio_integration.errors import CAIOError, InvalidRequest, NotFound
from caio_integration.wire import RouteReply, StreamChunk

__all__ = ["CHAT_PATH", "chat_completion", "router"]

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], responses=OPENAI_ERRORS)
CHAT_PATH = f"{router.prefix}/chat/completions"  # the path ``hot_path`` serves too

# For a bare service id: which of its capabilities each endpoint asks for, in
# order of preference; a service with one capability is asked for that one.
CHAT_CAPABILITIES = ("chat_completion", "chat", "text_generation", "code_generation")
EMBEDDING_CAPABILITIES = ("text_embedding", "embedding", "embeddings")
ConstraintsHeader = Annotated[
    str | None,
    Header(
        alias="X-CAIO-Constraints",
        description="CAIO route constraints as a JSON object (see `caio` for all options).",
    ),
]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatCompletion(_Loose):
    id: str
    object: str
    created: int
    model: str
    choices: list[dict[str, Any]]


class EmbeddingList(_Loose):
    object: str
    data: list[dict[str, Any]]
    model: str
    usage: dict[str, Any]


class Model(_Loose):
    id: str
    object: str
    created: int
    owned_by: str


class ModelList(_Loose):
    object: str
    data: list[Model]


async def _capability_of(client: CAIOClient, service_id: str, preferred: tuple[str, ...]) -> str:
    try:
        info = await client.get_service(service_id)
    except NotFound:
        raise NotFound(
            f"no model {service_id!r}: no service has that id; name a capability as"
            " caio/<capability> (GET /v1/models lists both)",
            details={"param": "model"},
        ) from None
    offered = [cap.get("type") for cap in info.contract.get("service", {}).get("capabilities", [])]
    names = [name for name in offered if isinstance(name, str)]
    if not names:
        raise NotFound(f"service {service_id!r} offers no capability", details={"param": "model"})
    if len(names) == 1:
        return names[0]
    return next((name for name in preferred if name in names), names[0])


async def _route_call(
    client: CAIOClient,
    model: str,
    options: CAIOOptions,
    preferred: tuple[str, ...],
    timeout_ms: int,
) -> tuple[str, dict[str, Any]]:
    """The capability to route to, and the route options as ``CAIOClient`` takes them."""
    target = target_of(model)
    constraints = options.constraints.model_dump(exclude_none=True) if options.constraints else {}
    if target.service_id is not None:
        wanted = constraints.get("service_ids")
        if wanted is not None and target.service_id not in wanted:
            raise InvalidRequest(
                f"model {model!r} names a service that constraints.service_ids leaves out",
                details={"param": "model"},
            )
        constraints["service_ids"] = [target.service_id]
        capability = await _capability_of(client, target.service_id, preferred)
    else:
        assert target.capability is not None
        capability = target.capability
    guarantees = options.guarantees.model_dump(exclude_none=True) if options.guarantees else None
    return capability, {
        "requirements": options.requirements,
        "guarantees": guarantees,
        "constraints": constraints or None,
        "timeout_ms": options.timeout_ms or timeout_ms,
        "request_id": options.request_id,
    }


class _ChatStream(StreamShape):
    """Chunks as ``chat.completion.chunk`` events, ended by ``[DONE]``."""

    def __init__(self, model: str, request_id: str | None, include_usage: bool) -> None:
        self.model = model
        self.request_id = request_id or ""
        self.include_usage = include_usage

    def chunk(self, chunk: StreamChunk) -> bytes:
        self.request_id = chunk.request_id or self.request_id
        return event(_dumps(chunk_from(chunk.data, self.request_id, self.model)))

    def reply(self, reply: RouteReply, chunks: int) -> list[bytes]:
        completion = completion_from(reply, self.model)
        if chunks == 0:  # the service answered at once: its answer is the one chunk
            return [event(_dumps(chunk_from_completion(completion))), DONE]
        usage = completion.get("usage")
        if self.include_usage and usage is not None:
            last = {key: completion[key] for key in ("id", "created", "model")}
            last.update(object="chat.completion.chunk", choices=[], usage=usage)
            return [event(_dumps(last)), DONE]
        return [DONE]

    def error(self, error: CAIOError) -> bytes:
        # OpenAI's SDKs raise APIError on an event whose data carries "error".
        return event(bytes(openai_error_response(error).body))


def _dumps(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data)


@router.post("/chat/completions", response_model=ChatCompletion, summary="Chat completion")
async def chat_completions(
    body: ChatCompletionRequest, caller: CallerDep, constraints: ConstraintsHeader = None
) -> Response:
    """Route to `caio/<capability>` or a service id; `stream: true` answers with SSE."""
    return await chat_completion(body, caller, constraints)


async def chat_completion(
    body: ChatCompletionRequest, caller: Caller, constraints: str | None
) -> Response:
    """The answer to a chat completion request, for the route above and ``hot_path``."""
    client = caller.client()
    options = route_options(body, constraints)
    capability, call = await _route_call(
        client, body.model, options, CHAT_CAPABILITIES, caller.bus.config.route_timeout_ms
    )
    context = service_context(body)
    if body.stream:
        stream = client.stream(capability, context, **call)
        first = await open_stream(stream)
        stream_options = body.model_extra.get("stream_options") if body.model_extra else None
        include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage")
        shape = _ChatStream(body.model, call["request_id"], bool(include_usage))
        answered = first if first is not None else stream.reply
        request_id = answered.request_id if answered is not None else None
        service_id = answered.service_id if answered is not None else None
        return sse_response(stream, first, shape, reply_headers(request_id, service_id))
    reply = await client.route(capability, context, **call)
    return json_response(
        completion_from(reply, body.model),
        headers=reply_headers(reply.request_id, reply.service_id),
    )


@router.post("/embeddings", response_model=EmbeddingList, summary="Embeddings")
async def embeddings(
    body: EmbeddingsRequest, caller: CallerDep, constraints: ConstraintsHeader = None
) -> Response:
    """Route to `caio/<capability>` (usually `caio/text_embedding`) or a service id."""
    client = caller.client()
    options = route_options(body, constraints)
    capability, call = await _route_call(
        client, body.model, options, EMBEDDING_CAPABILITIES, caller.bus.config.route_timeout_ms
    )
    reply = await client.route(capability, service_context(body), **call)
    return json_response(
        embeddings_from(reply, body.model, body.encoding_format),
        headers=reply_headers(reply.request_id, reply.service_id),
    )


@router.get("/models", response_model=ModelList, summary="List models")
async def list_models(caller: CallerDep) -> Response:
    """`caio/<capability>` for every capability a registered service offers, then each
    service id."""
    return json_response(model_list(await caller.client().list_services()))


@router.get("/models/{model:path}", response_model=Model, summary="Retrieve a model")
async def retrieve_model(model: str, caller: CallerDep) -> Response:
    """One entry of the model list; `not_found` for a name it does not hold."""
    for entry in model_list(await caller.client().list_services())["data"]:
        if entry["id"] == model:
            return json_response(entry)
    raise NotFound(f"no model {model!r} (GET /v1/models lists them)", details={"param": "model"})
