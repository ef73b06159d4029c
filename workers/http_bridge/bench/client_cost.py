"""What the HTTP bridge's upstream calls cost in CPU, at a fixed number of calls in flight.

    .venv/bin/python workers/http_bridge/bench/client_cost.py [--seconds 5] [--inflight 64]

Starts ``benchmarks/openai_side/fake_openai.py`` (the gateways scenario's
upstream) as its own process, so its CPU is not counted, then measures in
this process, on uvloop as ``caio bridge http`` runs:

- ``bridge``: ``HttpBridgeService.execute`` with the example chat contract
  (no ``max_concurrent_requests``, as in the gateways scenario): the path a
  routed request takes once the host has it (input and output schemas, the
  credential, the budget, the status mapping);
- ``bridge-stream``: ``execute_stream`` on the same route (10 SSE chunks);
- ``httpx`` and ``aiohttp``: the same POST through one bare client with a
  pool of ``--inflight`` connections, to see what the client alone costs.

Run it on an older bridge with ``PYTHONPATH=<a copy of its package's parent>``.

CPU per request is this process's CPU time (``time.process_time``) over the
timed run, divided by the calls it completed; the load loop's own cost is
in every row alike. Not shipped in the wheel (hatch packages
``caio_http_bridge`` only). Needs the repository checkout for the fake.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import structlog
import uvloop
import yaml

from caio_http_bridge import HttpBridgeService

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "contracts" / "examples" / "openai-compatible-chat.yaml"
BODY = {"messages": [{"role": "user", "content": "Write a function that adds two numbers."}]}
Call = Callable[[], Awaitable[object]]


@contextlib.contextmanager
def fake_upstream() -> Any:
    """The fake OpenAI server in its own process; yields its base URL (with /v1)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.openai_side.fake_openai", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = json.loads(line.removeprefix("READY "))["port"]
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def bridge(base_url: str, folder: Path) -> AsyncIterator[HttpBridgeService]:
    """The example contract through the bridge, pointed at ``base_url``, started."""
    document = yaml.safe_load(EXAMPLE.read_text())
    service = document["service"]
    service["constraints"].pop("max_concurrent_requests", None)
    for endpoint in service["api"]["endpoints"]:
        for key in ("input_schema", "output_schema"):
            endpoint[key] = str(EXAMPLE.parent / endpoint[key])  # the copy sits in a temp dir
    contract = folder / "contract.yaml"
    contract.write_text(yaml.safe_dump(document))
    bridge = HttpBridgeService(base_url=base_url, env={"OPENAI_API_KEY": "sk-bench-key-0000"})
    bridge.initialize(contract)
    await bridge.setup()
    try:
        yield bridge
    finally:
        await bridge.teardown()


def routed() -> dict[str, Any]:
    return {"capability": "chat_completion", "deadline_ms": int(time.time() * 1000) + 30_000}


async def measure(call: Call, seconds: float, inflight: int) -> tuple[float, float]:
    """(CPU µs per call, calls per second) with ``inflight`` calls always outstanding."""
    for _ in range(2):  # warm: connections opened, caches filled
        await asyncio.gather(*(call() for _ in range(inflight)))
    done = 0
    end = 0.0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < end:
            await call()
            done += 1

    cpu, wall = time.process_time(), time.perf_counter()
    end = wall + seconds
    await asyncio.gather(*(worker() for _ in range(inflight)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / done * 1e6, done / wall


async def caller(
    mode: str, stack: contextlib.AsyncExitStack, base_url: str, folder: Path, pool: int
) -> Call:
    """One call of ``mode``, its client opened on ``stack`` (a bare one: ``pool`` connections)."""
    if mode in ("bridge", "bridge-stream"):
        service = await stack.enter_async_context(bridge(base_url, folder))
        if mode == "bridge":
            return lambda: service.execute(dict(BODY), routed())

        async def stream() -> object:
            return [item async for item in service.execute_stream(dict(BODY), routed())]

        return stream
    url, body = base_url + "/chat/completions", {**BODY, "model": "fake-ok"}
    if mode == "httpx":
        limits = httpx.Limits(max_connections=pool)
        client = await stack.enter_async_context(httpx.AsyncClient(limits=limits))

        async def with_httpx() -> object:
            return (await client.post(url, json=body)).json()

        return with_httpx
    connector = aiohttp.TCPConnector(limit=pool)
    session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))

    async def with_aiohttp() -> object:
        async with session.post(url, json=body) as response:
            return await response.json()

    return with_aiohttp


async def run(modes: list[str], seconds: float, inflight: int) -> None:
    with fake_upstream() as base_url, tempfile.TemporaryDirectory() as folder:
        for mode in modes:
            async with contextlib.AsyncExitStack() as stack:
                call = await caller(mode, stack, base_url, Path(folder), inflight)
                cpu_us, rate = await measure(call, seconds, inflight)
            sys.stdout.write(f"{mode:14} {cpu_us:7.0f} µs CPU/request {rate:7.0f} req/s\n")
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("modes", nargs="*", default=["bridge", "bridge-stream", "httpx", "aiohttp"])
    args = parser.parse_args()
    # Debug lines filtered out, as `caio bridge http` does (caio/logs.py); warning
    # rather than info keeps the bridge's ready line out of the table.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sys.stdout.write(f"{args.inflight} in flight, {args.seconds:g} s each\n")
    uvloop.run(run(args.modes, args.seconds, args.inflight))


if __name__ == "__main__":
    main()
