"""``caio bridge``: serve services that need no code of their own.

``caio bridge http CONTRACT.yaml`` serves every capability of a contract
whose ``api`` section declares HTTP endpoints (docs/http-bridge.md), and
``caio bridge onnx CONTRACT.yaml`` one whose ``api`` names an ONNX model
(workers/onnx_bridge/README.md), and ``caio bridge grpc CONTRACT.yaml`` one whose
``api`` names unary gRPC methods (workers/grpc_bridge/README.md), with the
caller's NATS options and publisher key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from caio.cli._common import daemon_connect_options, fail, read_text_file, run_async
from caio.cli._connect import Bus, connected
from caio.cli.serve import (
    OtlpEndpointOption,
    RegisterOption,
    enable_tracing_or_fail,
    serve_until_shutdown,
)
from caio.logs import configure_logging

if TYPE_CHECKING:
    from caio_integration.errors import InvalidContract
    from caio_integration.host import HostConfig, ServiceHost

__all__ = ["bridge_app"]

bridge_app = typer.Typer(
    help="Serve services that need no code of their own.", no_args_is_help=True
)


def _serve(
    bus: Bus,
    contract: Path,
    create: Callable[[Path, HostConfig], ServiceHost],
    *,
    register: bool,
    otlp_endpoint: str | None,
    refusals: tuple[type[Exception], ...] = (),
) -> None:
    """What every ``caio bridge`` command does once its package is imported.

    ``create`` builds the host and checks the whole contract (one line per
    problem); ``refusals`` are the errors, besides a contract the service
    refuses when it starts, that stop it with their one line (a credential
    that cannot be read: its name, never its value).
    """
    from caio_integration.errors import InvalidContract
    from caio_integration.host import HostConfig

    configure_logging()
    if otlp_endpoint:
        enable_tracing_or_fail(otlp_endpoint)
    read_text_file(contract, "CONTRACT")  # a missing file is one line, not a traceback
    config = HostConfig(
        nats_url=bus.nats_url,
        prefix=bus.prefix,
        api_key=bus.api_key,
        register=register,
        connect_options=daemon_connect_options(),
    )
    try:
        host = create(contract, config)  # every contract problem now
    except InvalidContract as exc:
        fail(_lines(exc))

    async def make() -> ServiceHost:
        return host

    async def serve() -> InvalidContract | None:
        try:
            await serve_until_shutdown(make)
        except InvalidContract as exc:  # found when it starts: a gRPC method the server lacks
            return exc
        return None

    try:
        refused = run_async(serve())  # a server that does not answer: one line, its code
    except refusals as exc:
        fail(escape(str(exc)))
    if refused is not None:
        fail(_lines(refused))


def _lines(exc: InvalidContract) -> str:
    return escape("\n".join([exc.message, *exc.details.get("errors", [])]))


@bridge_app.command("http")
@connected()
def http(
    bus: Bus,
    contract: Annotated[
        Path, typer.Argument(help="The contract (YAML or JSON) whose api section to serve.")
    ],
    base_url: Annotated[
        str | None, typer.Option(help="The upstream's URL, instead of the contract's.")
    ] = None,
    register: RegisterOption = True,
    otlp_endpoint: OtlpEndpointOption = None,
) -> None:
    """Serve every capability of CONTRACT by calling the HTTP endpoint its api names.

    For example `caio bridge http contracts/examples/openai-compatible-chat.yaml
    --base-url http://127.0.0.1:11434/v1` in front of a local Ollama.
    """
    from caio_http_bridge import CredentialError, create_host

    _serve(
        bus,
        contract,
        lambda path, config: create_host(path, config, base_url=base_url),
        register=register,
        otlp_endpoint=otlp_endpoint,
        refusals=(CredentialError,),
    )


@bridge_app.command("onnx")
@connected()
def onnx(
    bus: Bus,
    contract: Annotated[
        Path, typer.Argument(help="The contract (YAML or JSON) whose ONNX model to serve.")
    ],
    register: RegisterOption = True,
    otlp_endpoint: OtlpEndpointOption = None,
) -> None:
    """Serve every capability of CONTRACT by running the ONNX model its api names.

    The model is loaded once with onnxruntime (CPU); each capability's
    binding maps the request's context to the model's inputs and its
    outputs to the result's keys.
    """
    try:
        from caio_onnx_bridge import create_host
    except ImportError:  # onnxruntime is an optional part: say how to get it
        fail("the ONNX bridge is not installed: pip install caio-onnx-bridge")
    # The model is loaded and checked by create_host, before anything connects.
    _serve(bus, contract, create_host, register=register, otlp_endpoint=otlp_endpoint)


@bridge_app.command("grpc")
@connected()
def grpc(
    bus: Bus,
    contract: Annotated[
        Path, typer.Argument(help="The contract (YAML or JSON) whose gRPC methods to serve.")
    ],
    register: RegisterOption = True,
    otlp_endpoint: OtlpEndpointOption = None,
) -> None:
    """Serve every capability of CONTRACT by calling the unary gRPC method its api names.

    The methods' messages come from the contract's descriptor_set, or from
    the server by reflection when it starts; the request's context becomes
    the request message (proto3 JSON) and the response message the result.
    """
    try:
        from caio_grpc_bridge import CredentialError, create_host
    except ImportError:  # grpcio is an optional part: say how to get it
        fail("the gRPC bridge is not installed: pip install caio-grpc-bridge")
    _serve(
        bus,
        contract,
        create_host,
        register=register,
        otlp_endpoint=otlp_endpoint,
        refusals=(CredentialError,),
    )
