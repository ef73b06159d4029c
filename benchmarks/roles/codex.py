"""The Codex worker (official openai SDK) in front of the fake OpenAI server.

Its contract is the shipped Codex contract renamed ``bench-codex`` and without
the seed's limits (10 at once, 60 a minute): those describe OpenAI's quota,
and CAIO would enforce them, while this benchmark measures the path.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import nats
import orjson

from benchmarks.roles._run import ready, role_main, role_parser
from caio.logs import configure_logging
from caio.workers.catalog import default_contract_path
from caio_codex.worker import CodexSettings, CodexWorker
from caio_integration.bridge import WorkerConfig
from caio_integration.contracts import load_contract_file, parse_contract
from caio_integration.subjects import Subjects

SERVICE_ID = "bench-codex"


def bench_contract() -> dict[str, Any]:
    # Loaded, not just read: the contract names its schema files, which loading reads in.
    document = load_contract_file(default_contract_path("codex")).to_document()
    service = document["service"]
    service["id"] = SERVICE_ID
    service["constraints"].pop("rate_limit", None)
    service["constraints"].pop("max_concurrent_requests", None)
    return document


async def _register(args: argparse.Namespace, document: dict[str, Any]) -> None:
    nc = await nats.connect(args.nats_url)
    reply = await nc.request(
        Subjects(args.prefix).registry("register"),
        orjson.dumps({"contract": document, "replace": True}),
        timeout=10,
        headers={"Authorization": f"Bearer {args.admin_key}"},
    )
    await nc.drain()
    if b'"registered"' not in reply.data:
        raise RuntimeError(f"registration failed: {reply.data[:300]!r}")


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    configure_logging("warning", "json")
    document = bench_contract()
    await _register(args, document)
    worker = CodexWorker(
        parse_contract(document),
        WorkerConfig(nats_url=args.nats_url, prefix=args.prefix, max_concurrency=256),
        CodexSettings(api_key="sk-bench-fake", base_url=args.openai_base_url, model="fake-ok"),
    )
    await worker.start()
    ready({"service_id": SERVICE_ID})
    await stop.wait()
    await worker.stop()


if __name__ == "__main__":
    parser = role_parser(__doc__ or "")
    parser.add_argument("--admin-key", required=True)
    parser.add_argument("--openai-base-url", required=True)
    role_main(parser, run)
