"""What the gRPC bridge's tests share besides fixtures: the tiny service, and contracts for it.

A module of its own (not ``conftest``) so tests import it by a name no
other test directory uses. The service's ``.proto`` is compiled at test
time with grpcio-tools (``compile_demo``), into Python modules for the
test's server and into a descriptor set for the bridge; no test ships
generated code.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.resources
import shutil
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import yaml
from grpc_reflection.v1alpha import reflection
from grpc_tools import protoc

__all__ = [
    "SERVICE",
    "Demo",
    "Route",
    "compile_demo",
    "contract_document",
    "start_server",
    "write_contract",
]

# The ``route`` fixture: ``await route(capability, context, **fields)`` -> the reply.
Route = Callable[..., Awaitable[dict[str, Any]]]

SERVICE = "caio.demo.Greeter"
PROTO = """
syntax = "proto3";
package caio.demo;

import "google/protobuf/timestamp.proto";

message GreetRequest {
  string name = 1;
  int32 times = 2;
  repeated string tags = 3;
}

message GreetReply {
  string message = 1;
  int32 count = 2;
  repeated string tags = 3;
  google.protobuf.Timestamp at = 4;
  string authorization = 5;  // the call's authorization metadata, echoed
}

message FailRequest {
  string code = 1;  // a grpc.StatusCode name
  string message = 2;
}

service Greeter {
  rpc Greet (GreetRequest) returns (GreetReply);
  rpc Fail (FailRequest) returns (GreetReply);
  rpc Slow (GreetRequest) returns (GreetReply);  // answers after `times` ms
  rpc Count (GreetRequest) returns (stream GreetReply);
}
"""


@dataclass(frozen=True)
class Demo:
    """The compiled service: its message and service modules, and its descriptor set."""

    pb2: ModuleType
    pb2_grpc: ModuleType
    descriptor_set: Path


def compile_demo(directory: Path) -> Demo:
    """``caio_grpc_demo.proto`` compiled with grpcio-tools into ``directory`` and imported."""
    (directory / "caio_grpc_demo.proto").write_text(PROTO)
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    descriptor_set = directory / "caio_grpc_demo.pb"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{directory}",
            f"-I{well_known}",
            f"--python_out={directory}",
            f"--grpc_python_out={directory}",
            f"--descriptor_set_out={descriptor_set}",
            "--include_imports",
            str(directory / "caio_grpc_demo.proto"),
        ]
    )
    assert code == 0, "grpc_tools.protoc failed"
    sys.path.insert(0, str(directory))
    try:
        pb2 = importlib.import_module("caio_grpc_demo_pb2")
        pb2_grpc = importlib.import_module("caio_grpc_demo_pb2_grpc")
    finally:
        sys.path.remove(str(directory))
    return Demo(pb2, pb2_grpc, descriptor_set)


def _servicer(demo: Demo) -> Any:
    pb2 = demo.pb2

    class Greeter(demo.pb2_grpc.GreeterServicer):  # type: ignore[name-defined,misc]
        async def Greet(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            reply = pb2.GreetReply(
                message=" ".join([f"Hello, {request.name}!"] * max(1, request.times)),
                count=len(request.name),
                tags=list(reversed(request.tags)),
                authorization=str(metadata.get("authorization", "")),
            )
            reply.at.FromSeconds(1_700_000_000)
            return reply

        async def Fail(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(getattr(grpc.StatusCode, request.code), request.message)

        async def Slow(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
            await asyncio.sleep(request.times / 1000)
            return pb2.GreetReply(message="late")

        async def Count(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
            for index in range(request.times):
                yield pb2.GreetReply(count=index)

    return Greeter()


async def start_server(demo: Demo, *, reflecting: bool = True) -> tuple[grpc.aio.Server, str]:
    """The demo service on a free local port (with server reflection unless told not to)."""
    server = grpc.aio.server()
    demo.pb2_grpc.add_GreeterServicer_to_server(_servicer(demo), server)
    if reflecting:
        reflection.enable_server_reflection([SERVICE, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def contract_document(target: str, **api: Any) -> dict[str, Any]:
    """The contract of a service ``greeter`` with capabilities ``greet`` and ``fail``
    (and ``slow``), served by the demo's methods at ``target``; ``api`` keys replace
    the defaults."""
    return {
        "service": {
            "id": "greeter",
            "name": "Greeter over gRPC",
            "version": "1.0.0",
            "capabilities": [{"type": "greet"}, {"type": "fail"}, {"type": "slow"}],
            "guarantees": {"latency": {"property": "p95_latency_ms", "bound": {"max": 2000}}},
            "api": {
                "protocol": "grpc",
                "target": target,
                "methods": [
                    {"capability": "greet", "method": f"{SERVICE}/Greet"},
                    {"capability": "fail", "method": f"{SERVICE}/Fail"},
                    {"capability": "slow", "method": f"{SERVICE}/Slow"},
                ],
                **api,
            },
        }
    }


def write_contract(
    directory: Path, document: dict[str, Any], descriptor_set: Path | None = None
) -> Path:
    """``document`` as ``greeter.yaml`` in ``directory``, with a copy of ``descriptor_set``
    at ``protos/demo.pb`` (the path a contract names it by) when one is given."""
    if descriptor_set is not None:
        (directory / "protos").mkdir(exist_ok=True)
        shutil.copy(descriptor_set, directory / "protos" / "demo.pb")
    path = directory / "greeter.yaml"
    path.write_text(yaml.safe_dump(document))
    return path
