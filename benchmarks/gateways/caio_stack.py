"""CAIO's side of the gateways comparison: gateway -> router -> HTTP bridge -> fake upstream.

Four processes, each started the way it runs in production:

- ``nats-server``: the scenario's ``Stage`` starts it;
- the router: the benchmark's router role (``benchmarks/roles/router.py``:
  API keys on, audit records acked by JetStream before each reply);
- the HTTP bridge: ``caio bridge http CONTRACT`` with a publisher key, serving
  the shipped ``contracts/examples/openai-compatible-chat.yaml`` pointed at
  the fake upstream;
- the gateway: ``caio gateway --port P --nats-url URL`` (uvicorn, uvloop,
  httptools), which the load client calls with a caller key and
  ``model: caio/chat_completion``.

The contract is the example's with three changes: its own service id, the
fake upstream's URL and model, and no ``max_concurrent_requests`` (16 in the
example, sized for one GPU server; CAIO would hold the 64-in-flight load to
it). Its schema files are inlined so the contract can sit in a temp dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import yaml

from benchmarks.gateways.measure import Counts
from benchmarks.gateways.peers import Peer
from benchmarks.gateways.server import ServerProcess, free_port, http_answers
from benchmarks.harness import Stage
from benchmarks.openai_side.http_load import request_body
from benchmarks.procs import ROOT

__all__ = ["CAIO_MODEL", "bridge_contract", "caio_missing", "caio_stack", "measure_route"]

EXAMPLE = ROOT / "contracts" / "examples" / "openai-compatible-chat.yaml"
SERVICE_ID = "bench-http-chat"
CAIO_MODEL = "caio/chat_completion"
UPSTREAM_MODEL = "fake-ok"
UPSTREAM_KEY = "sk-bench-fake"


def caio_missing() -> str | None:
    """Why CAIO's side cannot run here (its gateway or bridge package is missing), or None."""
    needed = (("caio_gateway", "gateway/"), ("caio_http_bridge", "workers/http_bridge/"))
    for module, where in needed:
        try:
            __import__(module)
        except ImportError as exc:
            return f"`import {module}` failed ({exc}); install {where} (pip install -e {where})"
    if not EXAMPLE.exists():
        return f"{EXAMPLE.relative_to(ROOT)} is missing"
    return None


def bridge_contract(upstream: str) -> dict[str, Any]:
    """The example contract, served from ``upstream`` (its base URL, with /v1)."""
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    service = document["service"]
    service["id"] = SERVICE_ID
    service.get("constraints", {}).pop("max_concurrent_requests", None)
    api = service["api"]
    api["base_url"] = upstream
    for endpoint in api["endpoints"]:
        endpoint["defaults"] = {**endpoint.get("defaults", {}), "model": UPSTREAM_MODEL}
        for key in ("input_schema", "output_schema"):
            if isinstance(endpoint.get(key), str):
                endpoint[key] = json.loads((EXAMPLE.parent / endpoint[key]).read_text())
    return document


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "source checkout"


def _caio_command() -> list[str]:
    script = Path(sys.executable).with_name("caio")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from caio.cli import main; sys.exit(main())"]


@contextlib.contextmanager
def caio_stack(stage: Stage, upstream: str) -> Iterator[Peer]:
    """Router, HTTP bridge and gateway on ``stage``'s nats-server; yields the gateway's Peer."""
    router = stage.role("router", "--contracts", "0")
    env = {**os.environ, "CAIO_LOG_LEVEL": "warning", "CAIO_LOG_FORMAT": "json"}
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="caio-bench-")))
        contract = folder / "openai-compatible-chat.json"
        contract.write_text(json.dumps(bridge_contract(upstream), indent=2))
        bridge = stack.enter_context(
            ServerProcess(
                "caio-bridge",
                [*_caio_command(), "bridge", "http", str(contract)],
                env={
                    **env,
                    "CAIO_NATS_URL": stage.url,
                    "CAIO_PREFIX": stage.prefix,
                    "CAIO_API_KEY": router.info["admin_key"],
                    "OPENAI_API_KEY": UPSTREAM_KEY,
                },
            )
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        argv = [*_caio_command(), "gateway", "--port", str(port)]
        argv += ["--nats-url", stage.url, "--prefix", stage.prefix]
        gateway = stack.enter_context(
            ServerProcess("caio-gateway", argv, probe=http_answers(f"{base}/openapi.json"), env=env)
        )
        auth = f"Bearer {router.info['api_key']}"
        # Routable once the bridge registered and its first heartbeat reached the router.
        routed = http_answers(
            f"{base}/v1/chat/completions",
            body=request_body(CAIO_MODEL),
            headers={"Authorization": auth, "Content-Type": "application/json"},
            expect=b"def f()",
        )

        def serving() -> bool:
            if not bridge.alive():
                raise RuntimeError(f"the HTTP bridge exited:\n{bridge.log_tail()}")
            return routed()

        gateway.wait_until(serving, 30.0)
        yield Peer(
            name="caio",
            label="CAIO (gateway, router, HTTP bridge)",
            version=f"caio-gateway {_version('caio-gateway')}, "
            f"caio-http-bridge {_version('caio-http-bridge')}",
            chat_url=f"{base}/v1/chat/completions",
            model=CAIO_MODEL,
            headers=(f"Authorization: {auth}",),
            pids={"gateway": gateway.pid, "router": router.pid, "bridge": bridge.pid},
            context_pids={"nats-server": stage.nats.pid} if stage.nats and stage.nats.pid else {},
        )


def measure_route(stage: Stage, peer: Peer, counts: Counts) -> dict[str, Any]:
    """CAIO without its HTTP gateway: the same request over NATS to the router.

    The NATS load role (nats-py) sends the gateway's route request (the chat
    body without ``model``, as ``context``) with the same caller key, so the
    gap to the gateway's row is what the HTTP gateway adds.
    """
    auth = next(
        h.split(":", 1)[1].strip() for h in peer.headers if h.lower().startswith("authorization:")
    )
    chat = orjson.loads(request_body(CAIO_MODEL))
    context = {key: value for key, value in chat.items() if key != "model"}
    watch = {name: peer.pids[name] for name in ("router", "bridge")}
    raw = stage.load(
        f"{stage.prefix}.route.chat_completion",
        body=json.dumps({"context": context}),
        headers={"Authorization": auth},
        expect="def f()",
        sequential=counts.sequential,
        in_flight=(counts.inflight,),
        watch=watch,
    )
    point = raw["throughput"][0]
    requests = stage.budget.warmup + raw["sequential"]["n"] + point["completed"]
    by_process = {name: round(raw["cpu_s"][name] / requests * 1e6, 1) for name in watch}
    return {
        "p50_ms": raw["sequential"]["p50_ms"],
        "p99_ms": raw["sequential"]["p99_ms"],
        "rps": point["req_per_s"],
        "cpu_us_per_request": round(sum(by_process.values()), 1),
        "cpu_us_by_process": by_process,
    }
