"""In-process: the JSON work of one routed request with json, orjson and msgspec.

A routed request decodes the caller's body and the service's reply and
encodes the forward, the audit record and the reply. This times exactly
those five on representative bodies, per library (msgspec only if
installed). The router uses orjson; this says whether that still holds.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks.harness import Budget

__all__ = ["run"]

ROUTE_BODY = json.dumps(
    {
        "context": {"prompt": "def add(a, b): return a + b", "language": "python"},
        "guarantees": {"max_p95_latency_ms": 5000},
        "timeout_ms": 30000,
    }
).encode()
SERVICE_REPLY = json.dumps(
    {
        "status": "ok",
        "result": {"code": "def add(a, b):\n    return a + b\n", "model": "m"},
        "usage": {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43},
    }
).encode()
AUDIT_RECORD: dict[str, Any] = {
    "ts": "2026-11-23T00:00:00.000000Z",
    "kind": "route",
    "request_id": "9" * 32,
    "caller": "bench-caller",
    "capability": "echo",
    "service_id": "echo-00000",
    "outcome": "ok",
    "latency_ms": 1.234,
    "error": None,
    "decision": {
        "candidates": [{"service_id": f"echo-{i:05d}", "score": 0.8} for i in range(5)],
        "excluded": {},
        "registry_revision": 12,
        "pool": 100,
    },
    "attempts": [{"service_id": "echo-00000", "status": "ok", "latency_ms": 0.9}],
}

Codec = tuple[Callable[[bytes], Any], Callable[[Any], bytes]]


def _codecs() -> dict[str, Codec]:
    codecs: dict[str, Codec] = {
        "json": (json.loads, lambda v: json.dumps(v, separators=(",", ":")).encode()),
        "orjson": (orjson.loads, orjson.dumps),
    }
    try:
        msgspec_json = importlib.import_module("msgspec.json")
    except ImportError:
        return codecs
    codecs["msgspec"] = (msgspec_json.decode, msgspec_json.encode)
    return codecs


def _one_request(codec: Codec) -> None:
    loads, dumps = codec
    body = loads(ROUTE_BODY)
    dumps({"request_id": "r", "capability": "echo", "context": body["context"]})
    reply = loads(SERVICE_REPLY)
    dumps(AUDIT_RECORD)
    dumps({"status": "ok", "result": reply["result"], "usage": reply["usage"]})


def run(budget: Budget) -> dict[str, Any]:
    rounds = 2_000 if budget.quick else 50_000
    timings: dict[str, float] = {}
    for name, codec in _codecs().items():
        for _ in range(200):
            _one_request(codec)
        started = time.perf_counter()
        for _ in range(rounds):
            _one_request(codec)
        timings[name] = round((time.perf_counter() - started) / rounds * 1e6, 2)
    return {
        "us_per_request": timings,
        "ratios": {
            f"{name}_vs_orjson": round(t / timings["orjson"], 2) for name, t in timings.items()
        },
    }
