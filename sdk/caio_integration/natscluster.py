"""A local NATS cluster: N ``nats-server`` processes with JetStream, one Raft meta group.

What ``deploy/nats/cluster/`` runs in containers, as child processes on
loopback, for the tests and for a local ``caio up --cluster 3``: each node
has its own client, cluster (route) and monitoring port, its own store
directory and server name, a config file with ``cluster { name, listen,
routes }`` listing every node, JetStream on, and ``sync_interval: always``
as in the deployment configs (docs/deploy.md, "Durability").

Readiness is read from each node's log, as ``NatsServer`` does: "Server is
ready", then "Listening for route connections" (nats-server binds the route
port *after* it says it is ready, so a taken route port shows up only
there), then the JetStream meta leader ("Self is new JetStream cluster
metadata leader" on the leader, "JetStream cluster new metadata leader:
<name>/<cluster>" on the others). Whether a node has *caught up* (its
replicas current, routes to every peer) has no log line or event, so that
is polled, with a deadline, from the node's monitoring endpoints
(``/healthz``, ``/routez``, ``/jsz``).

Faults: ``kill(i)`` is SIGKILL (the store stays), ``restart(i)`` starts the
node again on the same ports and store; ``partition(i)`` cuts node ``i``'s
routes without stopping anything (every node reloads its config with the
routes to or from ``i`` removed, so no side dials the other; ``i`` keeps
its clients, as the minority side of a network partition does) and
``heal()`` puts the routes back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caio_integration.natsserver import (
    NatsServer,
    NatsServerConfig,
    NatsServerError,
    NatsServerPortInUse,
)

__all__ = [
    "ClusterNode",
    "NatsCluster",
    "NatsClusterConfig",
    "NodePorts",
    "free_port",
]

# nats-server's own words (checked against 2.10-2.15); read from the log only here.
_ROUTES_LISTENING = "Listening for route connections"
_META_LEADER = re.compile(
    r"Self is new JetStream cluster metadata leader|JetStream cluster new metadata leader: "
)
_META_LEADER_LOST = "JetStream cluster no metadata leader"
_RELOADED = "Reloaded server configuration"
_FATAL = "[FTL]"
_PORT_IN_USE = "address already in use"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bind port 0, read it, release it).

    Another process may take it before the server binds it; callers retry on
    ``NatsServerPortInUse``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class NodePorts:
    client: int
    cluster: int
    http: int  # monitoring: /healthz, /routez, /jsz, /varz


@dataclass(slots=True)
class NatsClusterConfig:
    """How to start the cluster. Each node keeps its files under ``base_dir/<name>``."""

    base_dir: Path
    size: int = 3
    host: str = "127.0.0.1"
    cluster_name: str = field(default_factory=lambda: f"caio-{uuid.uuid4().hex[:8]}")
    # fsync before every JetStream ack, as deploy/nats/ does; None: the server's default.
    sync_interval: str | None = "always"
    ready_timeout_s: float = 30.0
    port_attempts: int = 5  # fresh ports this many times when one is taken at start
    # n1's client port (`caio up --cluster --port`); None: a free one, like the rest.
    # Taken by another process, it is an error rather than a reason to retry.
    first_client_port: int | None = None
    # Keep the nodes' directories when starting again on fresh ports: for stores
    # that hold a user's data (`caio up`), not a test's throwaway ones.
    keep_stores: bool = False


class _TeeLog(deque[str]):
    """``NatsServer``'s bounded log, also handing every line to ``sink``."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__(maxlen=400)
        self._sink = sink

    def append(self, line: str) -> None:
        super().append(line)
        self._sink(line)


class ClusterNode:
    """One node: its server, ports, config file and what its log has said."""

    def __init__(
        self, index: int, name: str, ports: NodePorts, directory: Path, host: str = "127.0.0.1"
    ) -> None:
        self.index = index
        self.host = host
        self.name = name
        self.ports = ports
        self.directory = directory
        self.config_file = directory / "nats-server.conf"
        self.store_dir = directory / "store"
        self.routes_listening = threading.Event()
        self.meta_leader_known = threading.Event()
        self.reloaded = threading.Event()
        self.fatal = threading.Event()
        self.log: deque[str] = deque(maxlen=400)  # every incarnation's lines, in order
        self.server = self._new_server()

    def _new_server(self) -> NatsServer:
        """A fresh ``NatsServer`` for each start of this node.

        Not one object started again: ``NatsServer.kill`` does not wait for
        the killed process's log reader, whose last act (setting the
        readiness event when the log ends) can land inside the next
        ``start``, which then fails at once as "did not become ready". A new
        object has its own event, which the old reader cannot touch.
        """
        server = NatsServer(
            NatsServerConfig(
                store_dir=self.store_dir,
                host=self.host,
                port=self.ports.client,
                config_file=self.config_file,
            )
        )
        # NatsServer keeps the last lines in a deque and reads nothing but
        # readiness from them; the tee lets the cluster wait on the other lines.
        assert isinstance(server._log, deque)
        server._log = _TeeLog(self._on_line)
        return server

    def start(self) -> None:
        """Start a new server process for this node; returns at "Server is ready"."""
        self.server.stop()
        for event in (self.routes_listening, self.meta_leader_known, self.reloaded, self.fatal):
            event.clear()
        self.server = self._new_server()
        self.server.start()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def running(self) -> bool:
        return self.server.running

    def _on_line(self, line: str) -> None:
        self.log.append(line)
        if _ROUTES_LISTENING in line:
            self.routes_listening.set()
        elif _META_LEADER.search(line):
            self.meta_leader_known.set()
        elif _META_LEADER_LOST in line:
            self.meta_leader_known.clear()
        elif _RELOADED in line:
            self.reloaded.set()
        elif _FATAL in line:
            self.fatal.set()
            self.routes_listening.set()  # wake the waiters: they check ``fatal``
            self.meta_leader_known.set()
            self.reloaded.set()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(list(self.log)[-lines:])

    def monitor(self, path: str, timeout_s: float = 2.0) -> tuple[int, dict[str, Any]]:
        """GET a monitoring endpoint (``/healthz``, ``/jsz?streams=true``...): status, JSON."""
        url = f"http://{self.host}:{self.ports.http}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                status: int = response.status
                body = response.read()
        except urllib.error.HTTPError as exc:  # /healthz answers 503 with a JSON body
            status, body = exc.code, exc.read()
        data = json.loads(body) if body else {}
        return status, data if isinstance(data, dict) else {"value": data}


def _replicated_assets(node: ClusterNode) -> dict[tuple[str, ...], dict[str, Any]]:
    """Node ``node``'s view of each stream and consumer it hosts: its ``cluster`` info."""
    _, jsz = node.monitor("/jsz?accounts=true&streams=true&consumers=true")
    assets: dict[tuple[str, ...], dict[str, Any]] = {}
    for account in jsz.get("account_details") or []:
        name = str(account.get("name"))
        for stream in account.get("stream_detail") or []:
            cluster = stream.get("cluster") or {}
            assets[(name, str(stream.get("name")))] = cluster
            for consumer in stream.get("consumer_detail") or []:
                key = (name, str(stream.get("name")), str(consumer.get("name")))
                assets[key] = consumer.get("cluster") or {}
    return assets


class NatsCluster:
    """A running N-node cluster; use as a context manager or ``start``/``stop``."""

    def __init__(self, config: NatsClusterConfig) -> None:
        if config.size < 2:
            raise ValueError("a cluster needs two nodes or more; one node is a NatsServer")
        self.config = config
        self.nodes: list[ClusterNode] = []
        self._isolated: set[int] = set()

    # -- addresses --------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        """Each node's client URL, by index."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node as one seed list (``nats://a,nats://b``), as CAIO's ``--nats-url`` takes."""
        return ",".join(self.urls)

    def node(self, index: int) -> ClusterNode:
        return self.nodes[index]

    def index_of(self, name: str) -> int:
        """The index of the node whose server name is ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node.index
        raise KeyError(name)

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> NatsCluster:
        """Start every node; return once all are up, routed, agree on a meta leader and
        ``converged``. Ports taken meanwhile by another process: fresh ports, again."""
        cfg = self.config
        last: NatsServerPortInUse | None = None
        for _attempt in range(cfg.port_attempts):
            self._make_nodes()
            starting = self.nodes[0]
            try:
                for starting in self.nodes:
                    self._start_node(starting)
                self._wait_meta_leader(self.nodes, cfg.ready_timeout_s)
                self.wait_converged(cfg.ready_timeout_s)
                return self
            except NatsServerPortInUse as exc:  # another process took a port: new ports
                last = exc
                self._stop_nodes()
                if starting.index == 0 and cfg.first_client_port is not None:
                    raise  # the port asked for is taken: fresh ones would not be it
                if not cfg.keep_stores:
                    for node in self.nodes:
                        shutil.rmtree(node.directory, ignore_errors=True)
            except BaseException:
                self._stop_nodes()
                raise
        raise NatsServerError(f"no free ports after {cfg.port_attempts} attempts") from last

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM every node at once, then SIGKILL those still running after ``timeout_s``."""
        self._stop_nodes(timeout_s)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -----------------------------------------------------------------

    def kill(self, index: int) -> None:
        """SIGKILL node ``index``, as a crash would; its store stays for ``restart``."""
        self.nodes[index].server.kill()

    def restart(self, index: int, *, wait_current: bool = True) -> None:
        """Start node ``index`` again (stopping it first if it runs) on the same ports and store.

        Returns once it is ready, routed and knows the meta leader; with
        ``wait_current`` also once the cluster has converged again (``converged``:
        every stream and consumer it holds a replica of is current).
        A port taken meanwhile raises ``NatsServerPortInUse``: the other
        nodes' routes name it, so it cannot simply move.
        """
        node = self.nodes[index]
        self._start_node(node)
        self._wait_meta_leader([node], self.config.ready_timeout_s)
        if wait_current:
            self.wait_converged(self.config.ready_timeout_s)

    def partition(self, index: int) -> None:
        """Cut every route between node ``index`` and the rest; nothing is restarted.

        Each running node reloads a config whose routes leave ``index`` out
        (``index`` itself gets none), so neither side dials the other; the
        reload closes the existing routes. Clients stay connected where they
        are: those on ``index`` see a node without JetStream quorum.
        """
        self._isolated.add(index)
        self._reload_routes()
        deadline = time.monotonic() + self.config.ready_timeout_s
        others = {n.name for n in self.nodes if n.index != index and n.running}
        # The reload closes the routes before it logs; confirm from /routez anyway.
        self._poll(
            deadline,
            lambda: (
                not self.routes_to(index)
                and all(
                    self.nodes[index].name not in self.routes_to(n.index)
                    for n in self.nodes
                    if n.name in others
                )
            ),
            f"node {index} still routed after partition",
        )

    def heal(self) -> None:
        """Give every node its full route list again and wait until the cluster has converged."""
        self._isolated.clear()
        self._reload_routes()
        self.wait_converged(self.config.ready_timeout_s)

    @property
    def isolated(self) -> frozenset[int]:
        return frozenset(self._isolated)

    # -- state ------------------------------------------------------------------

    def routes_to(self, index: int) -> set[str]:
        """Server names node ``index`` has a route to (``/routez``)."""
        _, routez = self.nodes[index].monitor("/routez")
        return {r["remote_name"] for r in routez.get("routes") or [] if r.get("remote_name")}

    def meta_leader(self, index: int) -> str | None:
        """The meta leader node ``index`` believes in (``/jsz``), or None."""
        _, jsz = self.nodes[index].monitor("/jsz")
        leader = (jsz.get("meta_cluster") or {}).get("leader")
        return leader if isinstance(leader, str) and leader else None

    def healthy(self, index: int) -> bool:
        """``/healthz`` is ok: in the cluster, meta leader known, its replicas current."""
        status, _ = self.nodes[index].monitor("/healthz")
        return status == 200

    def stream_state(self, index: int, stream: str) -> dict[str, Any] | None:
        """Node ``index``'s own replica of ``stream`` (``/jsz``): messages, bytes, seqs..."""
        _, jsz = self.nodes[index].monitor("/jsz?accounts=true&streams=true")
        for account in jsz.get("account_details") or []:
            for info in account.get("stream_detail") or []:
                if info.get("name") == stream:
                    state = info.get("state")
                    return state if isinstance(state, dict) else None
        return None

    def converged(self) -> bool:
        """Every running, connected node: routes to all the others, one meta leader, healthy,
        and for every stream and consumer one leader all agree on, whose view has every
        replica on those nodes current.

        ``/healthz`` alone is not enough: a node that led a stream when it was cut
        off still calls itself leader, and healthy, until it hears the new term.
        """
        running = [n for n in self.nodes if n.running and n.index not in self._isolated]
        names = {n.name for n in running}
        try:
            leaders = {self.meta_leader(n.index) for n in running}
            return (
                len(leaders) == 1
                and None not in leaders
                and leaders <= names
                and all(self.routes_to(n.index) >= names - {n.name} for n in running)
                and all(self.healthy(n.index) for n in running)
                and self._assets_current(running, names)
            )
        except OSError:  # a node's monitoring port is not up yet
            return False

    def _assets_current(self, running: list[ClusterNode], names: set[str]) -> bool:
        views = {n.name: _replicated_assets(n) for n in running}
        assets = set().union(*(set(v) for v in views.values()))
        for asset in assets:
            seen = {view[asset].get("leader") for view in views.values() if asset in view}
            leader = next(iter(seen)) if len(seen) == 1 else None
            if leader is None or leader not in views or asset not in views[leader]:
                return False
            replicas = views[leader][asset].get("replicas") or []
            if not all(r.get("current") for r in replicas if r.get("name") in names):
                return False
        return True

    def wait_converged(self, timeout_s: float = 30.0) -> None:
        """Poll until ``converged()``: there is no event for "caught up" (see the module doc)."""
        self._poll(time.monotonic() + timeout_s, self.converged, "cluster did not converge")

    def describe(self) -> str:
        """Each node's view: running, meta leader, routes, ``/healthz`` (for failure messages)."""
        lines = []
        for node in self.nodes:
            if not node.running:
                lines.append(f"{node.name}: not running")
                continue
            try:
                _, health = node.monitor("/healthz")
                lines.append(
                    f"{node.name}: meta leader {self.meta_leader(node.index)}, routes to "
                    f"{sorted(self.routes_to(node.index))}, healthz {health}"
                )
            except OSError as exc:
                lines.append(f"{node.name}: monitoring unreachable ({exc})")
        return "\n".join(lines)

    # -- internals --------------------------------------------------------------

    def _make_nodes(self) -> None:
        cfg = self.config
        cfg.base_dir.mkdir(parents=True, exist_ok=True)
        taken: set[int] = {cfg.first_client_port} if cfg.first_client_port else set()

        def port() -> int:
            while (p := free_port(cfg.host)) in taken:
                pass
            taken.add(p)
            return p

        self.nodes = []
        for index in range(cfg.size):
            name = f"n{index + 1}"
            client = cfg.first_client_port if index == 0 and cfg.first_client_port else port()
            ports = NodePorts(client=client, cluster=port(), http=port())
            directory = cfg.base_dir / name
            directory.mkdir(parents=True, exist_ok=True)
            self.nodes.append(ClusterNode(index, name, ports, directory, cfg.host))
        for node in self.nodes:
            node.config_file.write_text(self._config_text(node))

    def _route_indices(self, node: ClusterNode) -> list[int]:
        if node.index in self._isolated:
            return []
        return [n.index for n in self.nodes if n.index not in self._isolated]

    def _config_text(self, node: ClusterNode) -> str:
        cfg = self.config
        routes = "\n".join(
            f"    nats-route://{cfg.host}:{self.nodes[i].ports.cluster}"
            for i in self._route_indices(node)
        )
        jetstream = f"  sync_interval: {cfg.sync_interval}\n" if cfg.sync_interval else ""
        # The client port, address and store directory come as NatsServer's flags.
        return (
            f"# node {node.name} of cluster {cfg.cluster_name} (caio_integration.natscluster)\n"
            f"server_name: {node.name}\n"
            f"http: {cfg.host}:{node.ports.http}\n"
            "cluster {\n"
            f"  name: {cfg.cluster_name}\n"
            f"  listen: {cfg.host}:{node.ports.cluster}\n"
            "  routes: [\n"
            f"{routes}\n"
            "  ]\n"
            "}\n"
            "jetstream {\n"
            f"{jetstream}"
            "}\n"
        )

    def _start_node(self, node: ClusterNode) -> None:
        node.start()  # returns at "Server is ready"; raises NatsServerPortInUse
        if not node.routes_listening.wait(self.config.ready_timeout_s) or node.fatal.is_set():
            tail = node.log_tail()
            node.server.stop()
            failure = NatsServerPortInUse if _PORT_IN_USE in tail else NatsServerError
            raise failure(f"nats-server {node.name} did not open its route port:\n{tail}")

    def _wait_meta_leader(self, nodes: Iterable[ClusterNode], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for node in nodes:
            if not node.meta_leader_known.wait(max(0.0, deadline - time.monotonic())):
                raise NatsServerError(
                    f"nats-server {node.name}: no JetStream meta leader:\n{node.log_tail()}"
                )
            if node.fatal.is_set() or not node.running:
                raise NatsServerError(f"nats-server {node.name} died:\n{node.log_tail()}")

    def _reload_routes(self) -> None:
        """Rewrite every config, SIGHUP the running nodes, wait for each to say it reloaded."""
        running = [n for n in self.nodes if n.running]
        for node in self.nodes:
            node.config_file.write_text(self._config_text(node))
        for node in running:
            node.reloaded.clear()
            assert node.server.pid is not None
            os.kill(node.server.pid, signal.SIGHUP)
        for node in running:
            if not node.reloaded.wait(self.config.ready_timeout_s) or node.fatal.is_set():
                raise NatsServerError(f"nats-server {node.name} did not reload:\n{node.log_tail()}")

    def _stop_nodes(self, timeout_s: float = 10.0) -> None:
        nodes = [n for n in self.nodes if n.server.pid is not None]
        if not nodes:
            return
        # In parallel: each waits for its own SIGTERM; serially N nodes wait N times.
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            list(pool.map(lambda n: n.server.stop(timeout_s), nodes))

    def _poll(self, deadline: float, done: Callable[[], bool], failure: str) -> None:
        while not done():
            if time.monotonic() > deadline:
                raise NatsServerError(f"{failure}:\n{self.describe()}")
            time.sleep(0.05)
