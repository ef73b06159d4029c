"""A real HTTP server on 127.0.0.1 that answers like the upstreams the example contracts front.

The standard library's ``ThreadingHTTPServer`` in a thread (as the Codex
worker's fake OpenAI server), so the bridge's aiohttp session speaks real
HTTP/1.1 to it, streams included (chunked transfer encoding):

==========================  =================================================================
``POST /v1/chat/completions``  OpenAI chat: a completion, or SSE chunks ending in ``[DONE]``
``POST /v1/messages``          Anthropic Messages: needs ``x-api-key`` and ``anthropic-version``;
                               a message, or its SSE events
``POST /v1/embeddings``        OpenAI embeddings: a deterministic vector per input text
``POST /predict``              a custom JSON model: ``{"texts"}`` -> ``{"predictions"}``
==========================  =================================================================

A test changes what it answers: ``answer_with(reply)`` (every request gets
``reply``, or ``reply(seen)`` when it is a function), ``hold()`` (requests wait
until the returned event is set), ``pace()`` (a stream sends its first chunk,
then waits for the returned event), ``cut_after(n)`` (a stream stops after
``n`` chunks, connection closed mid-body). Every request is recorded in ``seen``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeUpstream", "Reply", "Seen", "json_reply"]

_WAIT_MAX_S = 10.0  # a held request gives up after this, so a failed test cannot hang


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any


@dataclass(slots=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    events: list[bytes] | None = None  # a streamed body, one piece per chunk


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"content-type": "application/json", **(headers or {})}, _dumps(payload))


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about a client that hung up (the bridge closes a connection it stopped
        reading); anything else is printed, as the standard library does."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeUpstream:
    """Start with ``start()`` or as a context manager; ``base_url`` has no path."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._override: Reply | Callable[[Seen], Reply] | None = None
        self._hold: threading.Event | None = None
        self._pace: threading.Event | None = None
        self._cut_after: int | None = None
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for seen in self.seen if path is None or seen.path == path)

    @property
    def last(self) -> Seen:
        with self._lock:
            return self.seen[-1]

    # -- what a test changes ------------------------------------------------------

    def answer_with(self, reply: Reply | Callable[[Seen], Reply]) -> None:
        self._override = reply

    def hold(self) -> threading.Event:
        self._hold = threading.Event()
        return self._hold

    def pace(self) -> threading.Event:
        self._pace = threading.Event()
        return self._pace

    def cut_after(self, chunks: int) -> None:
        self._cut_after = chunks

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        for event in (self._hold, self._pace):
            if event is not None:
                event.set()  # held handlers return instead of keeping the port
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering (in the server's threads) ------------------------------------------

    def _answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
        if self._hold is not None:
            self._hold.wait(_WAIT_MAX_S)
        override = self._override
        if override is not None:
            return override(seen) if callable(override) else override
        model = _MODELS.get((seen.method, seen.path))
        if model is None:
            return json_reply(404, {"error": {"message": f"no route {seen.path}"}})
        return model(seen)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: pytest output is for test failures."""

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode(errors="replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = server._answer(Seen(self.command, self.path, headers, body))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.events is None:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for index, piece in enumerate(reply.events):
                    if server._cut_after is not None and index == server._cut_after:
                        self.close_connection = True  # mid-body: the client sees a broken stream
                        return
                    if index == 1 and server._pace is not None:
                        server._pace.wait(_WAIT_MAX_S)
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        return Handler


# -- the model servers ------------------------------------------------------------------


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def _sse(data: Any, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def reply_words(body: dict[str, Any]) -> list[str]:
    """The words a fake model answers with: an echo of the last user message."""
    return ["Echo:", *_last_user_text(body).split()]


def _openai_chat(seen: Seen) -> Reply:
    body = seen.body
    words = reply_words(body)
    text = " ".join(words)
    usage = {"prompt_tokens": 3, "completion_tokens": len(words), "total_tokens": 3 + len(words)}
    if not body.get("stream"):
        return json_reply(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
        )

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse(
            {"object": "chat.completion.chunk", "model": body["model"], "choices": [choice]}
        )

    pieces = [chunk({"role": "assistant", "content": ""})]
    pieces += [chunk({"content": (" " if i else "") + word}) for i, word in enumerate(words)]
    pieces.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        pieces.append(_sse({"object": "chat.completion.chunk", "choices": [], "usage": usage}))
    pieces.append(_sse("[DONE]"))
    return Reply(200, {"content-type": "text/event-stream"}, events=pieces)


def _anthropic(seen: Seen) -> Reply:
    if "x-api-key" not in seen.headers:
        error = {"type": "authentication_error", "message": "x-api-key header is required"}
        return json_reply(401, {"type": "error", "error": error})
    if "anthropic-version" not in seen.headers:
        error = {"type": "invalid_request_error", "message": "anthropic-version header is required"}
        return json_reply(400, {"type": "error", "error": error})
    body = seen.body
    words = reply_words(body)
    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": " ".join(words)}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": len(words)},
    }
    if not body.get("stream"):
        return json_reply(200, message)
    start = {**message, "content": [], "stop_reason": None}
    pieces = [
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse({"type": "content_block_start", "index": 0}, "content_block_start"),
        _sse({"type": "ping"}, "ping"),
    ]
    for i, word in enumerate(words):
        delta = {"type": "text_delta", "text": (" " if i else "") + word}
        pieces.append(
            _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
        )
    pieces += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": len(words)},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return Reply(200, {"content-type": "text/event-stream"}, events=pieces)


def fake_vector(text: str) -> list[float]:
    """The vector the fake embeddings server gives ``text``: four numbers from its hash."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(byte / 255, 4) for byte in digest[:4]]


def _embeddings(seen: Seen) -> Reply:
    texts = seen.body["input"]
    texts = [texts] if isinstance(texts, str) else texts
    data = [
        {"object": "embedding", "index": i, "embedding": fake_vector(t)}
        for i, t in enumerate(texts)
    ]
    tokens = sum(len(t.split()) for t in texts)
    return json_reply(
        200,
        {
            "object": "list",
            "data": data,
            "model": seen.body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )


def fake_sentiment(text: str) -> str:
    lowered = text.lower()
    if "love" in lowered or "good" in lowered:
        return "positive"
    if "hate" in lowered or "bad" in lowered:
        return "negative"
    return "neutral"


def _predict(seen: Seen) -> Reply:
    predictions = [{"label": fake_sentiment(t), "score": 0.9} for t in seen.body["texts"]]
    return json_reply(200, {"predictions": predictions})


def _health(seen: Seen) -> Reply:
    return json_reply(200, {"status": "ok"})


_MODELS: dict[tuple[str, str], Callable[[Seen], Reply]] = {
    ("POST", "/v1/chat/completions"): _openai_chat,
    ("POST", "/v1/messages"): _anthropic,
    ("POST", "/v1/embeddings"): _embeddings,
    ("POST", "/predict"): _predict,
    ("GET", "/health"): _health,
}
