"""``caio router`` and ``caio worker``: the long-running processes."""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import structlog
import typer
from rich.markup import escape

from caio.cli._common import (
    NATS_URL_DEFAULT,
    NatsUrlOption,
    PrefixOption,
    daemon_connect_options,
    err_console,
    fail,
    read_text_file,
    run_async,
)
from caio.cli._connect import Bus, connected
from caio.logs import configure_logging
from caio_integration.client import CAIOClient
from caio_integration.gctune import settle_after_start
from caio_integration.subjects import DEFAULT_PREFIX

if TYPE_CHECKING:
    from caio_broker.router import RouterConfig

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


class _Service(Protocol):
    async def start(self) -> object: ...
    async def stop(self) -> object: ...


async def serve_until_shutdown(make: Callable[[], Awaitable[_Service]]) -> None:
    """Build and start a service once signals are caught; stop it on SIGINT/SIGTERM."""
    async with ShutdownSignal() as shutdown:
        service = await make()
        await service.start()
        settle_after_start()  # the collector leaves what start-up built alone
        try:
            await shutdown.wait()
        finally:
            await service.stop()


RegisterOption = Annotated[bool, typer.Option(help="Register the contract with CAIO on start.")]
OtlpEndpointOption = Annotated[
    str | None,
    typer.Option(
        envvar="CAIO_OTLP_ENDPOINT",
        help="Export OpenTelemetry spans over OTLP/HTTP to this URL "
        "(e.g. http://127.0.0.1:4318/v1/traces); needs the otel extra.",
    ),
]


def router(
    nats_url: NatsUrlOption = NATS_URL_DEFAULT,
    prefix: PrefixOption = DEFAULT_PREFIX,
    replicas: Annotated[
        int, typer.Option(help="JetStream replicas for registry and audit (3 on a cluster).")
    ] = 1,
    max_in_flight: Annotated[
        int, typer.Option(help="Requests handled at once by this router.")
    ] = 2048,
    max_in_flight_per_key: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Route requests one API key may have in flight here; more are refused "
            "rate_limited, so a flooding key slows only itself (default: a quarter of "
            "--max-in-flight; 0: no limit).",
        ),
    ] = None,
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
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus /metrics (caio_* series) on this port (0: any)."),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address /metrics listens on.")] = "127.0.0.1",
    otlp_endpoint: OtlpEndpointOption = None,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Router processes to run (one per core uses them all); with --metrics-port P "
            "they serve /metrics on P, P+1, ...",
        ),
    ] = 1,
) -> None:
    """Serve the registry and routing subjects (run several for more capacity)."""
    from caio_broker.metrics import MetricsSettings
    from caio_broker.router import AuthSettings, RouterConfig
    from caio_broker.routing import RouteSettings

    configure_logging()
    if otlp_endpoint:
        enable_tracing_or_fail(otlp_endpoint)  # checked here, so a missing extra is one line
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
        route=RouteSettings(max_in_flight_per_key=max_in_flight_per_key),
        liveness_window_s=liveness_window,
        connect_options=daemon_connect_options(),
        auth=AuthSettings(
            required=not insecure_no_auth,
            policy_hook=policy_hook,
            policy_subject=policy_subject,
        ),
        metrics=MetricsSettings(port=metrics_port, host=metrics_host),
    )

    if processes > 1:
        from caio.cli.router_group import run_router_processes

        serve = functools.partial(serve_router, otlp_endpoint=otlp_endpoint)
        raise typer.Exit(run_router_processes(config, processes, serve))
    serve_router(config)


def serve_router(config: RouterConfig, otlp_endpoint: str | None = None) -> None:
    """One router process, until SIGINT/SIGTERM."""
    from caio_broker.router import Router

    if otlp_endpoint:  # a forked child: the parent's exporter thread did not come along
        enable_tracing_or_fail(otlp_endpoint)

    async def make() -> Router:
        return Router(config)

    run_async(serve_until_shutdown(make))


def enable_tracing_or_fail(otlp_endpoint: str) -> None:
    from caio_integration.tracing import enable_tracing

    try:
        enable_tracing(otlp_endpoint=otlp_endpoint)
    except ImportError:
        fail("--otlp-endpoint needs OpenTelemetry: pip install 'caio[otel]'")


def _worker_names() -> str:
    from caio.workers.catalog import available_workers

    return ", ".join(available_workers())


@connected()
def worker(
    bus: Bus,
    name: Annotated[
        str,
        typer.Argument(
            help=f"A built-in worker ({_worker_names()}), or your own BridgeWorker subclass "
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
    register: RegisterOption = True,
    otlp_endpoint: OtlpEndpointOption = None,
) -> None:
    """Run a bridge worker: serve its contract's capabilities in a queue group.

    For example `caio worker local-review`, or, for your own class MyWorker in
    ./my_worker.py, `caio worker my_worker:MyWorker --contract my-service.yaml`.
    """
    from caio.workers.catalog import create_worker, worker_and_contract
    from caio_integration.bridge import BridgeWorker, WorkerConfig

    configure_logging()
    if otlp_endpoint:
        enable_tracing_or_fail(otlp_endpoint)
    # Checked before anything connects, so each mistake is one line.
    try:
        worker_and_contract(name, contract)
    except ValueError as exc:
        fail(escape(str(exc)))
    if contract is not None:
        read_text_file(contract, "--contract")

    async def make() -> BridgeWorker:
        config = WorkerConfig(
            nats_url=bus.nats_url, prefix=bus.prefix, connect_options=daemon_connect_options()
        )
        try:
            bridge = create_worker(name, config, contract)
        except ValueError as exc:  # e.g. the class implements none of the capabilities
            fail(escape(str(exc)))
        if register:
            await register_contract(bus.client(), bridge.contract.to_document())
        return bridge

    run_async(serve_until_shutdown(make))


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
