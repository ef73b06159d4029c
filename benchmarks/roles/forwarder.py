"""The floor for any router: one extra NATS hop that decides nothing.

It takes requests on ``<prefix>.fwd`` (a queue group, as the router does),
makes the same nats-py request to the echo service the router makes to a
worker, and answers with its reply. A task per message, as in the router,
so one slow call does not hold the next.
"""

from __future__ import annotations

import argparse
import asyncio

import nats
from nats.aio.msg import Msg

from benchmarks.roles._run import ready, role_main, role_parser


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    nc = await nats.connect(args.nats_url, name="bench-forwarder")
    target = f"{args.prefix}.echo"
    tasks: set[asyncio.Task[None]] = set()

    async def forward(msg: Msg) -> None:
        reply = await nc.request(target, msg.data, timeout=30)
        await nc.publish(msg.reply, reply.data)

    async def on_message(msg: Msg) -> None:
        task = asyncio.create_task(forward(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await nc.subscribe(f"{args.prefix}.fwd", queue="fwd", cb=on_message)
    await nc.flush()
    await nc.flush()
    ready({})
    await stop.wait()
    await nc.drain()


if __name__ == "__main__":
    role_main(role_parser(__doc__ or ""), run)
