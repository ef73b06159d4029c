"""The ``caio`` command."""

from __future__ import annotations

import typer

from caio import __version__
from caio.cli import audit, docs, registry, route, serve, up

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
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Every command takes --nats-url (or CAIO_NATS_URL) and --prefix (CAIO_PREFIX)."""


up.register_commands(app)
serve.register_commands(app)
registry.register_commands(app)
route.register_commands(app)
docs.register_commands(app)
app.add_typer(audit.audit_app, name="audit")


def main() -> None:
    app()
