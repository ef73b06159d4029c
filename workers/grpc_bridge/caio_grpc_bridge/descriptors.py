"""The methods' request and response messages, from a descriptor set or by server reflection.

Both ways end in the same place: the ``.proto`` files (as
``FileDescriptorProto``) that define the contract's services and their
imports, added to a private ``DescriptorPool`` of the bridge's own, from
which ``message_factory`` builds each method's request and response
classes. Nothing touches protobuf's default pool, so two bridges (or a
bridge and the server, in one process) never clash over a file name.

- ``descriptor_set``: the file ``protoc --descriptor_set_out=F
  --include_imports`` (or grpcio-tools) writes; read when the contract is.
  Imports left out of it are taken from the well-known types protobuf
  ships (``google/protobuf/*.proto``).
- server reflection (``grpc.reflection.v1alpha``, what grpcio-reflection
  and most servers serve): asked once when the bridge starts, on its own
  channel, for the file of each service and, one by one, any import the
  answers did not include.

A method that is not there, or is not unary, stops the start with its
``$.service.api.methods[i].method`` line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.descriptor_pb2 import FileDescriptorProto, FileDescriptorSet
from google.protobuf.message import DecodeError, Message
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from caio_grpc_bridge.plan import MethodRoute
from caio_integration.errors import InvalidContract, ServiceUnavailable

__all__ = [
    "REFLECTION_TIMEOUT_S",
    "Method",
    "read_descriptor_set",
    "reflect",
    "resolve",
]

REFLECTION_TIMEOUT_S = 10.0  # the whole conversation, when the bridge starts
_REFLECTION_SERVICE = "grpc.reflection."


@dataclass(frozen=True, slots=True)
class Method:
    """A unary method the bridge calls: its route and its message classes."""

    route: MethodRoute
    request: type[Message]
    response: type[Message]
    pool: descriptor_pool.DescriptorPool  # for google.protobuf.Any, in JSON

    @property
    def request_type(self) -> str:
        return str(self.request.DESCRIPTOR.full_name)

    @property
    def response_type(self) -> str:
        return str(self.response.DESCRIPTOR.full_name)


def read_descriptor_set(path: Path) -> dict[str, FileDescriptorProto]:
    """The files of a compiled descriptor set, by name; ``InvalidContract`` if it is not one."""
    where = "$.service.api.descriptor_set"
    try:
        found = FileDescriptorSet.FromString(path.read_bytes())
    except DecodeError as exc:
        raise _invalid(
            f"{where}: {path} is not a descriptor set (protoc --descriptor_set_out): {exc}"
        ) from None
    except OSError as exc:
        raise _invalid(f"{where}: {path} cannot be read: {exc.strerror}") from None
    if not found.file:
        raise _invalid(f"{where}: {path} describes no .proto file")
    return {file.name: file for file in found.file}


async def reflect(
    channel: grpc.aio.Channel,
    target: str,
    services: Iterable[str],
    *,
    metadata: tuple[tuple[str, str], ...] = (),
    timeout_s: float = REFLECTION_TIMEOUT_S,
) -> tuple[dict[str, FileDescriptorProto], list[str]]:
    """The files defining ``services`` (and their imports) as the server at ``target``
    describes them by reflection, and the names of every service it serves.

    Raises ``InvalidContract`` when the server does not serve reflection and
    ``ServiceUnavailable`` when it cannot be reached.
    """
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(timeout=timeout_s, metadata=metadata)
    files: dict[str, FileDescriptorProto] = {}
    try:
        listed = await _ask(call, reflection_pb2.ServerReflectionRequest(list_services=""))
        served = [s.name for s in listed.list_services_response.service]
        for service in services:
            if service not in served:
                continue
            answer = await _ask(
                call, reflection_pb2.ServerReflectionRequest(file_containing_symbol=service)
            )
            _add_files(files, answer)
        missing = _missing_imports(files)
        while missing:
            name = missing.pop()
            answer = await _ask(call, reflection_pb2.ServerReflectionRequest(file_by_filename=name))
            if answer.HasField("error_response"):  # not served: maybe a well-known type
                files.setdefault(name, FileDescriptorProto(name=""))
            else:
                _add_files(files, answer)
            missing = _missing_imports(files)
        await call.done_writing()
    except grpc.aio.AioRpcError as exc:
        call.cancel()
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            raise _invalid(
                f"$.service.api: the gRPC server at {target} does not serve reflection; give "
                "api.descriptor_set (protoc --descriptor_set_out --include_imports)"
            ) from None
        raise ServiceUnavailable(
            f"the gRPC server at {target} did not answer reflection: "
            f"{exc.code().name} {(exc.details() or '')[:200]}",
            details={"reason": "reflection_failed", "grpc_status": exc.code().name},
        ) from None
    real = {name: file for name, file in files.items() if file.name}
    return real, [name for name in served if not name.startswith(_REFLECTION_SERVICE)]


async def _ask(call: Any, request: reflection_pb2.ServerReflectionRequest) -> Any:
    await call.write(request)
    answer = await call.read()
    if answer is grpc.aio.EOF:
        raise ServiceUnavailable(
            "the gRPC server ended the reflection stream", details={"reason": "reflection_failed"}
        )
    return answer


def _add_files(files: dict[str, FileDescriptorProto], answer: Any) -> None:
    for serialized in answer.file_descriptor_response.file_descriptor_proto:
        file = FileDescriptorProto.FromString(serialized)
        files[file.name] = file


def _missing_imports(files: Mapping[str, FileDescriptorProto]) -> set[str]:
    wanted = {dep for file in files.values() for dep in file.dependency}
    return wanted - set(files)


def resolve(
    routes: Iterable[MethodRoute],
    files: Mapping[str, FileDescriptorProto],
    *,
    served: Iterable[str] | None = None,
    source: str,
) -> tuple[dict[str, Method], list[str]]:
    """Each route's ``Method`` built from ``files``, and a contract error line for each
    route that names a service or method that is not there, or is not unary.

    ``served`` lists the services there are (default: those ``files`` define);
    ``source`` says where the description came from, for the messages.
    """
    errors: list[str] = []
    pool = _pool(files, errors)
    if served is None:
        served = [
            f"{file.package}.{service.name}" if file.package else service.name
            for file in files.values()
            for service in file.service
        ]
    served = sorted(served)
    methods: dict[str, Method] = {}
    for route in routes:
        where = f"{route.where}.method"
        try:
            service = pool.FindServiceByName(route.service)
        except KeyError:
            there = ", ".join(served) or "none"
            errors.append(f"{where}: {source} has no service {route.service!r} (services: {there})")
            continue
        found: MethodDescriptor | None = service.methods_by_name.get(route.name)
        if found is None:
            there = ", ".join(sorted(service.methods_by_name)) or "none"
            errors.append(
                f"{where}: {route.service} has no method {route.name!r} (its methods: {there})"
            )
            continue
        kind = _streaming(found)
        if kind:
            errors.append(
                f"{where}: {route.method} is {kind}; the gRPC bridge calls unary methods only"
            )
            continue
        methods[route.capability] = Method(
            route,
            message_factory.GetMessageClass(found.input_type),
            message_factory.GetMessageClass(found.output_type),
            pool,
        )
    return methods, errors


def _streaming(method: MethodDescriptor) -> str:
    client, server = bool(method.client_streaming), bool(method.server_streaming)
    if client and server:
        return "bidirectional streaming"
    if client:
        return "client-streaming"
    return "server-streaming" if server else ""


def _pool(
    files: Mapping[str, FileDescriptorProto], errors: list[str]
) -> descriptor_pool.DescriptorPool:
    """A pool of ``files``, each added after its imports; an import no file gives is taken
    from protobuf's own well-known types, or reported."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str, importer: str | None) -> None:
        if name in added:
            return
        added.add(name)  # before its imports: a cycle ends here (protoc refuses those anyway)
        file = files.get(name)
        if file is None:
            file = FileDescriptorProto()
            try:
                descriptor_pool.Default().FindFileByName(name).CopyToProto(file)
            except KeyError:
                errors.append(
                    f"$.service.api: {importer} imports {name}, which the description lacks "
                    "(compile the descriptor set with --include_imports)"
                )
                return
        for dependency in file.dependency:
            add(dependency, name)
        try:
            pool.AddSerializedFile(file.SerializeToString())
        except (TypeError, ValueError) as exc:
            errors.append(f"$.service.api: {name} cannot be loaded: {str(exc)[:200]}")

    for name in files:
        add(name, None)
    return pool


def _invalid(line: str) -> InvalidContract:
    return InvalidContract(line.split(": ", 1)[1], details={"errors": [line]})
