"""CAIO's gRPC bridge: a contract's unary gRPC methods, served on NATS with no code.

``python -m caio_grpc_bridge CONTRACT.yaml`` (or ``caio bridge grpc``) serves
every capability of a contract whose ``api`` says ``protocol: grpc`` by
calling the gRPC method it names, described by server reflection or a
compiled descriptor set; workers/grpc_bridge/README.md has the details.
"""

from caio_grpc_bridge.descriptors import Method, read_descriptor_set, reflect, resolve
from caio_grpc_bridge.plan import GrpcPlan, MethodRoute, TlsPlan, plan_grpc
from caio_grpc_bridge.service import (
    CredentialError,
    GrpcBridgeService,
    create_host,
    error_for_status,
    read_credential,
    run,
    to_json,
    to_message,
)

__all__ = [
    "CredentialError",
    "GrpcBridgeService",
    "GrpcPlan",
    "Method",
    "MethodRoute",
    "TlsPlan",
    "create_host",
    "error_for_status",
    "plan_grpc",
    "read_credential",
    "read_descriptor_set",
    "reflect",
    "resolve",
    "run",
    "to_json",
    "to_message",
]
