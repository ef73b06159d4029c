"""Which ASGI framework the gateway is built on, chosen by measurement.

Serves one trivial JSON POST endpoint (a body validated into a small model,
echoed back) with each framework on uvicorn (uvloop, httptools), one at a
time, and drives it from a separate process with an asyncio load client
keeping ``--concurrency`` requests in flight for ``--seconds``. Prints one
line per framework (requests/s, p50, p99) and a JSON summary::

    .venv/bin/python gateway/bench/framework_choice.py             # ~10 s each
    .venv/bin/python gateway/bench/framework_choice.py --seconds 3 --client aiohttp

The load client runs on the same machine: on a small one it takes a CPU of
its own, so absolute numbers are low; the ratios are what decide.
Litestar is skipped when it is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from pydantic import BaseModel

FRAMEWORKS = ("starlette", "fastapi", "fastapi-raw", "litestar")
PAYLOAD = {"capability": "chat", "context": {"prompt": "hello", "n": 1}, "timeout_ms": 5000}


class Echo(BaseModel):
    capability: str
    context: dict[str, Any]
    timeout_ms: int = 30_000


# -- the servers -----------------------------------------------------------------------


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        # What the gateway would write by hand: parse, validate, answer.
        body = Echo.model_validate(await request.json())
        return JSONResponse({"status": "ok", "echo": body.model_dump()})

    return Starlette(routes=[Route("/echo", echo, methods=["POST"])])


def fastapi_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/echo")
    async def echo(body: Echo) -> dict[str, Any]:
        return {"status": "ok", "echo": body.model_dump()}

    return app


def fastapi_raw_app() -> Any:
    """FastAPI validating the body, answering with bytes it encoded itself (as the gateway
    does): no response model to validate, no ``jsonable_encoder`` pass."""
    import orjson
    from fastapi import FastAPI, Response

    app = FastAPI()

    @app.post("/echo")
    async def echo(body: Echo) -> Response:
        return Response(
            orjson.dumps({"status": "ok", "echo": body.model_dump()}),
            media_type="application/json",
        )

    return app


def litestar_app() -> Any:
    from litestar import Litestar, post

    @post("/echo", status_code=200)
    async def echo(data: Echo) -> dict[str, Any]:
        return {"status": "ok", "echo": data.model_dump()}

    return Litestar(route_handlers=[echo], openapi_config=None)


def serve(framework: str, port: int) -> None:
    import uvicorn

    apps = {
        "starlette": starlette_app,
        "fastapi": fastapi_app,
        "fastapi-raw": fastapi_raw_app,
        "litestar": litestar_app,
    }
    app = apps[framework]()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


# -- the load client -------------------------------------------------------------------


async def _load(url: str, seconds: float, concurrency: int, client_kind: str) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    body = json.dumps(PAYLOAD).encode()
    headers = {"content-type": "application/json"}

    async def worker(post: Any, stop_at: float, record: bool) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            ok = await post()
            if record:
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

    async def run(post: Any) -> float:
        # One second of warm-up (connections opened, caches filled), not counted.
        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(post, warm, False) for _ in range(concurrency)))
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(worker(post, stop_at, True) for _ in range(concurrency)))
        return time.perf_counter() - started

    if client_kind == "aiohttp":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def post_aiohttp() -> bool:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return response.status == 200

            elapsed = await run(post_aiohttp)
    else:
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:

            async def post_httpx() -> bool:
                response = await client.post(url, content=body, headers=headers)
                return response.status_code == 200

            elapsed = await run(post_httpx)
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
    }


def load(url: str, seconds: float, concurrency: int, client_kind: str) -> None:
    import uvloop

    result = uvloop.run(_load(url, seconds, concurrency, client_kind))
    say(json.dumps(result))


# -- the driver ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # a server process starting: nothing to wait on but its port
    raise RuntimeError(f"nothing listens on {port} after {timeout_s:g} s")


def measure(framework: str, seconds: float, concurrency: int, client_kind: str) -> dict[str, Any]:
    port = _free_port()
    me = [sys.executable, __file__]
    server = subprocess.Popen([*me, "serve", framework, str(port)])
    try:
        _wait_listening(port)
        out = subprocess.run(
            [
                *me,
                "load",
                f"http://127.0.0.1:{port}/echo",
                str(seconds),
                str(concurrency),
                client_kind,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def say(line: str) -> None:
    """One line on stdout, at once (the driver reads the load client's last line)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        load(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    # aiohttp by default: httpx's pool, not the server, limited the first runs (~150 req/s).
    parser.add_argument("--client", choices=["httpx", "aiohttp"], default="aiohttp")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frameworks = [
        name
        for name in args.frameworks.split(",")
        if importlib.util.find_spec(name.split("-")[0]) is not None
    ]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in frameworks}
    # Rounds interleave the frameworks, so a noisy minute on a shared machine hurts
    # each of them once rather than one of them for all its runs.
    for _ in range(args.rounds):
        for framework in frameworks:
            result = measure(framework, args.seconds, args.concurrency, args.client)
            runs[framework].append(result)
            say(
                f"{framework:12} {result['rps']:>9.1f} req/s   p50 {result['p50_ms']} ms"
                f"   p99 {result['p99_ms']} ms   errors {result['errors']}"
            )
    summary = {
        name: {
            "rps": statistics.median(r["rps"] for r in results),
            "p50_ms": statistics.median(r["p50_ms"] for r in results),
            "p99_ms": statistics.median(r["p99_ms"] for r in results),
            "errors": sum(r["errors"] for r in results),
        }
        for name, results in runs.items()
    }
    say(f"median of {args.rounds} rounds:")
    for name, result in summary.items():
        say(f"{name:12} {result['rps']:>9.1f} req/s   p50 {result['p50_ms']} ms")
    say(json.dumps({"client": args.client, "concurrency": args.concurrency, **summary}))


if __name__ == "__main__":
    main()
