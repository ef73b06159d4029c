"""The connect-and-auth prologue of every command that talks to CAIO, written once.

A command takes ``bus: Bus`` as its first parameter and is decorated with
``@connected()``: its command line gains ``--nats-url``, ``--prefix`` and
``--api-key`` (with their ``CAIO_*`` variables; ``connected(api_key=False)``
leaves the key out), placed before ``--json`` as every command always had
them. The ``Bus`` connects fail-fast with the NATS credentials the root
command took, sends the key given or the one ``caio up`` left in
``./.caio/admin.key``, and turns CAIO and connection errors into one line
(``run_async``)::

    @keys_app.command("list")
    @connected()
    def list_keys(bus: Bus, json_out: JsonOption = False) -> None:
        found = bus.call(lambda caio: caio.list_keys())
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

import nats
import typer
from nats.aio.client import Client as NATS

from caio.cli._common import (
    NATS_URL_DEFAULT,
    ApiKeyOption,
    NatsUrlOption,
    PrefixOption,
    cli_client,
    connect_options,
    run_async,
)
from caio_integration.client import CAIOClient
from caio_integration.natsauth import ENV_VARS
from caio_integration.subjects import DEFAULT_PREFIX

__all__ = ["Bus", "connected", "credential_options"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Bus:
    """Where a command connects and as whom: ``--nats-url``, ``--prefix``, ``--api-key``."""

    nats_url: str
    prefix: str
    api_key: str | None = None

    def client(self) -> CAIOClient:
        """The SDK client, not yet connected (``async with`` connects it)."""
        return cli_client(self.nats_url, self.prefix, self.api_key)

    def call(self, action: Callable[[CAIOClient], Awaitable[T]]) -> T:
        """Connect, run ``action`` with the client, close; errors end the command in one line."""

        async def go() -> T:
            async with self.client() as caio:
                return await action(caio)

        return run_async(go())

    @asynccontextmanager
    async def nats(self, name: str | None = None) -> AsyncIterator[NATS]:
        """A plain NATS connection (fail-fast, the root's credentials), drained on exit:
        for what goes to JetStream directly rather than through a router."""
        nc = await nats.connect(self.nats_url, name=name, **connect_options())
        try:
            yield nc
        finally:
            await nc.drain()


def _bus_parameters(api_key: bool) -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("nats_url", keyword, annotation=NatsUrlOption, default=NATS_URL_DEFAULT),
        inspect.Parameter("prefix", keyword, annotation=PrefixOption, default=DEFAULT_PREFIX),
    ]
    if api_key:
        parameters.append(
            inspect.Parameter("api_key", keyword, annotation=ApiKeyOption, default=None)
        )
    return parameters


def connected(
    *, api_key: bool = True
) -> Callable[[Callable[Concatenate[Bus, P], R]], Callable[P, R]]:
    """Give a command the bus options and, in their place, the ``Bus`` they describe."""

    def decorate(command: Callable[Concatenate[Bus, P], R]) -> Callable[P, R]:
        own = _parameters(command)[1:]  # without ``bus``
        at = next((i for i, p in enumerate(own) if p.name == "json_out"), len(own))

        @wraps(command)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            options: dict[str, Any] = kwargs
            bus = Bus(options.pop("nats_url"), options.pop("prefix"), options.pop("api_key", None))
            return command(bus, *args, **kwargs)

        _show_typer(run, [*own[:at], *_bus_parameters(api_key), *own[at:]])
        return run

    return decorate


# The root command's option for each NatsCredentials field: flag and help. The
# variable each also reads is the SDK's (natsauth.ENV_VARS), as every process reads it.
_CREDENTIAL_OPTIONS = {
    "user": ("--nats-user", "NATS user."),
    "password": ("--nats-password", "Password."),
    "token": ("--nats-token", "NATS token."),
    "nkey_seed_file": ("--nats-nkey-seed", "NKey seed file."),
    "creds_file": ("--nats-creds", "NATS .creds file (JWT)."),
    "tls_ca_file": ("--tls-ca", "CA bundle to verify NATS."),
    "tls_cert_file": ("--tls-cert", "Client certificate."),
    "tls_key_file": ("--tls-key", "Client certificate key."),
    "tls_hostname": ("--tls-hostname", "TLS name."),
    "inbox_prefix": ("--inbox-prefix", "Inbox prefix."),
}


def credential_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` (which takes ``**credentials``) an option per NatsCredentials field;
    it receives them as keywords named like the fields."""
    own = [p for p in _parameters(command) if p.kind is not inspect.Parameter.VAR_KEYWORD]
    options = [
        inspect.Parameter(
            field,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=str | None,
            default=typer.Option(None, flag, envvar=ENV_VARS[field], help=text, show_default=False),
        )
        for field, (flag, text) in _CREDENTIAL_OPTIONS.items()
    ]
    _show_typer(command, [*own, *options])
    return command


def _parameters(command: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(command, eval_str=True).parameters.values())


def _show_typer(command: Callable[..., Any], parameters: list[inspect.Parameter]) -> None:
    """Make ``parameters`` the options typer sees: it reads ``inspect.signature`` (which
    prefers ``__signature__``) and ``get_type_hints`` (which reads ``__annotations__``)."""
    keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters]
    command.__signature__ = inspect.Signature(keyword)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in keyword}
