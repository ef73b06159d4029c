"""The CAIO wire protocol: one pydantic model per message (docs/protocol.md).

Requests (``WireBody``) are parsed strictly: known fields type-checked,
unknown ones refused with the field probably meant. Messages peers send
unasked (``PeerBody``: heartbeats, service requests) ignore unknown fields.
Replies and records (``ReplyBody``) are what the server builds and sends;
clients parse them keeping fields a newer server adds. docs/protocol.md's
message tables, docs/asyncapi.yaml and ``schemas/messages/`` are generated
from these models.
"""

from caio_integration.wire._base import (
    EpochSeconds,
    NonNegative,
    PeerBody,
    ReplyBody,
    RequestBody,
    RequestId,
    Token,
    WireBody,
    new_request_id,
    now_ms,
    parse,
    rfc3339_now,
    validation_messages,
)
from caio_integration.wire.audit import AuditKind, AuditOutcome, AuditRecord
from caio_integration.wire.errors import ErrorBody, ErrorReply, error_reply
from caio_integration.wire.headers import AuthorizationHeaders
from caio_integration.wire.keys import (
    ApiKeyInfo,
    KeyCreateReply,
    KeyCreateRequest,
    KeyListReply,
    KeyListRequest,
    KeyPolicy,
    KeyRevokeReply,
    KeyRevokeRequest,
    Role,
    ServiceGlob,
)
from caio_integration.wire.registry import (
    Availability,
    DeregisterReply,
    DiscoveredService,
    DiscoverReply,
    DiscoverRequest,
    GetReply,
    HeartbeatRejection,
    ListReply,
    ListRequest,
    RegisterReply,
    RegisterRequest,
    ServiceIdRequest,
    ServiceStats,
    ServiceSummary,
    StatsReply,
    StatsRequest,
    ValidateReply,
    ValidateRequest,
)
from caio_integration.wire.route import (
    EXCLUSION_CODES,
    Attempt,
    AttemptStatus,
    Candidate,
    DryRunReply,
    ExclusionCode,
    RouteConstraints,
    RouteGuarantees,
    RouteReply,
    RouteRequest,
)
from caio_integration.wire.service import Heartbeat, ServiceReply, ServiceRequest
from caio_integration.wire.stream import StreamChunk, StreamSummary

# The names earlier SDK releases used for some replies.
Registration = RegisterReply
ServiceInfo = GetReply
Discovery = DiscoverReply
Validation = ValidateReply
RouteResult = RouteReply

#: The protocol's version (docs/protocol.md "v1"), independent of the packages'.
PROTOCOL_VERSION = "1"
RouteAttempt = Attempt

__all__ = [
    "EXCLUSION_CODES",
    "PROTOCOL_VERSION",
    "ApiKeyInfo",
    "Attempt",
    "AttemptStatus",
    "AuditKind",
    "AuditOutcome",
    "AuditRecord",
    "AuthorizationHeaders",
    "Availability",
    "Candidate",
    "DeregisterReply",
    "DiscoverReply",
    "DiscoverRequest",
    "DiscoveredService",
    "Discovery",
    "DryRunReply",
    "EpochSeconds",
    "ErrorBody",
    "ErrorReply",
    "ExclusionCode",
    "GetReply",
    "Heartbeat",
    "HeartbeatRejection",
    "KeyCreateReply",
    "KeyCreateRequest",
    "KeyListReply",
    "KeyListRequest",
    "KeyPolicy",
    "KeyRevokeReply",
    "KeyRevokeRequest",
    "ListReply",
    "ListRequest",
    "NonNegative",
    "PeerBody",
    "RegisterReply",
    "RegisterRequest",
    "Registration",
    "ReplyBody",
    "RequestBody",
    "RequestId",
    "Role",
    "RouteAttempt",
    "RouteConstraints",
    "RouteGuarantees",
    "RouteReply",
    "RouteRequest",
    "RouteResult",
    "ServiceGlob",
    "ServiceIdRequest",
    "ServiceInfo",
    "ServiceReply",
    "ServiceRequest",
    "ServiceStats",
    "ServiceSummary",
    "StatsReply",
    "StatsRequest",
    "StreamChunk",
    "StreamSummary",
    "Token",
    "ValidateReply",
    "ValidateRequest",
    "Validation",
    "WireBody",
    "error_reply",
    "new_request_id",
    "now_ms",
    "parse",
    "rfc3339_now",
    "validation_messages",
]
