"""The Codex worker's streamed answers: ``chat.completions`` with ``stream: true``.

Each text delta the upstream sends becomes one chunk ``{"delta": "<text>"}``,
passed on as it comes; the last item is the ``WorkResult`` the plain call
would have returned (the capability's result built from the whole text) with
the upstream's usage, which ``stream_options.include_usage`` asks for.

The call is the SDK's raw ``client.post`` with ``stream=True`` and
``stream_cls=AsyncStream[ChatCompletionChunk]``, the same documented raw call
as the plain path (docs/workers.md says why), over the same client.

Failures:

- the call itself (HTTP status, connection, timeout before the response
  began) maps exactly as the plain call's (``upstream.upstream_error``);
- a refusal or ``finish_reason: content_filter`` is ``refused``, as in the
  plain call, wherever it comes;
- a response body that breaks (connection lost, a gap longer than the
  timeout, an in-band error event, unreadable data, or an end without a
  ``finish_reason``) is ``service_error``, ``details.reason:
  "upstream_stream_broken"``, with ``details.chunks`` (how many were sent):
  retryable before the first chunk (the router may still try another
  service), not after it (the caller already has part of an answer).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from caio_codex.upstream import Warns, failed_call, refused, scrub, usage_of
from caio_integration.bridge import WorkResult
from caio_integration.errors import ServiceError

__all__ = ["ResultOf", "stream_chat"]

#: Builds the capability's result from (the whole text, the model, the finish reason).
ResultOf = Callable[[str, str, str], dict[str, Any]]


async def stream_chat(
    client: openai.AsyncOpenAI,
    body: dict[str, Any],
    *,
    result_of: ResultOf,
    api_key: str,
    log: Warns,
) -> AsyncGenerator[dict[str, Any] | WorkResult, None]:
    """Yield ``{"delta": text}`` per upstream text delta, then the final ``WorkResult``."""
    try:
        upstream = await client.post(
            "/chat/completions",
            cast_to=ChatCompletion,
            body={**body, "stream": True, "stream_options": {"include_usage": True}},
            stream=True,
            stream_cls=openai.AsyncStream[ChatCompletionChunk],
        )
    except openai.OpenAIError as exc:
        raise failed_call(exc, api_key, log) from None
    parts: list[str] = []
    model = str(body["model"])
    finish: str | None = None
    usage: dict[str, Any] = {}
    # The response is closed however this generator ends: done, failed, or
    # closed early (the request's deadline, the caller gone).
    async with upstream:
        while True:
            try:
                chunk = await anext(upstream)
            except StopAsyncIteration:
                break
            except (openai.OpenAIError, ValueError) as exc:  # ValueError: unreadable JSON
                raise _broken(exc, len(parts), api_key, log) from None
            # The SDK builds chunks without validating them: an OpenAI-compatible
            # server may leave out what OpenAI always sends, hence getattr.
            model = getattr(chunk, "model", None) or model
            if getattr(chunk, "usage", None) is not None:
                usage = usage_of(chunk.usage)
            choices = getattr(chunk, "choices", None)
            if not choices:
                continue  # the usage chunk has none
            finish = choices[0].finish_reason or finish
            delta = getattr(choices[0], "delta", None)
            refusal = delta.refusal if delta is not None else None
            if refusal or finish == "content_filter":
                raise refused(refusal, finish)
            text = delta.content if delta is not None else None
            if text:
                parts.append(text)
                yield {"delta": text}
    if finish is None:
        raise _broken(None, len(parts), api_key, log)
    yield WorkResult(result_of("".join(parts), model, finish), usage)


def _broken(exc: BaseException | None, chunks: int, api_key: str, log: Warns) -> ServiceError:
    """A stream that ended before its end: retryable only while nothing was sent."""
    if exc is None:
        why = "it ended without a finish_reason"
    elif isinstance(exc, openai.APITimeoutError):
        why = "nothing came for longer than the timeout"
    elif isinstance(exc, openai.APIConnectionError):
        why = "the connection was lost"
    elif isinstance(exc, openai.APIError):  # an in-band error event
        why = f"the upstream sent an error: {scrub(exc.message, api_key)}"
    else:
        why = "it sent data that is not a chat.completion.chunk"
    log.warning(
        "upstream stream broke",
        chunks=chunks,
        error=type(exc).__name__ if exc is not None else None,
        upstream_request_id=getattr(exc, "request_id", None),
    )
    return ServiceError(
        f"the upstream's stream broke after {chunks} chunks: {why}",
        details={"reason": "upstream_stream_broken", "chunks": chunks},
        retryable=chunks == 0,
    )
