"""The floor for an HTTP front door onto NATS: POST in, one NATS request, its reply out.

A raw ASGI callable on uvicorn (uvloop, httptools, as CAIO's gateway runs):
no framework, no keys, no parsing; the body is sent as it came to
``--target`` and the reply's bytes are the response. With the audited
forwarder and ``http_back`` it makes the floor of the gateways comparison:
the same three hops as CAIO's gateway, router and HTTP bridge, doing
nothing but what any such path must do (benchmarks/scenarios/gateways.py).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import nats
import uvicorn

from benchmarks.roles._run import ready, role_main, role_parser
from caio_integration.gctune import settle_after_start

_HEADERS = [(b"content-type", b"application/json")]


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    nc = await nats.connect(args.nats_url, name="bench-http-front")
    target = args.target

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        reply = await nc.request(target, body, timeout=30)
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": reply.data})

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="none",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn sets a flag and has no event to await
        if serving.done():
            raise RuntimeError(f"the HTTP front did not start on port {args.port}")
        await asyncio.sleep(0.02)
    settle_after_start()
    ready({"url": f"http://127.0.0.1:{args.port}/v1/chat/completions"})
    await stop.wait()
    server.should_exit = True
    await serving
    await nc.drain()


if __name__ == "__main__":
    parser = role_parser(__doc__ or "")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="the subject each body is sent to")
    role_main(parser, run)
