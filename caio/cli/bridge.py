"""``caio bridge``: serve services that need no code of their own.

``caio bridge http CONTRACT.yaml`` serves every capability of a contract
whose ``api`` section declares HTTP endpoints (docs/http-bridge.md), and
``caio bridge onnx CONTRACT.yaml`` one whose ``api`` names an ONNX model
(workers/onnx_bridge/README.md), and ``caio bridge grpc CONTRACT.yaml`` one whose
``api`` names unary gRPC methods (workers/grpc_bridge/README.md), with the
caller's NATS options and publisher key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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

__all__ = ["bridge_app"]

bridge_app = typer.Typer(
    help="Serve services that need no code of their own.", no_args_is_help=True
)


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
    from caio_integration.errors import InvalidContract
    from caio_integration.host import HostConfig, ServiceHost

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
        host = create_host(contract, config, base_url=base_url)  # every contract problem now
    except InvalidContract as exc:
        fail(escape("\n".join([exc.message, *exc.details.get("errors", [])])))

    async def make() -> ServiceHost:
        return host

    try:
        run_async(serve_until_shutdown(make))
    except CredentialError as exc:  # from setup(): names the variable or file, never a value
        fail(escape(str(exc)))


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
        from caio_onnx_bridge import create_host as create_onnx_host
    except ImportError:  # onnxruntime is an optional part: say how to get it
        fail("the ONNX bridge is not installed: pip install caio-onnx-bridge")
    from caio_integration.errors import InvalidContract
    from caio_integration.host import HostConfig, ServiceHost

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
        host = create_onnx_host(contract, config)  # the model is loaded and checked now
    except InvalidContract as exc:
        fail(escape("\n".join([exc.message, *exc.details.get("errors", [])])))

    async def make() -> ServiceHost:
        return host

    run_async(serve_until_shutdown(make))


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
        from caio_grpc_bridge import CredentialError
        from caio_grpc_bridge import create_host as create_grpc_host
    except ImportError:  # grpcio is an optional part: say how to get it
        fail("the gRPC bridge is not installed: pip install caio-grpc-bridge")
    from caio_integration.errors import InvalidContract
    from caio_integration.host import HostConfig, ServiceHost

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
        host = create_grpc_host(contract, config)  # a descriptor set is resolved now
    except InvalidContract as exc:
        fail(escape("\n".join([exc.message, *exc.details.get("errors", [])])))

    async def make() -> ServiceHost:
        return host

    async def serve() -> InvalidContract | None:
        try:
            await serve_until_shutdown(make)
        except InvalidContract as exc:  # by reflection, at start: a method the server lacks
            return exc
        return None

    try:
        refused = run_async(serve())  # a server that does not answer: one line, its code
    except CredentialError as exc:  # from setup(): names the variable or file, never a value
        fail(escape(str(exc)))
    if refused is not None:
        fail(escape("\n".join([refused.message, *refused.details.get("errors", [])])))
