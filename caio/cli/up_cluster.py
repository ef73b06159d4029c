"""``caio up --cluster N``: N ``nats-server`` nodes as one cluster, and CAIO on it at R3.

The plan, on this machine: ``NatsCluster`` (caio_integration.natscluster, the
harness tests/cluster uses) runs the nodes ``n1``..``nN`` on loopback, each
keeping its JetStream store under ``<data-dir>/cluster/n<i>/store``. Two
routers, on ``n1`` and ``n2``, create CAIO's streams and KV buckets with three
replicas; every local worker runs one instance on each node. Each process
gets the whole cluster as its seed list with its own node first, unshuffled,
so it connects there and fails over to the others.

``caio up`` (up.py) runs the processes; this module only starts the nodes
and says where each process connects.
"""

from __future__ import annotations

from pathlib import Path

from caio.cli.up import Attachment, Topology
from caio_integration.natscluster import NatsCluster, NatsClusterConfig

__all__ = ["MIN_NODES", "REPLICAS", "cluster_topology", "start_cluster"]

REPLICAS = 3  # CAIO's streams and KV buckets: a copy on three nodes, one may be lost
MIN_NODES = REPLICAS
ROUTERS = 2  # on the first two nodes: a router (or its node) can stop, the other serves
CLUSTER_NAME = "caio-local"  # fixed: the stores are kept from one `caio up` to the next


def cluster_topology(cluster: NatsCluster) -> Topology:
    """Where each of ``caio up``'s processes connects on ``cluster``."""
    urls = cluster.urls
    on_node = tuple(
        Attachment(node.name, ",".join(urls[node.index :] + urls[: node.index]))
        for node in cluster.nodes
    )
    width = max(len(url) for url in urls)
    nodes = "\n".join(
        f"  {node.name}  [bold]{node.url:<{width}}[/]  "
        f"[dim]monitoring http://{node.host}:{node.ports.http}[/]"
        for node in cluster.nodes
    )
    return Topology(
        url=cluster.url,
        cli_url=urls[0],
        host=cluster.config.host,
        listening=f"NATS cluster of {len(urls)} nodes, JetStream R{REPLICAS}:\n{nodes}",
        routers=on_node[:ROUTERS],
        workers=on_node,
        replicas=REPLICAS,
        # nats-py shuffles the seed list unless told not to: keep each on its own node.
        connect_options={"dont_randomize": True},
    )


def start_cluster(size: int, host: str, port: int, base_dir: Path) -> NatsCluster:
    """Start ``size`` nodes under ``base_dir``; n1 listens for clients on ``port`` (-1: any).

    The stores hold the user's registry, keys and audit trail, so a retry on
    fresh ports keeps them; a taken ``port`` is an error (NatsServerPortInUse).
    """
    config = NatsClusterConfig(
        base_dir=base_dir,
        size=size,
        host=host,
        cluster_name=CLUSTER_NAME,
        first_client_port=None if port == -1 else port,
        keep_stores=True,
    )
    return NatsCluster(config).start()
