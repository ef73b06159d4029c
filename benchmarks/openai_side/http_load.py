"""HTTP load generator for OpenAI-style chat completions endpoints.

It runs as its own process so that its CPU use is not charged to the system
under test, and reports the two numbers the comparison needs: per-request
latency when requests go one at a time, and throughput with a fixed number of
requests in flight over keep-alive connections.

    python -m benchmarks.openai_side.http_load --url http://127.0.0.1:4000/v1/chat/completions \
        --header 'Authorization: Bearer sk-x' --model bench-model \
        --sequential 200 --inflight 64 --seconds 5

Prints one JSON line: {"sequential": {...}, "throughput": {...}}.

Each in-flight slot gets its own httpx.AsyncClient holding one keep-alive
connection (so the pool totals `--inflight` connections). One shared client
with a 64-connection pool is far slower: httpcore's pool bookkeeping is
quadratic in its connection count and polls every idle socket on each request
(measured here: ~14 ms of client CPU per request, capping the client near
70 req/s, against ~1 ms with one client per slot).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from benchmarks.stats import percentile

SYSTEM_PROMPT = (
    "You are a careful senior Python engineer. Answer with one fenced Python code block "
    "containing a complete, typed implementation and nothing else."
)
USER_PROMPT = "Write a Python function that adds two numbers."


def request_body(model: str, max_tokens: int = 256) -> bytes:
    """A code-generation chat request, serialized once and reused for every call."""
    return orjson.dumps(
        {
            "model": model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": USER_PROMPT},
            ],
            "max_tokens": max_tokens,
        }
    )


class Loader:
    """Sends the same request over a set of one-connection clients and tallies outcomes."""

    def __init__(self, clients: list[httpx.AsyncClient], url: str, body: bytes) -> None:
        self._clients = clients
        self._url = url
        self._body = body
        self._reported = False

    async def one(self, client: httpx.AsyncClient) -> bool:
        """One request; True on HTTP 200. The first failure is described on stderr."""
        try:
            resp = await client.post(self._url, content=self._body)
        except httpx.HTTPError as exc:
            self._report(f"{type(exc).__name__}: {exc!r}")
            return False
        if resp.status_code == 200:
            return True
        self._report(f"HTTP {resp.status_code}: {resp.text[:2000]}")
        return False

    def _report(self, what: str) -> None:
        if not self._reported:
            self._reported = True
            sys.stderr.write(f"[http_load] first error: {what}\n")
            sys.stderr.flush()

    async def warmup(self, sequential: int, inflight: int) -> None:
        """Some requests one at a time, then one concurrent round to fill the pool."""
        for _ in range(sequential):
            await self.one(self._clients[0])
        await asyncio.gather(*(self.one(client) for client in self._clients[:inflight]))

    async def sequential(self, n: int) -> dict[str, Any]:
        latencies: list[float] = []
        errors = 0
        for _ in range(n):
            start = time.perf_counter()
            ok = await self.one(self._clients[0])
            latencies.append((time.perf_counter() - start) * 1000)
            errors += not ok
        latencies.sort()
        return {
            "n": n,
            "errors": errors,
            "p50_ms": round(percentile(latencies, 50), 3),
            "p90_ms": round(percentile(latencies, 90), 3),
            "p99_ms": round(percentile(latencies, 99), 3),
        }

    async def throughput(self, inflight: int, seconds: float) -> dict[str, Any]:
        """`inflight` workers each loop request-after-request until the deadline."""
        completed = 0
        errors = 0
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal completed, errors
            while time.perf_counter() < deadline:
                if await self.one(client):
                    completed += 1
                else:
                    errors += 1

        await asyncio.gather(*(worker(client) for client in self._clients[:inflight]))
        # Requests started before the deadline are let finish and counted: the
        # rate divides by the real elapsed time, which is therefore a bit > seconds.
        elapsed = time.perf_counter() - start
        return {
            "inflight": inflight,
            "seconds": round(elapsed, 3),
            "completed": completed,
            "errors": errors,
            "req_per_s": round(completed / elapsed, 1),
        }


def parse_headers(raw: list[str]) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep:
            raise SystemExit(f"--header must look like 'Name: value', got {item!r}")
        headers[name.strip()] = value.strip()
    return headers


async def run(args: argparse.Namespace) -> dict[str, Any]:
    headers = parse_headers(args.header)
    one_conn = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60.0)
    tls = ssl.create_default_context()  # built once: each client would otherwise load the CAs
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    headers=headers, limits=one_conn, timeout=args.timeout, verify=tls
                )
            )
            for _ in range(args.inflight)
        ]
        loader = Loader(clients, args.url, request_body(args.model, args.max_tokens))
        await loader.warmup(args.warmup, args.inflight)
        seq = await loader.sequential(args.sequential)
        # Use every connection again right before the timed phase, so none has
        # sat idle long enough for the server's keep-alive timeout to close it.
        await loader.warmup(0, args.inflight)
        thr = await loader.throughput(args.inflight, args.seconds)
    return {"sequential": seq, "throughput": thr}


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        return importlib.import_module("uvloop").new_event_loop  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.new_event_loop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Latency and throughput of a chat endpoint.")
    parser.add_argument("--url", required=True, help="full URL of .../chat/completions")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--model", default="bench-model")
    parser.add_argument("--sequential", type=int, default=200, help="requests one at a time")
    parser.add_argument("--inflight", type=int, default=64, help="concurrent requests")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput phase length")
    parser.add_argument("--warmup", type=int, default=10, help="sequential warm-up requests")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request seconds")
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(run(args))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
