"""What OpenAI-compatible requests carry, and how they become CAIO route requests.

An OpenAI request names its target in ``model``: ``caio/<capability>``
routes by contract among every service offering that capability; a bare
service id routes to that service (``constraints.service_ids = [id]``) for
the capability its contract offers. CAIO's own route options (requirements,
guarantees, constraints, timeout, request id) ride along in three places,
merged in this order, each later one winning field by field:

1. the ``X-CAIO-Constraints`` header: a JSON object of constraints;
2. ``metadata.caio``: the options as a JSON string (OpenAI's metadata values
   are strings) or an object;
3. a top-level ``caio`` object (the OpenAI SDKs' ``extra_body={"caio": ...}``).

The service's ``context`` is the OpenAI body minus what only CAIO reads:
``model``, ``stream``, ``caio`` and ``metadata.caio``. The service uses its own
model (an HTTP bridge's endpoint ``defaults``); streaming is asked of it by
the route request, not by a body flag it might not know.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from caio_integration.errors import InvalidRequest, NotFound
from caio_integration.subjects import is_safe_token
from caio_integration.wire import RequestId, RouteConstraints, RouteGuarantees, Token, WireBody
from caio_integration.wire import parse as parse_wire

__all__ = [
    "CAPABILITY_PREFIX",
    "CAIOOptions",
    "ChatCompletionRequest",
    "EmbeddingsRequest",
    "ModelTarget",
    "route_options",
    "service_context",
    "target_of",
]

CAPABILITY_PREFIX = "caio/"
CONSTRAINTS_HEADER = "X-CAIO-Constraints"
_CAIO_ONLY = frozenset({"model", "stream", "caio"})


class CAIOOptions(WireBody):
    """CAIO's route options on an OpenAI request (all optional; unknown fields refused)."""

    requirements: list[Token] | None = Field(
        None, description="Capabilities the chosen service must also offer."
    )
    guarantees: RouteGuarantees | None = Field(None, description="As in a route request.")
    constraints: RouteConstraints | None = Field(None, description="As in a route request.")
    timeout_ms: Annotated[int, Field(gt=0, le=3_600_000)] | None = Field(
        None, description="Milliseconds the router may spend; default: the gateway's."
    )
    request_id: RequestId | None = Field(
        None, description="The route's request id (in the audit record); default: generated."
    )


_NO_OPTIONS = CAIOOptions()


class _OpenAIBody(BaseModel):
    # OpenAI adds fields often; whatever this gateway does not read goes to the service.
    model_config = ConfigDict(extra="allow")

    model: str = Field(
        description="`caio/<capability>` (route by contract) or a registered service id.",
        min_length=1,
        max_length=200,
    )
    metadata: dict[str, Any] | None = Field(
        None, description="OpenAI's metadata; its `caio` entry holds CAIO's route options."
    )
    caio: CAIOOptions | None = Field(
        None, description="CAIO's route options (extra body); win over `metadata.caio`."
    )


class ChatCompletionRequest(_OpenAIBody):
    """OpenAI's chat completion request; the fields not listed are passed on."""

    messages: list[dict[str, Any]] = Field(
        min_length=1, description="The conversation, as OpenAI's API takes it."
    )
    stream: bool | None = Field(
        None, description="true: the answer as server-sent `chat.completion.chunk` events."
    )


class EmbeddingsRequest(_OpenAIBody):
    """OpenAI's embeddings request; the fields not listed are passed on."""

    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="The text(s) (or token arrays) to embed."
    )
    encoding_format: str | None = Field(
        None, description="`float` (default) or `base64` (little-endian float32)."
    )


class ModelTarget(BaseModel):
    """Where a ``model`` routes: a capability, or one service (capability from its contract)."""

    model: str
    capability: str | None = None
    service_id: str | None = None


def target_of(model: str) -> ModelTarget:
    """``caio/<capability>`` or a service id; anything else cannot name a model here."""
    if model.startswith(CAPABILITY_PREFIX):
        capability = model.removeprefix(CAPABILITY_PREFIX)
        if not is_safe_token(capability):
            raise InvalidRequest(
                f"model {model!r}: {capability!r} is not a capability name"
                " (1-64 of a-z, 0-9, '_', '-')",
                details={"param": "model"},
            )
        return ModelTarget(model=model, capability=capability)
    if not is_safe_token(model):
        raise NotFound(
            f"no model {model!r}: name one as caio/<capability> or a service id"
            " (GET /v1/models lists them)",
            details={"param": "model"},
        )
    return ModelTarget(model=model, service_id=model)


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"{where} is not JSON", details={"param": where}) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be a JSON object", details={"param": where})
    return value


def _merge(into: dict[str, Any], options: dict[str, Any]) -> None:
    for key, value in options.items():
        if key in ("constraints", "guarantees") and isinstance(value, dict):
            merged = into.get(key)
            into[key] = {**merged, **value} if isinstance(merged, dict) else dict(value)
        else:
            into[key] = value


def route_options(body: _OpenAIBody, constraints_header: str | None) -> CAIOOptions:
    """The route options from the header, ``metadata.caio`` and ``caio``, merged."""
    merged: dict[str, Any] = {}
    if constraints_header:
        merged["constraints"] = _json_object(constraints_header, CONSTRAINTS_HEADER)
    in_metadata = (body.metadata or {}).get("caio")
    if isinstance(in_metadata, str):
        in_metadata = _json_object(in_metadata, "metadata.caio")
    if in_metadata is not None:
        if not isinstance(in_metadata, dict):
            raise InvalidRequest("metadata.caio must be a JSON object", details={"param": "caio"})
        _merge(merged, in_metadata)
    if body.caio is not None:
        _merge(merged, body.caio.model_dump(exclude_none=True))
    # Most requests carry none: the defaults, validated once (the model is frozen).
    return parse_wire(CAIOOptions, merged) if merged else _NO_OPTIONS


def service_context(body: _OpenAIBody) -> dict[str, Any]:
    """The OpenAI body as the service gets it: without what only CAIO reads."""
    context = {
        key: value
        for key, value in body.model_dump(exclude_unset=True).items()
        if key not in _CAIO_ONLY
    }
    metadata = context.get("metadata")
    if isinstance(metadata, dict) and "caio" in metadata:
        rest = {key: value for key, value in metadata.items() if key != "caio"}
        if rest:
            context["metadata"] = rest
        else:
            del context["metadata"]
    return context
