"""The ``caio`` command."""

from __future__ import annotations

import typer

from caio import __version__
from caio.cli import (
    _common,
    audit,
    bridge,
    docs,
    gateway,
    jobs,
    keys,
    mqtt_ingress,
    registry,
    route,
    serve,
    spend,
    up,
)
from caio.cli._connect import credential_options
from caio_integration.natsauth import NatsCredentials

__all__ = ["app", "main"]

app = typer.Typer(
    name="caio",
    help="CAIO: a contract-based router for AI services over NATS.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"caio {__version__}")
        raise typer.Exit()


@app.callback()
@credential_options
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
    **credentials: str | None,
) -> None:
    """Every command takes --nats-url (or CAIO_NATS_URL) and --prefix (CAIO_PREFIX).

    NATS credentials and TLS go before the command (caio --nats-creds app.creds services)
    or in CAIO_NATS_* variables; API keys go in --api-key or CAIO_API_KEY.
    """
    try:
        _common.credentials = NatsCredentials(**credentials)
    except ValueError as exc:
        _common.fail(str(exc))


up.register_commands(app)
serve.register_commands(app)
gateway.register_commands(app)
mqtt_ingress.register_commands(app)
spend.register_commands(app)
registry.register_commands(app)
route.register_commands(app)
docs.register_commands(app)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(bridge.bridge_app, name="bridge")


def main() -> None:
    app()
