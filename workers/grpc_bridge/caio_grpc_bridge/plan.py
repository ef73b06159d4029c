"""What the gRPC bridge serves: the contract's server, and a unary method per capability.

A contract the bridge can serve says ``api: {protocol: grpc, target,
methods}``: ``target`` is the server (``host:port``), and each entry of
``methods`` names the ``capability`` it serves and the ``method``
(``package.Service/Method``) called for it. The methods' request and
response messages are described by ``descriptor_set`` (a compiled
``protoc --descriptor_set_out`` file, relative to the contract file) or,
without one, asked of the server by gRPC server reflection
(``descriptors``). ``tls`` calls the server over TLS; ``auth`` (the HTTP
bridge's, sent as gRPC metadata) and ``headers`` (static metadata) are
optional.

Everything the contract alone decides is checked here, before anything
connects, and reported together as ``InvalidContract`` lines in the
contract's ``<JSONPath>: <message>`` style.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from caio_integration.contracts.model import GrpcMethod, HttpAuth, ServiceContract
from caio_integration.errors import InvalidContract

__all__ = ["GrpcPlan", "MethodRoute", "TlsPlan", "plan_grpc", "refuse"]

# gRPC metadata keys: lower case ASCII letters, digits, "-", "_", "." (HTTP/2 header names).
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")


@dataclass(frozen=True, slots=True)
class MethodRoute:
    """One capability: the method it calls, as the contract names it and as gRPC calls it."""

    capability: str
    where: str  # the entry's JSONPath in the contract, for messages
    method: str  # "package.Service/Method"

    @property
    def service(self) -> str:
        return self.method.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.method.split("/", 1)[1]

    @property
    def path(self) -> str:
        """The method's path on the wire: ``/package.Service/Method``."""
        return "/" + self.method


@dataclass(frozen=True, slots=True)
class TlsPlan:
    """TLS to the server: a PEM file of root certificates (None: the system's) and a name."""

    ca_file: Path | None
    server_name: str | None


@dataclass(frozen=True, slots=True)
class GrpcPlan:
    """Where the server is, how it is described and reached, and a method per capability."""

    target: str
    descriptor_set: Path | None  # None: server reflection
    tls: TlsPlan | None  # None: plaintext
    auth: HttpAuth | None  # the credential's metadata key and where it is read
    metadata: tuple[tuple[str, str], ...]  # static metadata (api.headers), keys in lower case
    routes: Mapping[str, MethodRoute]  # by capability


def contract_path(path: str, base_dir: Path) -> Path:
    """A file the contract names, relative to ``base_dir`` unless absolute."""
    return base_dir / os.path.expanduser(path)


def plan_grpc(contract: ServiceContract, base_dir: Path) -> GrpcPlan:
    """The plan of ``contract`` (files relative to ``base_dir``); ``InvalidContract`` listing
    every problem the contract alone shows."""
    api = contract.api
    if api is None or api.protocol != "grpc":
        said = "no api section" if api is None else f"api.protocol {api.protocol!r}"
        raise InvalidContract(
            f"the gRPC bridge serves contracts with api.protocol grpc; {contract.id} has {said}",
            details={"errors": [f"$.service.api: protocol grpc is required, found {said}"]},
        )
    errors: list[str] = []
    target = api.target or ""
    if not target:
        errors.append("$.service.api.target: the gRPC server (host:port) is required")
    elif target.lower().startswith(("http://", "https://", "grpc://", "grpcs://")):
        errors.append(
            f"$.service.api.target: {target!r} is a URL; write host:port (TLS is api.tls)"
        )
    descriptor_set = None
    if api.descriptor_set is not None:
        descriptor_set = contract_path(api.descriptor_set, base_dir)
        if not descriptor_set.is_file():
            errors.append(f"$.service.api.descriptor_set: no such file: {descriptor_set}")
    tls = None
    if api.tls is not None:
        ca_file = None
        if api.tls.ca_file is not None:
            ca_file = contract_path(api.tls.ca_file, base_dir)
            if not ca_file.is_file():
                errors.append(f"$.service.api.tls.ca_file: no such file: {ca_file}")
        tls = TlsPlan(ca_file, api.tls.server_name)
    metadata = tuple((name.lower(), value) for name, value in (api.headers or {}).items())
    for name, _ in metadata:
        _check_metadata_key(name, "$.service.api.headers", errors)
    if api.auth is not None:
        _check_metadata_key(api.auth.header.lower(), "$.service.api.auth.header", errors)
    routes = _routes(contract, api.methods or [], errors)
    if errors:
        refuse(contract, errors)
    return GrpcPlan(target, descriptor_set, tls, api.auth, metadata, routes)


def _routes(
    contract: ServiceContract, methods: Sequence[GrpcMethod], errors: list[str]
) -> dict[str, MethodRoute]:
    routes: dict[str, MethodRoute] = {}
    for index, entry in enumerate(methods):
        where = f"$.service.api.methods[{index}]"
        capability, method = entry.capability, entry.method
        if contract.capability(capability) is None:
            errors.append(
                f"{where}.capability: {capability!r} is not a capability of this contract "
                f"({', '.join(contract.capability_names)})"
            )
            continue
        if capability in routes:
            errors.append(
                f"{where}.capability: {capability!r} is served by {routes[capability].where} "
                "already"
            )
            continue
        routes[capability] = MethodRoute(capability, where, method)
    for index, name in enumerate(contract.capability_names):
        if name not in routes:
            errors.append(
                f"$.service.capabilities[{index}].type: no method serves {name!r}; give "
                f"api.methods an entry `{{capability: {name}, method: package.Service/Method}}`"
            )
    return routes


def _check_metadata_key(name: str, where: str, errors: list[str]) -> None:
    if not _METADATA_KEY.fullmatch(name):
        errors.append(f"{where}: {name!r} is not a gRPC metadata key (a-z, 0-9, '-', '_', '.')")
    elif name.endswith("-bin") or name.startswith("grpc-"):
        errors.append(f"{where}: {name!r} is reserved (grpc-*) or binary (*-bin) metadata")


def refuse(contract: ServiceContract, errors: list[str]) -> NoReturn:
    """Raise ``InvalidContract`` for ``contract`` with every line of ``errors``."""
    summary = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
    raise InvalidContract(
        f"the gRPC bridge cannot serve {contract.id}: {summary}", details={"errors": errors}
    )
