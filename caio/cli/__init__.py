"""The ``caio`` command."""

from __future__ import annotations

from typing import Any

import typer

from caio import __version__
from caio.cli import _common, audit, docs, jobs, keys, registry, route, serve, up
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


def _option(name: str, env: str, text: str) -> Any:
    return typer.Option(None, name, envvar=env, help=text, show_default=False)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
    nats_user: str | None = _option("--nats-user", "CAIO_NATS_USER", "NATS user."),
    nats_password: str | None = _option("--nats-password", "CAIO_NATS_PASSWORD", "Password."),
    nats_token: str | None = _option("--nats-token", "CAIO_NATS_TOKEN", "NATS token."),
    nats_nkey_seed: str | None = _option(
        "--nats-nkey-seed", "CAIO_NATS_NKEY_SEED", "NKey seed file."
    ),
    nats_creds: str | None = _option("--nats-creds", "CAIO_NATS_CREDS", "NATS .creds file (JWT)."),
    tls_ca: str | None = _option("--tls-ca", "CAIO_NATS_TLS_CA", "CA bundle to verify NATS."),
    tls_cert: str | None = _option("--tls-cert", "CAIO_NATS_TLS_CERT", "Client certificate."),
    tls_key: str | None = _option("--tls-key", "CAIO_NATS_TLS_KEY", "Client certificate key."),
    tls_hostname: str | None = _option("--tls-hostname", "CAIO_NATS_TLS_HOSTNAME", "TLS name."),
    inbox_prefix: str | None = _option("--inbox-prefix", "CAIO_NATS_INBOX_PREFIX", "Inbox prefix."),
) -> None:
    """Every command takes --nats-url (or CAIO_NATS_URL) and --prefix (CAIO_PREFIX).

    NATS credentials and TLS go before the command (caio --nats-creds app.creds services)
    or in CAIO_NATS_* variables; API keys go in --api-key or CAIO_API_KEY.
    """
    try:
        _common.credentials = NatsCredentials(
            user=nats_user,
            password=nats_password,
            token=nats_token,
            nkey_seed_file=nats_nkey_seed,
            creds_file=nats_creds,
            tls_ca_file=tls_ca,
            tls_cert_file=tls_cert,
            tls_key_file=tls_key,
            tls_hostname=tls_hostname,
            inbox_prefix=inbox_prefix,
        )
    except ValueError as exc:
        _common.fail(str(exc))


up.register_commands(app)
serve.register_commands(app)
registry.register_commands(app)
route.register_commands(app)
docs.register_commands(app)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(jobs.jobs_app, name="jobs")


def main() -> None:
    app()
