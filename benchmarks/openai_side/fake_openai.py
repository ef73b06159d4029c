"""A fake OpenAI-compatible server that is cheap enough never to be the bottleneck.

Both sides of the comparison (CAIO's Codex worker, LiteLLM's proxy) talk to
this upstream, so its own cost per request must be negligible next to theirs.
It is therefore written on a bare asyncio.Protocol (uvloop when installed)
with just enough HTTP/1.1 to serve keep-alive and pipelined requests, rather
than on a web framework.

A request with ``"stream": true`` is answered as OpenAI streams: server-sent
events over chunked transfer encoding, a role chunk, ``--stream-chunks``
content chunks, a finish chunk (and a usage chunk when
``stream_options.include_usage`` asks), then ``data: [DONE]``. With
``--chunk-interval-ms``, every event after the first waits that long, as a
model's tokens would; a proxy that buffers a stream then shows it in its
time to first token.

Run as its own process:  python -m benchmarks.openai_side.fake_openai --port 0
It prints one line ``READY {"port": N}`` once listening and exits on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import itertools
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson

CONTENT = "```python\ndef f():\n    return 1\n```"
DEFAULT_MODEL = "fake-ok"
MAX_HEAD = 64 * 1024  # larger request heads are refused, the buffer never grows unbounded

_ids = itertools.count(1)
# chat.completion split around the parts that change per request (id, created, model).
_CHAT_A = b'{"id":"chatcmpl-fake'
_CHAT_B = b'","object":"chat.completion","created":'
_CHAT_C = b',"model":'
_USAGE = {"prompt_tokens": 32, "completion_tokens": 12, "total_tokens": 44}
_CHAT_D = orjson.dumps(
    {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": CONTENT},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _USAGE,
    }
)[1:]  # drop the leading "{": it is appended after the model field
_MODELS = orjson.dumps(
    {
        "object": "list",
        "data": [{"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "fake"}],
    }
)
_HEALTH = b'{"status":"ok"}'
_NOT_FOUND = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
_BAD = b'{"error":{"message":"bad request","type":"invalid_request_error"}}'


def _response(status: bytes, body: bytes, *, close: bool = False) -> bytes:
    conn = b"close" if close else b"keep-alive"
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: " + conn + b"\r\n\r\n" + body
    )  # fmt: skip


_STATIC = {
    b"/v1/models": _response(b"200 OK", _MODELS),
    b"/models": _response(b"200 OK", _MODELS),
    b"/health": _response(b"200 OK", _HEALTH),
    b"/healthz": _response(b"200 OK", _HEALTH),
    b"/v1/health": _response(b"200 OK", _HEALTH),
    b"/health/liveliness": _response(b"200 OK", _HEALTH),
    b"/health/readiness": _response(b"200 OK", _HEALTH),
    b"/": _response(b"200 OK", _HEALTH),
}
_CHAT_PATHS = frozenset((b"/v1/chat/completions", b"/chat/completions"))
_RESP_404 = _response(b"404 Not Found", _NOT_FOUND)
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache"
    b"\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
)
_LAST_CHUNK = b"0\r\n\r\n"  # the end of a chunked body


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How a ``"stream": true`` request is answered."""

    chunks: int = 8  # content chunks, between the role chunk and the finish chunk
    interval_s: float = 0.0  # pause before every event after the first


def _request(body: bytes) -> tuple[str, dict[str, Any]]:
    """The request's model (the default when it names none) and its JSON object."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return DEFAULT_MODEL, {}
    if not isinstance(request, dict):
        return DEFAULT_MODEL, {}
    model = request.get("model")
    return (model if isinstance(model, str) and model else DEFAULT_MODEL), request


def _completion(model: str) -> bytes:
    payload = b"".join(
        (
            _CHAT_A,
            str(next(_ids)).encode(),
            _CHAT_B,
            str(int(time.time())).encode(),
            _CHAT_C,
            orjson.dumps(model),
            b",",
            _CHAT_D,
        )
    )
    return _response(b"200 OK", payload)


def chat_completion(body: bytes) -> bytes:
    """A full HTTP response with a canned chat.completion that echoes the request's model."""
    return _completion(_request(body)[0])


def _pieces(text: str, count: int) -> list[str]:
    """``text`` cut into ``count`` consecutive pieces, none empty while the text lasts."""
    count = max(count, 1)
    size, longer = divmod(len(text), count)
    bounds = [i * size + min(i, longer) for i in range(count + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(count)]


def stream_events(model: str, request: dict[str, Any], chunks: int) -> list[bytes]:
    """The SSE events of a streamed chat completion, each ``data: ...\\n\\n``, [DONE] last."""
    base = {
        "id": f"chatcmpl-fake{next(_ids)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice]}

    objects = [chunk({"role": "assistant", "content": ""})]
    objects += [chunk({"content": piece}) for piece in _pieces(CONTENT, chunks)]
    objects.append(chunk({}, "stop"))
    options = request.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        objects.append({**base, "choices": [], "usage": _USAGE})
    events = [b"data: " + orjson.dumps(obj) + b"\n\n" for obj in objects]
    return [*events, b"data: [DONE]\n\n"]


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


class FakeOpenAIProtocol(asyncio.Protocol):
    """One connection: parses as many complete requests as the buffer holds per read.

    A stream paced with ``interval_s`` holds back any later (pipelined)
    request on its connection until its last event is written.
    """

    def __init__(
        self, connections: set[asyncio.Transport], stream: StreamSettings | None = None
    ) -> None:
        self._connections = connections
        self._stream = stream or StreamSettings()
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._pacing: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only look-alikes.
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pacing is not None:
            self._pacing.cancel()
            self._pacing = None
        if self._transport is not None:
            self._connections.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._pacing is None:
            self._serve()

    def _serve(self) -> None:
        buf = self._buf
        out: list[bytes] = []
        close = False
        paced: list[bytes] = []
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                if len(buf) > MAX_HEAD:
                    out.append(_response(b"431 Request Header Fields Too Large", _BAD, close=True))
                    close = True
                break
            raw = bytes(buf[:head_end])
            head = raw.lower()  # header names are case-insensitive; the path is not
            line_end = raw.find(b"\r\n")
            request_line = raw if line_end < 0 else raw[:line_end]
            parts = request_line.split(b" ")
            length = 0
            cl = head.find(b"\r\ncontent-length:")
            if cl >= 0:
                value_end = head.find(b"\r\n", cl + 17)
                try:
                    length = int(head[cl + 17 : value_end if value_end >= 0 else None])
                except ValueError:
                    length = -1
            if len(parts) != 3 or length < 0:
                out.append(_response(b"400 Bad Request", _BAD, close=True))
                close = True
                break
            end = head_end + 4 + length
            if len(buf) < end:
                break  # the body has not fully arrived yet
            body = bytes(buf[head_end + 4 : end])
            del buf[:end]
            method, target, version = parts
            path = target.split(b"?", 1)[0]
            if method == b"POST" and path in _CHAT_PATHS:
                model, request = _request(body)
                if request.get("stream") is True:
                    events = stream_events(model, request, self._stream.chunks)
                    chunks = [*(_http_chunk(event) for event in events), _LAST_CHUNK]
                    if self._stream.interval_s > 0:
                        resp, paced = _STREAM_HEAD + chunks[0], chunks[1:]
                    else:
                        resp = _STREAM_HEAD + b"".join(chunks)
                else:
                    resp = _completion(model)
            else:
                resp = _STATIC.get(path, _RESP_404)
            # HTTP/1.0 and "connection: close" end the connection after this answer.
            if b"\r\nconnection: close" in head or (
                version == b"HTTP/1.0" and b"\r\nconnection: keep-alive" not in head
            ):
                out.append(resp.replace(b"connection: keep-alive", b"connection: close", 1))
                close = True
                break
            out.append(resp)
            if paced:
                break  # the rest of the buffer waits for the stream's end
        if self._transport is None:
            return
        if out:
            self._transport.write(b"".join(out))
        if paced:
            self._pace(paced, close)
        elif close:
            self._transport.close()

    def _pace(self, rest: list[bytes], close: bool) -> None:
        """Write ``rest`` one piece per interval, then close or serve what waited."""
        loop = asyncio.get_running_loop()

        def step() -> None:
            transport = self._transport
            if transport is None or transport.is_closing():
                self._pacing = None
                return
            transport.write(rest.pop(0))
            if rest:
                self._pacing = loop.call_later(self._stream.interval_s, step)
                return
            self._pacing = None
            if close:
                transport.close()
            elif self._buf:
                self._serve()

        self._pacing = loop.call_later(self._stream.interval_s, step)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        return importlib.import_module("uvloop").new_event_loop  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.new_event_loop


async def serve(host: str, port: int, stream: StreamSettings | None = None) -> None:
    """Listen, announce the port on stdout, and serve until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    connections: set[asyncio.Transport] = set()
    server = await loop.create_server(
        lambda: FakeOpenAIProtocol(connections, stream), host, port, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"READY {json.dumps({'port': bound})}\n")
    sys.stdout.flush()
    await stop.wait()
    server.close()
    for transport in list(connections):
        transport.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--stream-chunks", type=int, default=8, help="content chunks in a streamed answer"
    )
    parser.add_argument(
        "--chunk-interval-ms",
        type=float,
        default=0.0,
        help="pause before each streamed event after the first (0: the whole stream at once)",
    )
    args = parser.parse_args(argv)
    stream = StreamSettings(args.stream_chunks, args.chunk_interval_ms / 1000)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(args.host, args.port, stream))


if __name__ == "__main__":
    main()
