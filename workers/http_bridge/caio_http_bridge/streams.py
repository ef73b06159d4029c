"""An upstream's streamed answer, as the chunks a CAIO stream carries.

Two formats cover the model servers people run:

- ``sse``: server-sent events (OpenAI and every server compatible with it,
  vLLM, llama.cpp, Ollama's ``/v1``; the Anthropic Messages API). Each
  event's ``data`` is one JSON object, one chunk; ``done`` (``[DONE]``)
  ends the stream.
- ``ndjson``: one JSON object a line (Ollama's native API).

Each chunk is passed on as the upstream wrote it. The final result is cheap
to assemble on the way: how many chunks came, the text found at each
chunk's ``text_path`` joined (``choices.0.delta.content`` for OpenAI chat,
``delta.text`` for Anthropic), and the last ``usage`` objects merged.

A stream that breaks is a ``service_error``: a line that is not a JSON
object, an error event (``event: error``, a chunk of ``type: error``, or a
chunk that is only ``{"error": ...}``), or an end before the ``done``
marker when the format has one (the answer was cut short, whatever was sent).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

from caio_http_bridge.credentials import scrub
from caio_http_bridge.upstream_errors import upstream_message
from caio_integration._json import JSONDecodeError, loads
from caio_integration.contracts.model import HttpStream
from caio_integration.errors import ServiceError
from caio_integration.service import WorkResult

__all__ = ["StreamReader", "lines", "text_at"]

# Line ends as server-sent events define them (CRLF, LF, or a lone CR); the
# bytes never occur inside a UTF-8 character, so bytes are split before decoding.
_LINE_END = re.compile(rb"\r\n|\r|\n")


class StreamReader:
    """Reads one upstream stream: ``chunks(lines)`` yields objects, ``final()`` sums them up."""

    __slots__ = ("_path", "_secrets", "_spec", "_text", "_usage", "count")

    def __init__(self, spec: HttpStream, secrets: Iterable[str] = ()) -> None:
        self._spec = spec
        self._secrets = tuple(secrets)
        self._path = _path_parts(spec.text_path)
        self._text: list[str] = []
        self._usage: dict[str, Any] = {}
        self.count = 0

    async def chunks(self, lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
        """Each chunk object of the stream, in order; raises ``ServiceError`` when it breaks."""
        events = _sse_events(lines) if self._spec.format == "sse" else _ndjson_events(lines)
        async for event, data in events:
            if self._spec.done is not None and data.strip() == self._spec.done:
                return
            chunk = self._decode(event, data)
            self.count += 1
            self._collect(chunk)
            yield chunk
        if self._spec.done is not None:
            raise ServiceError(
                f"the upstream's stream ended after {self.count} chunks, "
                f"before its end marker {self._spec.done!r}",
                details={"reason": "stream_truncated", "chunks": self.count},
                retryable=True,
            )

    def final(self) -> WorkResult:
        """``{"chunks": n}`` (and ``text`` when the contract says where it is), with usage."""
        result: dict[str, Any] = {"chunks": self.count}
        if self._path is not None:
            result["text"] = "".join(self._text)
        return WorkResult(result, dict(self._usage))

    def _decode(self, event: str, data: str) -> dict[str, Any]:
        try:
            chunk = loads(data)
        except JSONDecodeError:
            chunk = None
        if event == "error" or _is_error(chunk):
            said = upstream_message(data.encode(), self._secrets)
            raise ServiceError(
                f"the upstream's stream failed after {self.count} chunks: {said or 'no message'}",
                details={"reason": "upstream_stream_error", "chunks": self.count},
            )
        if not isinstance(chunk, dict):
            raise ServiceError(
                f"the upstream's stream sent something that is not a JSON object "
                f"after {self.count} chunks: {scrub(data, self._secrets, 80)!r}",
                details={"reason": "invalid_stream_chunk", "chunks": self.count},
            )
        return chunk

    def _collect(self, chunk: dict[str, Any]) -> None:
        if self._path is not None:
            piece = text_at(chunk, self._path)
            if piece:
                self._text.append(piece)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage.update(usage)


def _is_error(chunk: object) -> bool:
    if not isinstance(chunk, dict):
        return False
    return chunk.get("type") == "error" or (set(chunk) == {"error"})


def _path_parts(path: str | None) -> tuple[str | int, ...] | None:
    if path is None:
        return None
    return tuple(int(part) if part.isdigit() else part for part in path.split("."))


def text_at(chunk: object, path: tuple[str | int, ...]) -> str | None:
    """The string at ``path`` (keys and list indexes) in ``chunk``, or None."""
    node = chunk
    for part in path:
        if isinstance(part, int) and isinstance(node, list) and -len(node) <= part < len(node):
            node = node[part]
        elif isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        else:
            return None
    return node if isinstance(node, str) else None


async def lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The text lines in a body that arrives in arbitrary pieces, without their line ends.

    Only CR and LF end a line: a JSON string may hold U+2028 and friends,
    which ``str.splitlines`` would cut at.
    """
    rest = b""
    async for chunk in chunks:
        data = rest + chunk
        # A CR at the end may be the first half of a CRLF: wait for the next piece.
        keep = 1 if data.endswith(b"\r") else 0
        parts = _LINE_END.split(data[: len(data) - keep])
        rest = parts.pop() + data[len(data) - keep :]
        for part in parts:
            yield part.decode("utf-8", "replace")
    if rest:
        yield rest.removesuffix(b"\r").decode("utf-8", "replace")


async def _sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """``(event name, data)`` for each server-sent event (the WHATWG parsing rules, trimmed)."""
    event, data = "", list[str]()
    async for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue  # a comment: a keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:  # a last event without its blank line
        yield event, "\n".join(data)


async def _ndjson_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    async for line in lines:
        if line.strip():
            yield "", line
