"""`caio up --cluster 3`: three nats-server nodes as one cluster, CAIO at R3 on it.

The real command, as a subprocess, on free ports with its data dir in the
test's directory. It is ready when it prints "CAIO is running" (read from
its output, never waited for with a sleep); everything after is checked from
outside, as a user would: the nodes' monitoring endpoints (/routez, /jsz,
/connz), JetStream stream info, a route request with the admin key it wrote,
and the processes left after Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

from tests.cli.conftest import CAIO

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")

NODES = ("n1", "n2", "n3")
R3_ASSETS = ("CAIO_AUDIT", "KV_CAIO_REGISTRY", "KV_CAIO_KEYS")


@dataclass
class Up:
    """A running `caio up --cluster 3`: its process, output so far and the nodes it printed."""

    process: asyncio.subprocess.Process
    data_dir: Path
    lines: list[str]
    urls: dict[str, str]  # node name -> client URL
    monitors: dict[str, str]  # node name -> monitoring URL

    def monitor(self, node: str, path: str) -> dict[str, Any]:
        # Loopback only: the URL is the one `caio up` printed for its own node.
        with urllib.request.urlopen(self.monitors[node] + path, timeout=5) as response:  # noqa: S310
            data: dict[str, Any] = json.loads(response.read())
            return data

    async def stop(self) -> str:
        """Ctrl-C; return the rest of its output once it has exited."""
        self.process.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(self.process.communicate(), 30)
        return rest.decode()


def our_nats_servers(data_dir: Path) -> set[int]:
    """Pids of running nats-server processes whose config lies under ``data_dir``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # it exited meanwhile
            continue
        ours = str(data_dir).encode() in b" ".join(argv)
        if ours and state != "Z" and Path(argv[0].decode()).name == "nats-server":
            found.add(int(entry.name))
    return found


@pytest.fixture
async def up(tmp_path: Path) -> AsyncIterator[Up]:
    data_dir = tmp_path / ".caio"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {"COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(
        CAIO,
        *("up", "--cluster", "3", "--port", "-1", "--data-dir", str(data_dir)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(40):
            while not any("CAIO is running" in line for line in lines):
                line = (await process.stdout.readline()).decode()
                assert line, "caio up exited early:\n" + "".join(lines)
                lines.append(line)
        nodes = re.findall(r"\b(n\d)\s+(nats://\S+)\s+monitoring (http://\S+)", "".join(lines))
        yield Up(
            process,
            data_dir,
            lines,
            urls={name: url for name, url, _ in nodes},
            monitors={name: monitor for name, _, monitor in nodes},
        )
    finally:
        if process.returncode is None:
            # Ctrl-C, as a user stops it: a killed `caio up` cannot stop its nodes,
            # which would outlive the test on their ports.
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.communicate(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        for pid in our_nats_servers(data_dir):  # only if `caio up` failed to stop them
            os.kill(pid, signal.SIGKILL)


async def test_three_nodes_carry_caio_at_r3_with_routers_and_workers_spread(up: Up) -> None:
    assert list(up.urls) == list(NODES), "".join(up.lines)

    # One cluster: each node routes to the two others and knows a 3-peer meta group.
    for node in NODES:
        routes = {r["remote_name"] for r in up.monitor(node, "/routez")["routes"]}
        assert routes == set(NODES) - {node}, (node, routes)
        assert up.monitor(node, "/jsz")["meta_cluster"]["cluster_size"] == 3

    # Routers on n1 and n2, one local-review instance on each node.
    for node in NODES:
        names = [c.get("name", "") for c in up.monitor(node, "/connz")["connections"]]
        assert names.count("caio-router") == (1 if node in ("n1", "n2") else 0), (node, names)
        assert len([n for n in names if n.startswith("local-review-")]) == 1, (node, names)

    secret = (up.data_dir / "admin.key").read_text().strip()
    nc = await nats.connect(up.urls["n3"])  # the node without a router
    try:
        js = nc.jetstream()
        for stream in R3_ASSETS:
            info = await js.stream_info(stream)
            assert info.config.num_replicas == 3, stream
            assert info.cluster is not None
            peers = {info.cluster.leader} | {p.name for p in info.cluster.replicas or []}
            assert peers == set(NODES), (stream, peers)

        # A route request entering at each node is answered by local-review.
        for node in NODES:
            caller = nc if node == "n3" else await nats.connect(up.urls[node])
            try:
                msg = await caller.request(
                    "caio.route.code_review",
                    orjson.dumps({"context": {"code": "import os\n"}}),
                    timeout=10,
                    headers={"Authorization": f"Bearer {secret}"},
                )
            finally:
                if caller is not nc:
                    await caller.close()
            reply = orjson.loads(msg.data)
            assert reply["status"] == "ok", (node, reply)
            assert reply["service_id"] == "local-review"
    finally:
        await nc.close()


def refuses(url: str) -> bool:
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_ctrl_c_stops_workers_routers_then_every_node(up: Up) -> None:
    servers = our_nats_servers(up.data_dir)
    assert len(servers) == 3

    rest = await up.stop()

    assert up.process.returncode == 0, "".join(up.lines) + rest
    in_order = [
        "stopping…",
        "✓ 3 workers drained",
        "✓ 2 routers drained",
        "✓ 3 NATS nodes stopped",
        "CAIO stopped.",
    ]
    assert [line.strip() for line in rest.splitlines() if line.strip() in in_order] == in_order
    assert "Traceback" not in rest, rest
    assert our_nats_servers(up.data_dir) == set()
    assert all(refuses(url) for url in up.urls.values())
