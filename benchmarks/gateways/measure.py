"""Measuring one peer once, and turning interleaved rounds into medians and ratios.

One measurement is two runs of the load client (``benchmarks.gateways.load``),
each its own process:

1. latency: sequential requests (p50, p99), then sequential streamed
   requests (time to first token);
2. throughput: 64 in flight for a fixed time, with the CPU time of the
   peer's processes (from ``/proc``) read around the run, so CPU per request
   is what the gateway spent on exactly the requests that run sent.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from benchmarks.gateways.peers import Peer
from benchmarks.procs import ROOT, CpuTimes, rss_mib

__all__ = ["Counts", "measure", "ratios", "summarize"]

OTHERS = ("litellm", "portkey", "tensorzero")


@dataclass(frozen=True, slots=True)
class Counts:
    """How much one measurement sends."""

    warmup: int
    sequential: int
    stream: int
    inflight: int
    seconds: float


def _load(peer: Peer, counts: Counts, *args: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.gateways.load", "--url", peer.chat_url]
    argv += ["--model", peer.model, "--warmup", str(counts.warmup), *args]
    for header in peer.headers:
        argv += ["--header", header]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=900)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"load against {peer.name} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result["errors"]:
        raise RuntimeError(
            f"{peer.name}: {result['errors']} bad replies; the first: {result['first_error']}"
        )
    return result


def measure(peer: Peer, counts: Counts) -> dict[str, Any]:
    """One round for ``peer``: latency, streaming, throughput and CPU per request."""
    latency = _load(
        peer, counts, "--sequential", str(counts.sequential), "--stream", str(counts.stream)
    )
    watched = {**peer.pids, **peer.context_pids}
    before = CpuTimes.start(watched)
    load = _load(peer, counts, "--inflight", str(counts.inflight), "--seconds", str(counts.seconds))
    cpu = before.since(watched)
    requests = load["requests"]
    stream = latency["stream"]
    metrics: dict[str, Any] = {
        "p50_ms": latency["sequential"]["p50_ms"],
        "p99_ms": latency["sequential"]["p99_ms"],
        "rps": load["throughput"]["rps"],
        "ttft_p50_ms": stream["ttft_p50_ms"],
        "ttft_p99_ms": stream["ttft_p99_ms"],
        "stream_total_p50_ms": stream["total_p50_ms"],
        "stream_data_lines": stream["data_lines_min"],
        "client_cpu_us_per_request": round(load["client_cpu_s"] / requests * 1e6, 1),
    }
    if peer.pids:
        by_process = {name: round(cpu[name] / requests * 1e6, 1) for name in peer.pids}
        metrics["cpu_us_per_request"] = round(sum(by_process.values()), 1)
        metrics["cpu_us_by_process"] = by_process
        metrics["rss_mib"] = round(sum(rss_mib(pid) for pid in peer.pids.values()), 1)
    if peer.context_pids:
        metrics["context_cpu_us"] = {
            name: round(cpu[name] / requests * 1e6, 1) for name in peer.context_pids
        }
    return metrics


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every number over the rounds (nested dicts key by key)."""
    merged: dict[str, Any] = {}
    for key, first in rounds[0].items():
        if isinstance(first, dict):
            merged[key] = _merge([r[key] for r in rounds])
        else:
            merged[key] = _median([r[key] for r in rounds])
    return merged


def summarize(rounds: list[dict[str, dict[str, Any]]], peers: list[Peer]) -> dict[str, Any]:
    """Per peer: the median of its rounds, plus what it adds over the direct path."""
    summary: dict[str, Any] = {}
    for peer in peers:
        mine = [r[peer.name] for r in rounds]
        entry = {
            "label": peer.label,
            "version": peer.version,
            "processes": peer.processes,
            **_merge(mine),
        }
        if peer.name != "direct":
            # Added = this peer's figure minus the direct path's in the same round.
            for metric in ("p50_ms", "ttft_p50_ms"):
                entry[f"added_{metric}"] = _median(
                    [r[peer.name][metric] - r["direct"][metric] for r in rounds]
                )
            entry["rps_per_process"] = round(entry["rps"] / max(peer.processes, 1), 1)
        summary[peer.name] = entry
    return summary


def _ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return round(max(a, 0.0) / b, digits)


def ratios(summary: dict[str, Any]) -> dict[str, float]:
    """CAIO against each other gateway measured: latency, throughput, CPU, TTFT."""
    caio = summary.get("caio")
    out: dict[str, float] = {}
    if caio is None:
        return out
    for other in OTHERS:
        peer = summary.get(other)
        if peer is None:
            continue
        pairs = {
            f"added_p50_caio_vs_{other}": _ratio(caio["added_p50_ms"], peer["added_p50_ms"], 4),
            f"rps_caio_vs_{other}": _ratio(caio["rps"], peer["rps"], 2),
            f"rps_per_process_caio_vs_{other}": _ratio(
                caio["rps_per_process"], peer["rps_per_process"], 2
            ),
            f"cpu_per_request_caio_vs_{other}": _ratio(
                caio["cpu_us_per_request"], peer["cpu_us_per_request"], 3
            ),
            f"added_ttft_caio_vs_{other}": _ratio(
                caio["added_ttft_p50_ms"], peer["added_ttft_p50_ms"], 3
            ),
        }
        out.update({key: value for key, value in pairs.items() if value is not None})
    return out
