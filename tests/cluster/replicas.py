"""Who leads what, and whether every node's replica of a stream holds the same."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from nats.aio.client import Client as NATS

from caio_integration.natscluster import NatsCluster
from caio_integration.subjects import Subjects

# Per-replica state that must match once replication has caught up.
STATE_KEYS = ("messages", "bytes", "first_seq", "last_seq", "num_subjects", "num_deleted")


def prefix_streams(subjects: Subjects, names: list[str]) -> list[str]:
    suffix = subjects.jetstream_name("X")[1:]
    return sorted(n for n in names if n.endswith(suffix))


async def stream_names(nc: NATS) -> list[str]:
    return [info.config.name for info in await nc.jetstream().streams_info() if info.config.name]


async def stream_leaders(nc: NATS, subjects: Subjects, node_name: str) -> list[str]:
    """This test's streams whose Raft leader is ``node_name``."""
    js = nc.jetstream()
    led = []
    for name in prefix_streams(subjects, await stream_names(nc)):
        info = await js.stream_info(name)
        if info.cluster is not None and info.cluster.leader == node_name:
            led.append(name)
    return led


def replica_states(cluster: NatsCluster, streams: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each stream's state as each node's own replica has it (``/jsz``)."""
    states: dict[str, list[dict[str, Any]]] = {name: [] for name in streams}
    for node in cluster.nodes:
        for name in streams:
            state = cluster.stream_state(node.index, name) or {}
            states[name].append({k: state.get(k) for k in STATE_KEYS})
    return states


async def replicas_agree(cluster: NatsCluster, subjects: Subjects, timeout_s: float = 15.0) -> bool:
    """Whether every node's replica of every file stream of this test ends up the same.

    Followers apply what the leader committed a moment later, and nothing
    announces "all replicas applied": the per-node state is polled.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        states = await asyncio.to_thread(_file_stream_states, cluster, subjects)
        if states and all(all(s == per_node[0] for s in per_node) for per_node in states.values()):
            return True
        if time.monotonic() > deadline:
            for name, per_node in states.items():
                print(name, per_node)
            return False
        await asyncio.sleep(0.2)


def _file_stream_states(
    cluster: NatsCluster, subjects: Subjects
) -> dict[str, list[dict[str, Any]]]:
    _, jsz = cluster.node(0).monitor("/jsz?accounts=true&streams=true&config=true")
    names = [
        info["name"]
        for account in jsz.get("account_details") or []
        for info in account.get("stream_detail") or []
        if (info.get("config") or {}).get("storage") == "file"
    ]
    return replica_states(cluster, prefix_streams(subjects, names))


async def lead(nc: NATS, stream: str, node_name: str, attempts: int = 10) -> None:
    """Move ``stream``'s Raft leader to ``node_name`` (a stepdown naming the preferred peer).

    The new leader is announced only in the stream's info, so that is read
    after each stepdown; a stepdown elects at once (no election timeout).
    """
    js = nc.jetstream()
    body = orjson.dumps({"placement": {"preferred": node_name}})
    for _ in range(attempts):
        info = await js.stream_info(stream)
        before = info.cluster.leader if info.cluster is not None else None
        if before == node_name:
            return
        with contextlib.suppress(Exception):  # "not leader" while a previous one settles
            await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", body, timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                info = await js.stream_info(stream)
                if info.cluster is not None and info.cluster.leader not in (None, before):
                    break
            await asyncio.sleep(0.05)
    raise AssertionError(f"{stream} is not led by {node_name}")
