"""The one HTTP load client of the gateways comparison, run as its own process.

Every gateway, and the fake upstream itself, is measured with this client
and the same chat completion body, so the only thing that changes between
two rows is what sits between the client and the upstream. Three phases,
each optional:

- ``--sequential N``: N requests one at a time, for p50 and p99;
- ``--inflight K --seconds S``: K workers loop request after request for S
  seconds, for throughput;
- ``--stream N``: N requests with ``"stream": true`` one at a time: time to
  the first ``data:`` line (TTFT), time to ``[DONE]``, data lines received.

A reply counts only when it is a 200 whose body holds ``--expect`` (for a
stream: a ``[DONE]`` and no ``"error"`` event). Prints one JSON line, with
the client's own CPU time, so a reader can see when the client, not the
gateway, was the bound.

aiohttp on uvloop: against the fake upstream at 64 in flight it spends about
70 µs of CPU per request, httpx with one client per slot about 450 µs
(``benchmarks/openai_side/http_load.py`` explains why httpx needs a client
per slot). Idle connections are dropped after 4 s, before the 5 s
keep-alive of Node and uvicorn servers closes them under a request.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import aiohttp
import orjson
import uvloop

from benchmarks.openai_side.http_load import parse_headers, request_body
from benchmarks.stats import percentile

__all__ = ["main"]


class Client:
    """One session, one body; tallies bad replies and keeps the first one's text."""

    def __init__(self, session: aiohttp.ClientSession, url: str, model: str, expect: bytes) -> None:
        self._session = session
        self._url = url
        self._body = request_body(model)
        self._stream_body = orjson.dumps({**orjson.loads(self._body), "stream": True})
        self._expect = expect
        self.errors = 0
        self.first_error: str | None = None

    def _bad(self, what: str) -> bool:
        self.errors += 1
        if self.first_error is None:
            self.first_error = what[:1000]
        return False

    async def one(self) -> bool:
        try:
            async with self._session.post(self._url, data=self._body) as resp:
                data = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._bad(f"{type(exc).__name__}: {exc}")
        if resp.status != 200 or self._expect not in data:
            return self._bad(f"HTTP {resp.status}: {data[:500].decode(errors='replace')}")
        return True

    async def stream(self) -> tuple[float, float, int] | None:
        """(ms to the first data line, ms to the end, data lines) or None when it failed."""
        started = time.perf_counter()
        first = 0.0
        lines = 0
        done = False
        try:
            async with self._session.post(self._url, data=self._stream_body) as resp:
                if resp.status != 200:
                    text = (await resp.read())[:500].decode(errors="replace")
                    self._bad(f"stream HTTP {resp.status}: {text}")
                    return None
                async for line in resp.content:
                    if not line.startswith(b"data:"):
                        continue
                    if not lines:
                        first = time.perf_counter()
                    lines += 1
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                    elif payload.startswith(b'{"error"'):
                        self._bad(f"stream error event: {payload[:500].decode(errors='replace')}")
                        return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._bad(f"stream {type(exc).__name__}: {exc}")
            return None
        ended = time.perf_counter()
        if not done:
            self._bad(f"stream ended without [DONE] after {lines} data lines")
            return None
        return (first - started) * 1000, (ended - started) * 1000, lines


def _ms(values: list[float], q: float) -> float:
    return round(percentile(sorted(values), q), 3)


async def _sequential(client: Client, n: int) -> dict[str, Any]:
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        await client.one()
        latencies.append((time.perf_counter() - started) * 1000)
    return {"n": n, "p50_ms": _ms(latencies, 50), "p99_ms": _ms(latencies, 99)}


async def _throughput(client: Client, inflight: int, seconds: float) -> dict[str, Any]:
    completed = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal completed
        while time.perf_counter() < deadline:
            ok = await client.one()  # not `completed += await ...`: that loses updates
            completed += ok

    await asyncio.gather(*(worker() for _ in range(inflight)))
    # Requests started before the deadline finish and count; the rate divides
    # by the real elapsed time.
    elapsed = time.perf_counter() - started
    return {
        "inflight": inflight,
        "seconds": round(elapsed, 3),
        "completed": completed,
        "rps": round(completed / elapsed, 1),
    }


async def _streams(client: Client, n: int) -> dict[str, Any]:
    results = [r for r in [await client.stream() for _ in range(n)] if r is not None]
    if not results:
        return {"n": n, "ok": 0}
    ttft, total, lines = zip(*results, strict=True)
    return {
        "n": n,
        "ok": len(results),
        "ttft_p50_ms": _ms(list(ttft), 50),
        "ttft_p99_ms": _ms(list(ttft), 99),
        "total_p50_ms": _ms(list(total), 50),
        "data_lines_min": min(lines),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=max(args.inflight, 1), keepalive_timeout=4.0)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    headers = parse_headers(args.header)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout, auto_decompress=False
    ) as session:
        client = Client(session, args.url, args.model, args.expect.encode())
        for _ in range(args.warmup):
            await client.one()
        if args.inflight and args.seconds:
            # Open every connection the timed phase will use.
            await asyncio.gather(*(client.one() for _ in range(args.inflight)))
        requests = args.warmup + args.inflight * bool(args.seconds)
        result: dict[str, Any] = {}
        cpu = time.process_time()
        if args.sequential:
            result["sequential"] = await _sequential(client, args.sequential)
            requests += args.sequential
        if args.inflight and args.seconds:
            result["throughput"] = await _throughput(client, args.inflight, args.seconds)
            requests += result["throughput"]["completed"]
        if args.stream:
            result["stream"] = await _streams(client, args.stream)
            requests += args.stream
        result["client_cpu_s"] = round(time.process_time() - cpu, 3)
        result["requests"] = requests
        result["errors"] = client.errors
        result["first_error"] = client.first_error
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Latency, throughput and TTFT of a chat endpoint.")
    parser.add_argument("--url", required=True, help="full URL of .../chat/completions")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--model", required=True)
    parser.add_argument("--expect", default="def f()", help="text every good answer holds")
    parser.add_argument("--warmup", type=int, default=20, help="requests before measuring")
    parser.add_argument("--sequential", type=int, default=0)
    parser.add_argument("--inflight", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--stream", type=int, default=0, help="streamed requests, one at a time")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request seconds")
    args = parser.parse_args(argv)
    result = uvloop.run(run(args))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
