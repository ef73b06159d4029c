"""``caio router`` and ``caio worker``: the long-running processes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.markup import escape

from caio.cli._common import (
    DEFAULT_NATS_URL,
    ApiKeyOption,
    NatsUrlOption,
    PrefixOption,
    cli_client,
    daemon_connect_options,
    err_console,
    fail,
    read_text_file,
    run_async,
)
from caio.logs import configure_logging
from caio_integration.client import CAIOClient

__all__ = ["ShutdownSignal", "register_commands"]

log = structlog.get_logger("caio.cli")


class ShutdownSignal:
    """Catches SIGINT/SIGTERM (Ctrl-C, `docker stop`, systemd) from the moment it is entered.

    Installed before anything starts, so a signal during start-up is not lost
    to Python's default KeyboardInterrupt; ``wait()`` returns once one came.
    """

    def __init__(self) -> None:
        self._received = asyncio.Event()

    async def __aenter__(self) -> ShutdownSignal:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._received.set)
        return self

    async def __aexit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    async def wait(self) -> None:
        await self._received.wait()


def router(
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    replicas: Annotated[
        int, typer.Option(help="JetStream replicas for registry and audit (3 on a cluster).")
    ] = 1,
    max_in_flight: Annotated[
        int, typer.Option(help="Requests handled at once by this router.")
    ] = 2048,
    liveness_window: Annotated[
        float, typer.Option(help="Seconds a heartbeat keeps a service available.")
    ] = 15.0,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve callers without API keys. Only for a trusted, closed network.",
        ),
    ] = False,
    policy_hook: Annotated[
        str | None, typer.Option(help="Governance check before routing: module:function.")
    ] = None,
    policy_subject: Annotated[
        str | None, typer.Option(help="Governance check before routing: a policy service subject.")
    ] = None,
) -> None:
    """Serve the registry and routing subjects (run several for more capacity)."""
    from caio_broker.router import AuthSettings, Router, RouterConfig

    configure_logging()
    if insecure_no_auth:
        err_console.print(
            "[bold red]WARNING: --insecure-no-auth: this router routes and registers for ANY "
            "client that reaches NATS. Never use it on a shared network.[/]"
        )
    config = RouterConfig(
        nats_url=nats_url,
        prefix=prefix,
        replicas=replicas,
        max_in_flight=max_in_flight,
        liveness_window_s=liveness_window,
        connect_options=daemon_connect_options(),
        auth=AuthSettings(
            required=not insecure_no_auth,
            policy_hook=policy_hook,
            policy_subject=policy_subject,
        ),
    )

    async def go() -> None:
        async with ShutdownSignal() as shutdown:
            service = Router(config)
            await service.start()
            try:
                await shutdown.wait()
            finally:
                await service.stop()

    run_async(go())


def worker(
    name: Annotated[
        str,
        typer.Argument(
            help="A built-in worker (codex, local-review), or your own BridgeWorker subclass "
            "as module:Class (imported from the current directory or the installed packages; "
            "needs --contract).",
            metavar="NAME|MODULE:CLASS",
        ),
    ],
    contract: Annotated[
        Path | None,
        typer.Option(
            help="The contract to serve (YAML or JSON): required for module:Class, else "
            "instead of the built-in one."
        ),
    ] = None,
    register: Annotated[
        bool, typer.Option(help="Register the contract with CAIO on start.")
    ] = True,
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    api_key: ApiKeyOption = None,
) -> None:
    """Run a bridge worker: serve its contract's capabilities in a queue group.

    For example `caio worker local-review`, or, for your own class MyWorker in
    ./my_worker.py, `caio worker my_worker:MyWorker --contract my-service.yaml`.
    """
    from caio.workers.catalog import available_workers, create_worker
    from caio.workers.custom import is_custom_worker, load_worker_class
    from caio_integration.bridge import WorkerConfig

    configure_logging()
    # Checked before anything connects, so each mistake is one line.
    if is_custom_worker(name):
        try:
            load_worker_class(name)
        except ValueError as exc:
            fail(escape(str(exc)))
        if contract is None:
            fail(f"worker {escape(name)} needs its contract: --contract FILE")
    elif name not in available_workers():
        fail(
            f"unknown worker {name!r}; built-in workers: {', '.join(available_workers())}, "
            "or your own BridgeWorker subclass as module:Class with --contract FILE"
        )
    if contract is not None:
        read_text_file(contract, "--contract")

    async def go() -> None:
        async with ShutdownSignal() as shutdown:
            config = WorkerConfig(
                nats_url=nats_url, prefix=prefix, connect_options=daemon_connect_options()
            )
            try:
                bridge = create_worker(name, config, contract)
            except ValueError as exc:  # e.g. the class implements none of the capabilities
                fail(escape(str(exc)))
            if register:
                await register_contract(
                    cli_client(nats_url, prefix, api_key), bridge.contract.to_document()
                )
            await bridge.start()
            try:
                await shutdown.wait()
            finally:
                await bridge.stop()

    run_async(go())


async def register_contract(client: CAIOClient, document: dict[str, object]) -> None:
    """Register a worker's contract; a different stored contract is a warning, not a stop."""
    from caio_integration.errors import Conflict, Forbidden, Unauthenticated

    async with client as caio:
        try:
            reg = await caio.register_service(document)
            log.info("contract_registered", service_id=reg.service_id, revision=reg.revision)
        except Conflict as exc:
            log.warning("contract_differs_from_registry", message=exc.message)
        except (Unauthenticated, Forbidden) as exc:
            # Serving goes on: a publisher can register the contract separately.
            log.error(
                "contract_not_registered",
                reason=exc.message,
                hint="give the worker a publisher key (CAIO_API_KEY) or run with --no-register",
            )


def register_commands(app: typer.Typer) -> None:
    app.command()(router)
    app.command()(worker)
