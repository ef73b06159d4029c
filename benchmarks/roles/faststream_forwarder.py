"""The bare forwarder as a FastStream subscriber: what the framework costs per hop.

Same hop as ``forwarder`` (``<prefix>.ffwd`` -> ``<prefix>.echo``), with
FastStream's logger off (its default logging costs far more).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from faststream.nats import NatsBroker, NatsMessage

from benchmarks.roles._run import ready, role_main, role_parser


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    broker = NatsBroker(args.nats_url, logger=None, log_level=logging.CRITICAL)
    target = f"{args.prefix}.echo"

    # max_workers: handle many at once, as the raw forwarder does with a task per message.
    @broker.subscriber(f"{args.prefix}.ffwd", queue="ffwd", max_workers=256)
    async def forward(msg: NatsMessage) -> bytes:
        reply = await broker.request(msg.body, target, timeout=30)
        return bytes(reply.body)

    await broker.start()
    ready({})
    await stop.wait()
    await broker.stop()


if __name__ == "__main__":
    role_main(role_parser(__doc__ or ""), run)
