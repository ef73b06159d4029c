"""What the hot path saves: one gateway, each chat completion sent both ways.

Starts a nats-server, a router (API keys on) and a worker answering chat
completions at once, in one process; the gateway in another, as ``caio
gateway`` runs it (uvicorn, uvloop, httptools). Then this process sends the
benchmark's chat completion (``benchmarks/gateways``) one at a time over a
keep-alive connection, in rounds alternating between the two ways in:

- ``hot``: ``Content-Type: application/json``, served by ``hot_path``;
- ``fastapi``: ``application/x-caio+json``, which FastAPI reads as JSON and
  the hot path leaves to FastAPI's route: the same code behind FastAPI's
  routing, dependencies and middleware.

It prints, for each, the gateway process's CPU per request (from /proc, so
Linux only) and the median latency, and a JSON line::

    .venv/bin/python gateway/bench/hot_path.py                    # ~30 s
    .venv/bin/python gateway/bench/hot_path.py --requests 3000 --rounds 5

Needs the gateway's test extra (``caio-broker`` for the router). Sequential
requests cost more CPU each than requests in flight together (nothing is
shared between them), so these numbers are above the gateways benchmark's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SYSTEM = (
    "You are a careful senior Python engineer. Answer with one fenced Python code block "
    "containing a complete, typed implementation and nothing else."
)
WAYS = {"hot": "application/json", "fastapi": "application/x-caio+json"}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- the backend: nats-server, router, worker ----------------------------------------------


async def _backend(nats_url: str) -> None:
    from caio_broker.router import Router, RouterConfig
    from caio_integration import AIUCPService, WorkResult, parse_contract
    from caio_integration.testing import hosted, new_prefix

    class Chat(AIUCPService):
        """Answers a chat completion as an OpenAI-compatible upstream would, at once."""

        def __init__(self, service_id: str) -> None:
            super().__init__()
            self.contract = parse_contract(
                {
                    "service": {
                        "id": service_id,
                        "name": "Bench chat",
                        "version": "1.0.0",
                        "capabilities": [{"type": "chat_completion"}],
                        "cost": {"model": "free"},
                    }
                }
            )

        async def execute(
            self, request: dict[str, Any], context: dict[str, Any] | None = None
        ) -> WorkResult:
            usage = {"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60}
            answer = "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```"
            completion = {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "bench-1",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
            return WorkResult(completion, usage)

    prefix = new_prefix()
    router = Router(RouterConfig(nats_url=nats_url, prefix=prefix, discovery_window_s=0))
    await router.start()
    assert router.keys is not None  # API keys are on by default
    publisher, _ = await router.keys.create("bench-publisher", "publisher")
    caller, _ = await router.keys.create("bench-caller", "caller")
    service = Chat(f"bench-{prefix}")
    async with hosted(
        service, nats_url=nats_url, prefix=prefix, register=True, api_key=str(publisher)
    ):
        assert await router.liveness.wait_available(service.contract.id, timeout_s=10)
        say(json.dumps({"nats_url": nats_url, "prefix": prefix, "key": str(caller)}))
        await asyncio.Event().wait()  # until terminated


def backend() -> None:
    import logging

    import structlog

    from caio_integration.testing import nats_server

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with nats_server() as server:
        asyncio.run(_backend(server.url))


# -- the client -------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection, blocking: the cheapest client there is."""

    def __init__(self, port: int, key: str) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = json.dumps(
            {
                "model": "caio/chat_completion",
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": "Write a Python function that adds two numbers."},
                ],
                "max_tokens": 256,
            }
        ).encode()
        self.requests = {
            way: (
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: {content_type}\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
            for way, content_type in WAYS.items()
        }

    def post(self, way: str) -> bytes:
        self.sock.sendall(self.requests[way])
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, body = data.split(b"\r\n\r\n", 1)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += self._recv()
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{way}: {head.decode()}\n{body.decode()}")
        return body

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("the gateway closed the connection")
        return chunk


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def measure(requests: int, rounds: int, warmup: int) -> dict[str, Any]:
    quiet = {**os.environ, "CAIO_LOG_LEVEL": "warning"}
    with subprocess.Popen(
        [sys.executable, __file__, "--backend"], stdout=subprocess.PIPE, text=True, env=quiet
    ) as back:
        assert back.stdout is not None
        started = json.loads(back.stdout.readline())
        port = _free_port()
        argv = [sys.executable, "-m", "caio_gateway", "--port", str(port)]
        argv += ["--nats-url", started["nats_url"], "--prefix", started["prefix"]]
        with (
            tempfile.TemporaryFile() as log,
            subprocess.Popen(argv, env=quiet, stdout=log, stderr=subprocess.STDOUT) as gateway,
        ):
            try:
                connection = Connection(port, started["key"])
                if connection.post("hot") != connection.post("fastapi"):
                    raise RuntimeError("the two ways answered differently")
                for _ in range(warmup):
                    for way in WAYS:
                        connection.post(way)
                cpu: dict[str, list[float]] = {way: [] for way in WAYS}
                p50: dict[str, list[float]] = {way: [] for way in WAYS}
                for _ in range(rounds):
                    for way in WAYS:
                        latencies = []
                        before = _cpu_s(gateway.pid)
                        for _ in range(requests):
                            sent = time.perf_counter()
                            connection.post(way)
                            latencies.append(time.perf_counter() - sent)
                        cpu[way].append((_cpu_s(gateway.pid) - before) / requests * 1e6)
                        p50[way].append(statistics.median(latencies) * 1e3)
            except Exception:
                log.seek(0)
                say(log.read().decode(errors="replace")[-4000:])  # what the gateway said
                raise
            finally:
                gateway.terminate()
                # SIGINT, not SIGTERM: the backend unwinds and stops its nats-server.
                back.send_signal(signal.SIGINT)
    return {
        way: {
            "cpu_us_per_request": round(statistics.median(cpu[way])),
            "p50_ms": round(statistics.median(p50[way]), 3),
            "rounds_cpu_us": [round(value) for value in cpu[way]],
        }
        for way in WAYS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per round and way")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=300, help="per way, not counted")
    parser.add_argument("--backend", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend:
        backend()
        return
    result = measure(args.requests, args.rounds, args.warmup)
    for way, numbers in result.items():
        say(
            f"{way:8} {numbers['cpu_us_per_request']:5} µs CPU/request in the gateway,"
            f" p50 {numbers['p50_ms']} ms (rounds: {numbers['rounds_cpu_us']} µs)"
        )
    say(json.dumps(result))


if __name__ == "__main__":
    main()
