"""The floor for any router: one extra NATS hop that decides nothing.

It takes requests on ``<prefix>.fwd`` (a queue group, as the router does),
makes the same nats-py request to the echo service the router makes to a
worker, and answers with its reply. A task per message, as in the router,
so one slow call does not hold the next.

With ``--audited`` it is the floor for any router that keeps the protocol's
promise (PROTOCOL.md, "Audit"): on ``<prefix>.afwd`` it also stores a record
the size of a CAIO route record in a file-backed JetStream stream, and
answers only once the stream acked it, written the obvious way
(``js.publish``). It decides nothing, checks nothing and chains nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import nats
import orjson
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from benchmarks.roles._run import ready, role_main, role_parser
from caio_integration.gctune import settle_after_start

# About the size of a CAIO route record (decision, attempts, verdict, price, chain).
_FILLER = "x" * 560


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    nc = await nats.connect(args.nats_url, name="bench-forwarder")
    js = nc.jetstream()
    target = args.target or f"{args.prefix}.echo"
    tasks: set[asyncio.Task[None]] = set()
    record_subject = f"{args.prefix}.fwdaudit.route"

    async def forward(msg: Msg) -> None:
        reply = await nc.request(target, msg.data, timeout=30)
        await nc.publish(msg.reply, reply.data)

    async def forward_audited(msg: Msg) -> None:
        reply = await nc.request(target, msg.data, timeout=30)
        record = {"ts": time.time(), "bytes": len(reply.data), "filler": _FILLER}
        await js.publish(record_subject, orjson.dumps(record), timeout=5)
        await nc.publish(msg.reply, reply.data)

    work = forward_audited if args.audited else forward

    async def on_message(msg: Msg) -> None:
        task = asyncio.create_task(work(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    subject = "afwd" if args.audited else "fwd"
    if args.audited:
        stream = StreamConfig(
            name=f"BENCH_AUDIT_{args.prefix.replace('.', '_').replace('-', '_')}",
            subjects=[f"{args.prefix}.fwdaudit.>"],
            storage=StorageType.FILE,
        )
        await js.add_stream(stream)
    await nc.subscribe(f"{args.prefix}.{subject}", queue=subject, cb=on_message)
    await nc.flush()
    settle_after_start()  # as CAIO's processes do: the floor gets the same collector
    ready({})
    await stop.wait()
    await nc.drain()


if __name__ == "__main__":
    parser = role_parser(__doc__ or "")
    parser.add_argument(
        "--audited", action="store_true", help="store an acked audit record before each reply"
    )
    parser.add_argument("--target", help="where requests go (default: <prefix>.echo)")
    role_main(parser, run)
