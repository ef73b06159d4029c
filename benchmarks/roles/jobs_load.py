"""Durable jobs end to end: submit N (each acked by JetStream), count N results.

Submissions are pipelined (up to ``--window`` awaiting their ack), as a
producer with a backlog would send them. Results are counted from a plain
subscription on ``<prefix>.results.>``: every stored result is also a
message there. One probe job goes first, so the router's job runner (which
waits for heartbeats after it starts) is running before the clock starts.
Prints ``RESULT {json}`` with jobs per second from first submit to last result.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import nats
import orjson
from nats.aio.msg import Msg

from benchmarks.roles._run import role_main, role_parser
from caio_integration.jobs import MSG_ID
from caio_integration.subjects import Subjects
from caio_integration.wire import new_request_id


async def run(args: argparse.Namespace, stop: asyncio.Event) -> dict[str, Any]:
    subjects = Subjects(args.prefix)
    nc = await nats.connect(args.nats_url, name="bench-jobs")
    js = nc.jetstream()
    done = asyncio.Event()
    counts = {"results": 0, "ok": 0, "probe": 0}
    target = args.jobs
    headers = {"Authorization": f"Bearer {args.api_key}"}

    async def on_result(msg: Msg) -> None:
        if msg.subject.endswith(".probe"):
            counts["probe"] += 1
            done.set()
            return
        counts["results"] += 1
        if b'"status":"ok"' in msg.data:
            counts["ok"] += 1
        if counts["results"] >= target:
            done.set()

    await nc.subscribe(subjects.results_all, cb=on_result)
    await nc.flush()

    async def submit(request_id: str) -> None:
        body = orjson.dumps({"request_id": request_id, "context": {"x": 1}})
        await js.publish(
            subjects.job(args.capability), body, headers={**headers, MSG_ID: request_id}
        )

    await submit("probe")
    await asyncio.wait_for(done.wait(), timeout=60)
    done.clear()

    window = asyncio.Semaphore(args.window)
    submitted_at = time.perf_counter()

    async def submit_one() -> None:
        async with window:
            await submit(new_request_id())

    submitting = asyncio.gather(*(submit_one() for _ in range(target)))
    await submitting
    submit_s = time.perf_counter() - submitted_at
    await asyncio.wait_for(done.wait(), timeout=600)
    total_s = time.perf_counter() - submitted_at
    await nc.drain()
    return {
        "jobs": target,
        "ok": counts["ok"],
        "submit_per_s": round(target / submit_s, 1),
        "jobs_per_s": round(target / total_s, 1),
        "seconds": round(total_s, 3),
    }


if __name__ == "__main__":
    parser = role_parser(__doc__ or "")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--capability", default="echo")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--window", type=int, default=256)
    role_main(parser, run)
