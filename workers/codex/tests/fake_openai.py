"""A real OpenAI-compatible HTTP server on 127.0.0.1, for testing the Codex worker.

It speaks ``POST /v1/chat/completions`` over real HTTP (stdlib
``ThreadingHTTPServer`` in a thread), so the official SDK runs unmodified.
The requested model name picks the scenario:

=================  ==========================================================
``fake-ok``        200; one fenced Python block derived from the last message
``fake-prose``     200; prose around one fenced block
``fake-refusal``   200; ``message.refusal`` set, ``content`` null
``fake-filtered``  200; ``finish_reason`` ``content_filter``
``fake-400``       400 invalid_request_error
``fake-401``       401, echoing the presented key (as a careless server might)
``fake-403``       403
``fake-404``       404 model not found
``fake-429``       429 with ``Retry-After: 7``
``fake-500``       500
``fake-slow``      waits until released or ``slow_max_s`` passes, then 200
=================  ==========================================================

A request with ``"stream": true`` gets the same scenarios as real
Server-Sent Events (``text/event-stream``, HTTP/1.1 chunked): a first chunk
with the role, the content in several ``chat.completion.chunk`` deltas, a
chunk with the ``finish_reason``, the usage chunk (``choices: []``) when
``stream_options.include_usage`` asks for it, then ``data: [DONE]``. The
error scenarios answer as above, before any event. Streams have scenarios
of their own:

=====================  ======================================================
``fake-cut-<n>``       <n> content deltas, then the connection is dropped
``fake-stall``         one content delta, then silence until released or
                       ``slow_max_s`` passes
``fake-stream-error``  two content deltas, then an in-band error event that
                       echoes the presented key
``fake-unfinished``    every content delta, then ``[DONE]`` without a
                       ``finish_reason``
``fake-nousage``       as ``fake-ok``, without the usage chunk
=====================  ======================================================

Every request is counted per model and the last body and headers are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (model, the worker's error code, details.reason, retryable): what each failing
# model of this server must become, whether the call streams or not.
UPSTREAM_FAILURES = [
    ("fake-401", "service_unavailable", "upstream_unauthorized", False),
    ("fake-403", "service_unavailable", "upstream_unauthorized", False),
    ("fake-429", "rate_limited", "upstream_rate_limited", True),
    ("fake-500", "service_error", "upstream_error", True),
    ("fake-400", "invalid_request", "upstream_bad_request", False),
    ("fake-404", "service_unavailable", "upstream_not_found", False),
    ("fake-refusal", "service_error", "refused", False),
    ("fake-filtered", "service_error", "refused", False),
]

__all__ = ["UPSTREAM_FAILURES", "FakeOpenAIServer", "fake_code_for", "fake_deltas"]

_ERRORS: dict[str, tuple[int, str, str]] = {
    "fake-400": (400, "invalid_request_error", "max_tokens is too large for this model"),
    "fake-403": (403, "permission_denied", "this project may not use this model"),
    "fake-404": (404, "invalid_request_error", "The model `fake-404` does not exist"),
    "fake-429": (429, "rate_limit_exceeded", "Rate limit reached for requests"),
    "fake-500": (500, "server_error", "The server had an error processing your request"),
}


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def fake_code_for(prompt: str) -> str:
    """The deterministic function ``fake-ok`` writes for a prompt."""
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    return f"def generated_{digest}():\n    return {len(prompt)}\n"


def fake_deltas(content: str) -> list[str]:
    """How a streamed answer splits ``content``: a line per delta, the last may lack its
    newline (so a fence arrives over several deltas, as from a real model)."""
    return content.splitlines(keepends=True)


class FakeOpenAIServer:
    """Start with ``start()`` (or as a context manager); ``base_url`` ends in ``/v1``."""

    def __init__(self, *, slow_max_s: float = 10.0) -> None:
        self.slow_max_s = slow_max_s
        self.requests: Counter[str] = Counter()
        self.last_body: dict[str, Any] | None = None
        self.last_headers: dict[str, str] = {}
        self.release_slow = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown() (once per test) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release_slow.set()  # slow handlers return instead of holding the port
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling (runs in the server's threads) -----------------------

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests[str(body.get("model"))] += 1
            self.last_body = body
            self.last_headers = headers

    def _answer(
        self, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        model = str(body.get("model"))
        if model == "fake-401":
            key = headers.get("authorization", "").removeprefix("Bearer ")
            return 401, {}, _error("invalid_api_key", f"Incorrect API key provided: {key}.")
        if model in _ERRORS:
            status, code, message = _ERRORS[model]
            extra = {"Retry-After": "7"} if status == 429 else {}
            return status, extra, _error(code, message)
        if model == "fake-slow":
            self.release_slow.wait(self.slow_max_s)
        prompt = _last_user_text(body)
        content: str | None = f"```python\n{fake_code_for(prompt)}```"
        refusal = None
        finish = "stop"
        if model == "fake-prose":
            content = f"Here you go:\n\n{content}\n\nIt returns the prompt's length."
        elif model == "fake-refusal":
            content, refusal = None, "I can't help with that."
        elif model == "fake-filtered":
            content, finish = "", "content_filter"
        return 200, {}, _completion(model, content, refusal, finish, prompt)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: pytest output is for test failures."""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if self.path != "/v1/chat/completions":
                    self._send(404, {}, _error("not_found", f"no route {self.path}"))
                    return
                body = json.loads(raw)
                headers = {k.lower(): v for k, v in self.headers.items()}
                server._record(body, headers)
                status, extra, payload = server._answer(body, headers)
                if status == 200 and body.get("stream"):
                    self._stream(body, headers, payload)
                else:
                    self._send(status, extra, payload)

            def _stream(
                self, body: dict[str, Any], headers: dict[str, str], completion: dict[str, Any]
            ) -> None:
                """The completion as Server-Sent Events, or a stream scenario's failure."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for event in _stream_events(completion, body):
                        if event is _CUT:
                            # Gone mid-body: no last chunk of the chunked encoding.
                            self.connection.shutdown(socket.SHUT_RDWR)
                            self.close_connection = True
                            return
                        if event is _STALL:
                            server.release_slow.wait(server.slow_max_s)
                            continue
                        if event is _ERROR:
                            key = headers.get("authorization", "").removeprefix("Bearer ")
                            error = _error("server_error", f"overloaded serving key {key}")
                            event = f"data: {json.dumps(error)}\n\n"
                        self._chunk(str(event).encode())
                    self._chunk(b"")  # the chunked encoding's end
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a deadline)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

            def _send(self, status: int, extra: dict[str, str], payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                # The client may have given up (fake-slow); nothing to tell it then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

        return Handler


# Markers in a stream's events: where a scenario breaks it.
_CUT = object()
_STALL = object()
_ERROR = object()


def _stream_events(completion: dict[str, Any], body: dict[str, Any]) -> list[Any]:
    """The ``data:`` events streaming ``completion`` takes, with a scenario's markers."""
    model = str(body.get("model"))
    choice = completion["choices"][0]
    message = choice["message"]
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        chunk: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if include_usage:
            chunk["usage"] = None
        return f"data: {json.dumps(chunk)}\n\n"

    events: list[Any] = [event({"role": "assistant", "content": ""})]
    if message["refusal"] is not None:
        events.append(event({"refusal": message["refusal"]}))
    for number, piece in enumerate(fake_deltas(message["content"] or "")):
        if model == f"fake-cut-{number}":
            return [*events, _CUT]
        if model == "fake-stall" and number == 1:
            events.append(_STALL)
        if model == "fake-stream-error" and number == 2:
            return [*events, _ERROR]
        events.append(event({"content": piece}))
    if model.startswith("fake-cut-"):
        return [*events, _CUT]  # cut after every delta, before the finish
    if model != "fake-unfinished":
        events.append(event({}, choice["finish_reason"]))
    if include_usage and model != "fake-nousage":
        usage = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [],
            "usage": completion["usage"],
        }
        events.append(f"data: {json.dumps(usage)}\n\n")
    events.append("data: [DONE]\n\n")
    return events


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "param": None, "code": code}}


def _completion(
    model: str, content: str | None, refusal: str | None, finish: str, prompt: str
) -> dict[str, Any]:
    prompt_tokens = max(1, len(prompt.split()))
    completion_tokens = len((content or refusal or "").split())
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
