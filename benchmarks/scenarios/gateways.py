"""Scenario: CAIO's HTTP gateway against LiteLLM, Portkey and TensorZero, one fake upstream.

    direct      load -> fake OpenAI upstream                            (baseline)
    caio        load -> CAIO gateway -> router -> HTTP bridge -> fake   (NATS between)
    litellm     load -> LiteLLM proxy -> fake
    portkey     load -> Portkey gateway (node) -> fake
    tensorzero  load -> TensorZero gateway (embedded, Rust) -> fake

Same client (``benchmarks.gateways.load``), same chat completion body, every
peer up at once and measured in interleaved rounds (the order rotates; the
median is reported). Per peer: sequential p50 and p99, throughput at 64 in
flight, the peer's CPU per request (CAIO: gateway, router and bridge, each
and summed), and the time to the first SSE data line of a streamed answer
(the fake upstream paces its stream, so a peer that buffers shows it).
"Added" is a peer's figure minus the direct path's in the same round.
Once, after the rounds, CAIO's route is also measured without its HTTP
gateway (a NATS client straight to the router), to split CAIO's cost
between the gateway and the rest.

A peer that cannot run here (no node, nothing cached and no network) is
skipped with the reason; ``--quick`` runs the other gateways only when
they are already installed under ~/.cache/caio-bench (LiteLLM also when
``--litellm`` asks), and skips CAIO's side when its gateway or bridge
package is not installed.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from benchmarks.gateways.caio_stack import caio_missing, caio_stack, measure_route
from benchmarks.gateways.floor import measure_floor
from benchmarks.gateways.install import (
    PeerUnavailable,
    litellm_cached,
    portkey_cached,
    tensorzero_cached,
)
from benchmarks.gateways.measure import Counts, measure, ratios, summarize
from benchmarks.gateways.peers import Peer, direct, litellm, portkey, tensorzero
from benchmarks.harness import Budget, Stage
from benchmarks.procs import RoleProcess

__all__ = ["run"]

STREAM_CHUNKS = 8  # content chunks in each streamed answer
CHUNK_INTERVAL_MS = 2.0  # between the upstream's streamed events
Launcher = Callable[[str], AbstractContextManager[Peer]]


def _counts(budget: Budget) -> Counts:
    if budget.quick:
        return Counts(warmup=10, sequential=30, stream=10, inflight=64, seconds=budget.seconds)
    return Counts(warmup=100, sequential=500, stream=100, inflight=64, seconds=budget.seconds)


def _others(budget: Budget) -> list[tuple[str, Launcher, bool]]:
    """(name, launcher, whether to try it in this run)."""
    quick = budget.quick
    return [
        ("litellm", litellm, budget.litellm or (quick and litellm_cached())),
        ("portkey", portkey, not quick or portkey_cached()),
        ("tensorzero", tensorzero, not quick or tensorzero_cached()),
    ]


def _warn(message: str) -> None:
    print(f"   gateways: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _peers(
    budget: Budget, stage: Stage, upstream: str
) -> Iterator[tuple[list[Peer], dict[str, str]]]:
    """Start every peer that can run; yields them and why the others were skipped."""
    skipped: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        peers = [stack.enter_context(direct(upstream))]
        missing = caio_missing()
        if missing is None:
            peers.append(stack.enter_context(caio_stack(stage, upstream)))
        else:
            skipped["caio"] = f"CAIO's side not run: {missing}"
            _warn(skipped["caio"])
        for name, launcher, wanted in _others(budget):
            if not wanted:
                skipped[name] = "not installed under ~/.cache/caio-bench (--quick installs nothing)"
                if name == "litellm" and not budget.quick:
                    skipped[name] = "not run (--no-litellm)"
                continue
            try:
                peers.append(stack.enter_context(launcher(upstream)))
            except (PeerUnavailable, RuntimeError, OSError) as exc:
                skipped[name] = f"could not start: {exc}"
                _warn(f"{name} skipped: {exc}")
        yield peers, skipped


def _rounds(
    peers: list[Peer], counts: Counts, rounds: int, skipped: dict[str, str]
) -> tuple[list[Peer], list[dict[str, dict[str, Any]]]]:
    """Interleaved rounds; a failing peer is dropped, unless it is CAIO or direct (fatal)."""
    measured: list[dict[str, dict[str, Any]]] = []
    for index in range(rounds):
        shift = index % len(peers)
        order = peers[shift:] + peers[:shift]  # a different peer goes first each round
        this_round: dict[str, dict[str, Any]] = {}
        for peer in order:
            try:
                this_round[peer.name] = measure(peer, counts)
            except RuntimeError as exc:
                if peer.name in ("direct", "caio"):
                    raise
                skipped[peer.name] = f"failed while measured: {exc}"
                _warn(f"{peer.name} dropped: {exc}")
        measured.append(this_round)
        peers = [peer for peer in peers if peer.name not in skipped]
    kept = {peer.name for peer in peers}
    return peers, [{k: v for k, v in r.items() if k in kept} for r in measured]


def run(budget: Budget) -> dict[str, Any]:
    counts = _counts(budget)
    fake_args = ["--port", "0", "--stream-chunks", str(STREAM_CHUNKS)]
    fake_args += ["--chunk-interval-ms", str(CHUNK_INTERVAL_MS)]
    with (
        Stage(budget) as stage,
        RoleProcess("benchmarks.openai_side.fake_openai", fake_args) as fake,
        _peers(budget, stage, f"http://127.0.0.1:{fake.info['port']}/v1") as (peers, skipped),
    ):
        peers, rounds = _rounds(peers, counts, budget.rounds, skipped)
        caio = next((peer for peer in peers if peer.name == "caio"), None)
        route = measure_route(stage, caio, counts) if caio is not None else None
        direct = next(peer for peer in peers if peer.name == "direct")
        floor = measure_floor(stage, f"http://127.0.0.1:{fake.info['port']}/v1", direct, counts)
    summary = summarize(rounds, peers)
    measured = ratios(summary)
    if "caio" in summary and floor["added_p50_ms"] > 0:
        measured["added_p50_caio_vs_floor"] = round(
            summary["caio"]["added_p50_ms"] / floor["added_p50_ms"], 3
        )
        measured["cpu_per_request_caio_vs_floor"] = round(
            summary["caio"]["cpu_us_per_request"] / floor["cpu_us_per_request"], 3
        )
    return {
        "config": {
            "rounds": budget.rounds,
            "warmup": counts.warmup,
            "sequential": counts.sequential,
            "stream": counts.stream,
            "inflight": counts.inflight,
            "seconds": counts.seconds,
            "stream_chunks": STREAM_CHUNKS,
            "chunk_interval_ms": CHUNK_INTERVAL_MS,
        },
        "peers": summary,
        "skipped": skipped,
        "ratios": measured,
        "caio_without_gateway": route,
        "floor": floor,
        "rounds": rounds,
    }
