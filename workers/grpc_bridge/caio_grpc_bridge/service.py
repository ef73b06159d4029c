"""``GrpcBridgeService``: a contract whose ``api`` names a gRPC server, served with no code.

::

    python -m caio_grpc_bridge contracts/my-grpc.yaml --nats-url nats://127.0.0.1:4222

or, in Python, ``await run("my-grpc.yaml", HostConfig(...))``. The service is
an ``AIUCPService`` on the SDK's host, so registration, heartbeats,
deadlines, concurrency and error replies are the host's; the bridge turns a
request's context into the method's request message (proto3 JSON, with
``json_format.ParseDict``), calls the unary method the contract gives its
capability, and returns the response message as JSON (``MessageToDict``).

One ``grpc.aio`` channel is opened in ``setup`` and shared by every call.
Each call's gRPC deadline is the request's own (``deadline_ms``, less a
margin to send the reply). A gRPC status becomes the CAIO code the router
acts on (``error_for_status``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from caio_grpc_bridge.descriptors import Method, read_descriptor_set, reflect, resolve
from caio_grpc_bridge.plan import GrpcPlan, plan_grpc, refuse
from caio_integration._log import get_logger
from caio_integration.contracts.model import HttpAuth
from caio_integration.errors import (
    CAIOError,
    InvalidContract,
    InvalidRequest,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    Timeout,
)
from caio_integration.host import HostConfig, ServiceHost
from caio_integration.service import AIUCPService, WorkResult, current_context

__all__ = [
    "CredentialError",
    "GrpcBridgeService",
    "create_host",
    "error_for_status",
    "read_credential",
    "run",
    "to_json",
    "to_message",
]

DEFAULT_TIMEOUT_S = 60.0  # a request without a deadline (a direct one, say)
REPLY_MARGIN_S = 0.05  # to send the reply before the deadline passes
MAX_MESSAGE_CHARS = 300  # a server's status message, as forwarded
# Statuses the server's own trouble gives: the same call (or another service) may succeed.
_SERVER_TROUBLE = frozenset(
    {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED}
)
_NO_FIELD = re.compile(r'has no field named "([^"]+)"')
_BAD_FIELD = re.compile(r"Failed to parse (\S+) field")


class CredentialError(ValueError):
    """The credential the contract's ``auth`` names cannot be read; says where, never what."""


class GrpcBridgeService(AIUCPService):
    """Serves each capability of a contract by calling the unary gRPC method its ``api`` names."""

    def __init__(self, *, base_dir: str | os.PathLike[str] | None = None) -> None:
        """``base_dir`` resolves the contract's files for a contract assigned in code
        (``initialize`` uses the contract file's directory)."""
        self._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self._plan: GrpcPlan | None = None
        self._methods: dict[str, Method] = {}
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[str, grpc.aio.UnaryUnaryMultiCallable[Message, Message]] = {}
        self._metadata: tuple[tuple[str, str], ...] = ()
        self._secret = ""
        self._log = get_logger("caio.grpc_bridge")

    # -- the contract ------------------------------------------------------------

    def initialize(self, contract_path: str | os.PathLike[str]) -> None:
        """Load the contract and check it (with a descriptor set: resolve every method now);
        raises ``InvalidContract`` with every problem."""
        super().initialize(contract_path)
        self._base_dir = Path(contract_path).resolve().parent
        self._plan = None
        plan = self.plan()
        if plan.descriptor_set is not None:
            self._methods = self._resolve(read_descriptor_set(plan.descriptor_set), None)

    def plan(self) -> GrpcPlan:
        """The server and methods of ``self.contract`` (checked on first use)."""
        if self._plan is None:
            self._plan = plan_grpc(self.contract, self._base_dir)
        return self._plan

    def implements(self, capability: str) -> bool:
        return capability in self.plan().routes

    def methods(self) -> Mapping[str, Method]:
        """Each capability's method, once resolved (``initialize`` or ``setup``)."""
        return self._methods

    def _resolve(self, files: Mapping[str, Any], served: list[str] | None) -> dict[str, Method]:
        plan = self.plan()
        source = (
            f"the descriptor set {plan.descriptor_set}"
            if served is None
            else f"the gRPC server at {plan.target}"
        )
        try:
            methods, errors = resolve(plan.routes.values(), files, served=served, source=source)
        except InvalidContract as exc:
            refuse(self.contract, list(exc.details.get("errors", [exc.message])))
        if errors:
            refuse(self.contract, errors)
        return methods

    # -- lifecycle ---------------------------------------------------------------

    async def setup(self) -> None:
        plan = self.plan()
        self._log = get_logger("caio.grpc_bridge", service_id=self.contract.id)
        metadata = list(plan.metadata)
        if plan.auth is not None:
            credential = read_credential(plan.auth, self._base_dir)
            self._secret = credential
            value = f"{plan.auth.scheme} {credential}" if plan.auth.scheme else credential
            metadata.append((plan.auth.header.lower(), value))
        self._metadata = tuple(metadata)
        self._channel = _channel(plan)
        if plan.descriptor_set is None:
            services = {route.service for route in plan.routes.values()}
            try:
                files, served = await reflect(
                    self._channel, plan.target, services, metadata=self._metadata
                )
            except InvalidContract as exc:
                refuse(self.contract, list(exc.details.get("errors", [exc.message])))
            self._methods = self._resolve(files, served)
        self._calls = {
            capability: self._channel.unary_unary(
                method.route.path,
                request_serializer=_serialize,
                response_deserializer=method.response.FromString,
            )
            for capability, method in self._methods.items()
        }
        self._log.info(
            "grpc_bridge_ready",
            target=plan.target,
            described_by=str(plan.descriptor_set) if plan.descriptor_set else "reflection",
            tls=plan.tls is not None,
            methods={c: m.route.method for c, m in self._methods.items()},
        )

    async def teardown(self) -> None:
        channel, self._channel = self._channel, None
        self._calls = {}
        if channel is not None:  # the host answered every request before this
            await channel.close()

    # -- the work ----------------------------------------------------------------

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> WorkResult:
        context = context if context is not None else dict(current_context() or {})
        method = self._method(context)
        call = self._calls.get(method.route.capability)
        if call is None:
            raise ServiceUnavailable(
                "the gRPC bridge is not started", details={"reason": "not_started"}
            )
        message = to_message(method, request)
        timeout = _timeout_s(context.get("deadline_ms"))
        if timeout <= 0:
            raise Timeout(
                "the request's deadline passed before the call", details={"reason": "deadline"}
            )
        try:
            response = await call(message, timeout=timeout, metadata=self._metadata or None)
        except grpc.aio.AioRpcError as exc:
            error = error_for_status(exc.code(), exc.details() or "", method, self._secret)
            if not isinstance(error, InvalidRequest):
                self._log.warning(
                    "grpc_call_failed", method=method.route.method, status=exc.code().name
                )
            raise error from None
        return WorkResult(to_json(method, response))

    def get_health_status(self) -> dict[str, Any]:
        status = "healthy" if self._channel is not None else "unhealthy"
        return {"status": status, "target": self.plan().target}

    def _method(self, context: Mapping[str, Any]) -> Method:
        capability = context.get("capability")
        method = self._methods.get(capability) if isinstance(capability, str) else None
        if method is None:  # the host only calls execute for implemented capabilities
            raise ServiceUnavailable(
                f"no gRPC method for capability {capability!r}", details={"reason": "no_method"}
            )
        return method


def to_message(method: Method, request: Mapping[str, Any]) -> Message:
    """The method's request message from a route's context (proto3 JSON: field names as in
    the .proto or in lowerCamelCase); ``InvalidRequest`` naming the field that does not fit."""
    message = method.request()
    try:
        json_format.ParseDict(dict(request), message, descriptor_pool=method.pool)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        text = " ".join(str(exc).split())[:MAX_MESSAGE_CHARS]
        details: dict[str, Any] = {
            "reason": "invalid_input",
            "message_type": method.request_type,
            "method": method.route.method,
        }
        field = _NO_FIELD.search(text) or _BAD_FIELD.search(text)
        if field is not None:
            details["field"] = field.group(1)
        raise InvalidRequest(
            f"the context does not fit {method.request_type}, the request of "
            f"{method.route.method}: {text}",
            details=details,
        ) from None
    return message


def to_json(method: Method, response: Message) -> dict[str, Any]:
    """The response message as proto3 JSON, under the .proto's field names, with every field
    (a field left at its default too); a message whose JSON is not an object (a
    well-known type such as a Timestamp) under ``value``."""
    value = json_format.MessageToDict(
        response,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        descriptor_pool=method.pool,
    )
    return value if isinstance(value, dict) else {"value": value}


def error_for_status(
    code: grpc.StatusCode, message: str, method: Method, secret: str = ""
) -> CAIOError:
    """The CAIO error for a gRPC status: who can fix it decides the code.

    ``INVALID_ARGUMENT`` -> ``invalid_request``; ``UNAVAILABLE`` ->
    ``service_unavailable``; ``DEADLINE_EXCEEDED`` -> ``timeout``;
    ``RESOURCE_EXHAUSTED`` -> ``rate_limited``; anything else ->
    ``service_error`` (retryable for ``UNKNOWN``, ``INTERNAL``, ``ABORTED``).
    The server's message is forwarded without the credential, on one line, bounded.
    """
    if secret:
        message = message.replace(secret, "***")
    text = " ".join(message.split())[:MAX_MESSAGE_CHARS]
    said = f"{method.route.method} answered {code.name}" + (f": {text}" if text else "")
    details = {"reason": "grpc_status", "grpc_status": code.name, "method": method.route.method}
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequest(said, details=details)
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServiceUnavailable(said, details=details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Timeout(said, details=details)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return RateLimited(said, details=details)
    return ServiceError(said, details=details, retryable=code in _SERVER_TROUBLE)


def read_credential(auth: HttpAuth, base_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """The credential ``auth`` names: an environment variable, or a file (relative to
    ``base_dir``, its trailing newline dropped). Raises ``CredentialError`` saying where."""
    if auth.env is not None:
        secret = (os.environ if env is None else env).get(auth.env, "")
        if not secret:
            raise CredentialError(f"the environment variable {auth.env} is not set or empty")
        source = f"env {auth.env}"
    else:
        assert auth.file is not None  # HttpAuth holds exactly one of env and file
        path = (base_dir / Path(auth.file).expanduser()).resolve()
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise CredentialError(f"the credential file {path} cannot be read") from None
        if not secret:
            raise CredentialError(f"the credential file {path} is empty")
        source = f"file {path}"
    if any(c in secret for c in "\r\n\x00"):
        raise CredentialError(f"the credential from {source} spans lines or holds NUL")
    return secret


def _channel(plan: GrpcPlan) -> grpc.aio.Channel:
    if plan.tls is None:
        return grpc.aio.insecure_channel(plan.target)
    roots = plan.tls.ca_file.read_bytes() if plan.tls.ca_file is not None else None
    options = []
    if plan.tls.server_name is not None:
        options.append(("grpc.ssl_target_name_override", plan.tls.server_name))
    credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    return grpc.aio.secure_channel(plan.target, credentials, options=options)


def _serialize(message: Message) -> bytes:
    data: bytes = message.SerializeToString()
    return data


def _timeout_s(deadline_ms: object) -> float:
    """Seconds the call may take: until the request's deadline, less the reply's margin."""
    if not isinstance(deadline_ms, int | float) or isinstance(deadline_ms, bool):
        return DEFAULT_TIMEOUT_S
    left = deadline_ms / 1000 - time.time()
    return left - REPLY_MARGIN_S if left > 2 * REPLY_MARGIN_S else left / 2


def create_host(
    contract_path: str | os.PathLike[str], config: HostConfig | None = None
) -> ServiceHost:
    """A host serving ``contract_path`` through the bridge (checked, not started: with
    reflection, the methods are found when it starts)."""
    service = GrpcBridgeService()
    service.initialize(contract_path)
    return ServiceHost(service, config if config is not None else HostConfig.from_env())


async def run(contract_path: str | os.PathLike[str], config: HostConfig | None = None) -> None:
    """Serve ``contract_path`` until SIGTERM/SIGINT (``caio bridge grpc CONTRACT``)."""
    await create_host(contract_path, config).run()
