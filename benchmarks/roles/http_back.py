"""The floor for a NATS-to-HTTP bridge: each message POSTed to the upstream, its body
the reply.

A queue subscriber on ``<prefix>.floorup`` with one pooled aiohttp session
(the client CAIO's HTTP bridge uses): no contract, no schemas, no checks,
no heartbeats. Part of the gateways comparison's floor (see http_front).
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import nats
from nats.aio.msg import Msg

from benchmarks.roles._run import ready, role_main, role_parser
from caio_integration.gctune import settle_after_start


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    nc = await nats.connect(args.nats_url, name="bench-http-back")
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256),
        headers={
            "Authorization": f"Bearer {args.upstream_key}",
            "Content-Type": "application/json",
        },
    )
    url = args.upstream.rstrip("/") + "/chat/completions"
    tasks: set[asyncio.Task[None]] = set()

    async def call(msg: Msg) -> None:
        async with session.post(url, data=msg.data) as response:
            body = await response.read()
        await nc.publish(msg.reply, body)

    async def on_message(msg: Msg) -> None:
        task = asyncio.create_task(call(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await nc.subscribe(f"{args.prefix}.floorup", queue="floorup", cb=on_message)
    await nc.flush()
    settle_after_start()
    ready({})
    await stop.wait()
    await nc.drain()
    await session.close()


if __name__ == "__main__":
    parser = role_parser(__doc__ or "")
    parser.add_argument("--upstream", required=True, help="the upstream's base URL, with /v1")
    parser.add_argument("--upstream-key", default="sk-bench-fake")
    role_main(parser, run)
