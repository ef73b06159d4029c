"""What the HTTP bridge process costs per request, served as ``caio bridge http`` serves it.

    .venv/bin/python workers/http_bridge/bench/serve_cost.py [--seconds 10] [--inflight 64]
    .venv/bin/python workers/http_bridge/bench/serve_cost.py --profile /tmp/bridge.svg

Three processes besides this one, each as in the gateways benchmark
(``benchmarks/gateways``): a ``nats-server``, the fake OpenAI upstream
(``benchmarks/openai_side/fake_openai.py``), and the bridge
(``caio bridge http --no-register`` on the example chat contract, pointed at
the fake, logging at warning). This process then sends the service request
a router would (``{"request_id", "capability", "context", "caller",
"deadline_ms"}``) straight to ``caio.svc.<id>.chat_completion``, keeping
``--inflight`` requests outstanding, and checks each reply is ``ok``.

It prints the bridge process's CPU per request (from /proc, so Linux only)
and the rate, for ``--rounds`` rounds, and a JSON line. With ``--profile``
it also records the bridge under the same load with py-spy (``--format``
speedscope, flamegraph or raw) for the second round, once start-up is over.

Run it on an older bridge with ``PYTHONPATH=<a copy of its package's parent>``
(the bridge's process inherits this one's environment).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import yaml

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "contracts" / "examples" / "openai-compatible-chat.yaml"
SERVICE_ID = "bench-http-chat"
PREFIX = "caio"
BODY = {"messages": [{"role": "user", "content": "Write a function that adds two numbers."}]}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def fake_upstream() -> Iterator[str]:
    """The fake OpenAI server in its own process; yields its base URL (with /v1)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.openai_side.fake_openai", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline().removeprefix("READY "))["port"]
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def nats_server() -> Iterator[str]:
    from caio_integration.natsserver import NatsServer, NatsServerConfig

    with (
        tempfile.TemporaryDirectory(prefix="bridge-nats-") as store,
        NatsServer(NatsServerConfig(store_dir=Path(store))) as server,
    ):
        yield server.url


def contract(upstream: str, folder: Path) -> Path:
    """The example contract as the gateways benchmark serves it (benchmarks/gateways)."""
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    service = document["service"]
    service["id"] = SERVICE_ID
    service.get("constraints", {}).pop("max_concurrent_requests", None)
    api = service["api"]
    api["base_url"] = upstream
    for endpoint in api["endpoints"]:
        endpoint["defaults"] = {**endpoint.get("defaults", {}), "model": "fake-ok"}
        for key in ("input_schema", "output_schema"):
            if isinstance(endpoint.get(key), str):
                endpoint[key] = json.loads((EXAMPLE.parent / endpoint[key]).read_text())
    path = folder / "contract.json"
    path.write_text(json.dumps(document))
    return path


@contextlib.contextmanager
def bridge(nats_url: str, contract_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    caio = Path(sys.executable).with_name("caio")
    argv = [str(caio), "bridge", "http", str(contract_path), "--no-register"]
    env = {
        **os.environ,
        "CAIO_NATS_URL": nats_url,
        "CAIO_PREFIX": PREFIX,
        "CAIO_LOG_LEVEL": "warning",
        "CAIO_LOG_FORMAT": "json",
        "OPENAI_API_KEY": "sk-bench-fake",
    }
    proc = subprocess.Popen(argv, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def load(nats_url: str, pid: int, seconds: float, inflight: int) -> tuple[float, float, int]:
    """(bridge CPU µs per request, requests per second, requests) over ``seconds``."""
    nc = await nats.connect(nats_url)
    subject = f"{PREFIX}.svc.{SERVICE_ID}.chat_completion"
    try:
        for _ in range(100):  # until the bridge subscribed
            with contextlib.suppress(nats.errors.NoRespondersError, nats.errors.TimeoutError):
                await nc.request(subject, _request(), timeout=1)
                break
            await asyncio.sleep(0.1)
        done = 0
        end = 0.0

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                reply = await nc.request(subject, _request(), timeout=10)
                if b'"status":"ok"' not in reply.data:
                    raise RuntimeError(reply.data[:300])
                done += 1

        end = time.perf_counter() + 1.0  # warm: connections opened, caches filled
        await asyncio.gather(*(worker() for _ in range(inflight)))
        done = 0
        cpu, wall = cpu_seconds(pid), time.perf_counter()
        end = wall + seconds
        await asyncio.gather(*(worker() for _ in range(inflight)))
        cpu, wall = cpu_seconds(pid) - cpu, time.perf_counter() - wall
        return cpu / done * 1e6, done / wall, done
    finally:
        await nc.close()


def _request() -> bytes:
    return orjson.dumps(
        {
            "request_id": uuid.uuid4().hex,
            "capability": "chat_completion",
            "context": BODY,
            "caller": "bench",
            "deadline_ms": int(time.time() * 1000) + 30_000,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="record the bridge with py-spy into this file")
    parser.add_argument("--format", default="speedscope", help="py-spy's output format")
    args = parser.parse_args()
    rows: list[float] = []
    with (
        tempfile.TemporaryDirectory() as folder,
        nats_server() as url,
        fake_upstream() as upstream,
        bridge(url, contract(upstream, Path(folder))) as proc,
    ):
        for index in range(args.rounds):
            spy = None
            if args.profile and index == min(1, args.rounds - 1):  # after start-up's imports
                spy = subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "--pid",
                        str(proc.pid),
                        "--rate",
                        "500",
                        "--format",
                        args.format,
                        "--output",
                        args.profile,
                        "--duration",
                        str(int(args.seconds) + 2),
                        "--nonblocking",
                    ]
                )
            cpu_us, rate, _ = asyncio.run(load(url, proc.pid, args.seconds, args.inflight))
            if spy is not None:
                spy.wait()
            rows.append(cpu_us)
            say(f"round {index + 1}: bridge {cpu_us:6.0f} µs CPU/request, {rate:6.0f} req/s")
    median = round(statistics.median(rows))
    say(json.dumps({"bridge_cpu_us": [round(r) for r in rows], "median": median}))


if __name__ == "__main__":
    main()
