"""The service every comparison calls: answers at once, costs as little as possible.

It answers ``<prefix>.echo`` (what the direct and forwarder paths call) and
every service subject ``<prefix>.svc.>`` (what CAIO forwards to), and sends
heartbeats for the service ids it is told, so the router sees them live.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import nats
import orjson
from nats.aio.msg import Msg

from benchmarks.roles._run import ready, role_main, role_parser
from caio_integration.subjects import Subjects

SERVICE_REPLY = b'{"status":"ok","result":{"echo":true},"usage":{"total_tokens":1}}'


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    subjects = Subjects(args.prefix)
    nc = await nats.connect(args.nats_url, name="bench-echo")

    async def echo(msg: Msg) -> None:
        await nc.publish(msg.reply, msg.data)

    async def service(msg: Msg) -> None:
        await nc.publish(msg.reply, SERVICE_REPLY)

    await nc.subscribe(f"{args.prefix}.echo", queue="echo", cb=echo)
    await nc.subscribe(f"{args.prefix}.svc.>", queue="echo", cb=service)
    service_ids = [s for s in args.services.split(",") if s]

    async def beat() -> None:
        while True:
            for service_id in service_ids:
                body = {"service_id": service_id, "instance_id": "bench", "ts": time.time()}
                await nc.publish(subjects.heartbeat(service_id), orjson.dumps(body))
            await asyncio.sleep(2)

    beating = asyncio.create_task(beat())
    await nc.flush()
    await nc.flush()
    ready({})
    await stop.wait()
    beating.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beating
    await nc.drain()


if __name__ == "__main__":
    parser = role_parser(__doc__ or "")
    parser.add_argument("--services", default="", help="comma-separated ids to heartbeat for")
    role_main(parser, run)
